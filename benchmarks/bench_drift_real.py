"""Drift engine on real data: Lending Club rows resampled to 200k and 1M per window, nine shifts.

The scenarios are benchmarks/lending_drift.py's: the model's 22 features (17 numeric, 5
categorical) drawn with replacement from the shipped loans, nine of them shifted in the current
window (mean, scale, variance, heavy tail, missing-value surge, unseen category, two categorical
mixes, count shift). Prints (never asserts), with the load average beside the figures:

- per size, the drift step's wall and CPU time (median, baseline prepared ahead), on all cores
  and on one; a plain scipy per-column implementation measured in the same run and the ratio;
  Evidently 0.7.23's data-drift preset when its venv exists (`make evidently-venv`) and the ratio;
- each engine's verdicts: the nine shifted features found, no false alarm; and that every
  feature's verdict is the one scipy's own p-values (ks_2samp, chi2_contingency) give under the
  same rule;
- peak working memory (tracemalloc) against the window's numeric data as int64 (read_csv's
  dtype), int32 and float32;
- growth: the step at 100k, 200k, 1M and 5M window rows against a 1M reference (cost per row),
  and the 5M window read from CSV in chunks in a fresh process (peak memory).

    .venv/bin/python benchmarks/bench_drift_real.py [--repeat 3] [--skip-scipy] [--skip-5m]
        [--evidently-venv .venv-evidently] [--evidently-1m]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lending_drift as scenario

from finmlops.config import DriftThresholds
from finmlops.monitoring import (
    ModelIdentity,
    build_baseline,
    load_baseline,
    run_drift,
    save_baseline,
)
from finmlops.monitoring.baseline import Baseline
from finmlops.monitoring.drift import DriftReport
from finmlops.monitoring.readers import csv_chunks

ROOT = Path(__file__).resolve().parent.parent
DRIFT_SHARE = 0.3


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, list[float], Any]:
    """Median wall and median CPU seconds (all threads) of `repeat` runs, the runs, a result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), statistics.median(cpus), walls, result


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def baseline_of(reference: pd.DataFrame) -> Baseline:
    numeric, categorical = scenario.features()
    return build_baseline(
        reference, numeric, categorical, identity=ModelIdentity("lending-club", "bench")
    ).prepare()


def plain_scipy(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """Each feature's p-value by scipy's own functions, column by column (the straightforward
    implementation: ks_2samp on the finite values, chi2_contingency on the category counts)."""
    numeric, categorical = scenario.features()
    out: dict[str, float] = {}
    for name in numeric:
        r = pd.to_numeric(reference[name], errors="coerce").to_numpy(dtype=float)
        c = pd.to_numeric(current[name], errors="coerce").to_numpy(dtype=float)
        r, c = r[np.isfinite(r)], c[np.isfinite(c)]
        out[name] = float(stats.ks_2samp(r, c).pvalue)
    for name in categorical:
        both = pd.concat([reference[name].astype(object), current[name].astype(object)])
        codes, uniques = pd.factorize(both)
        rc = np.bincount(
            codes[: len(reference)][codes[: len(reference)] >= 0], minlength=len(uniques)
        )
        cc = np.bincount(
            codes[len(reference) :][codes[len(reference) :] >= 0], minlength=len(uniques)
        )
        out[name] = float(stats.chi2_contingency(np.vstack([rc, cc]), correction=False).pvalue)
    return out


def scipy_verdicts(report: DriftReport, p_values: dict[str, float]) -> dict[str, bool]:
    """The engine's rule with scipy's p-values in place of the engine's: BH over the window's
    features, significant at `ks_p_value`, drifted when a data rule fires or a material test
    fires and the shift is significant."""
    names = [f.name for f in report.features]
    adjusted = stats.false_discovery_control([p_values[n] for n in names], method="bh")
    alpha = DriftThresholds().ks_p_value
    out = {}
    for feature, p in zip(report.features, adjusted, strict=True):
        rules = any(
            t.triggered
            for t in feature.tests
            if t.name in {"missing_share_increase", "unseen_share", "type_violation_share"}
        )
        material = any(
            t.triggered for t in feature.tests if t.name in {"psi", "wasserstein", "jensen_shannon"}
        )
        out[feature.name] = rules or (material and p <= alpha)
    return out


def verdict_line(label: str, drifted: set[str], features: list[str]) -> str:
    shifted = set(scenario.SHIFTS)
    found = sorted(shifted & drifted)
    missed = sorted(shifted - drifted)
    false = sorted(drifted - shifted)
    ok = "all nine found, no false alarm" if not missed and not false else "NOT clean"
    return (
        f"  {label}: {len(found)}/9 shifted features found, missed {missed or 'none'}, "
        f"false alarms {false or 'none'} of {len(features) - len(shifted)} unshifted: {ok}"
    )


def evidently(venv: Path, reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any] | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    numeric, categorical = scenario.features()
    with tempfile.TemporaryDirectory(prefix="finmlops-bench-") as tmp:
        folder = Path(tmp)
        reference.to_parquet(folder / "reference.parquet")
        current.to_parquet(folder / "current.parquet")
        spec = {"numeric": numeric, "categorical": categorical, "drift_share": DRIFT_SHARE}
        (folder / "spec.json").write_text(json.dumps(spec))
        done = subprocess.run(
            [
                str(python),
                str(ROOT / "benchmarks" / "evidently_drift.py"),
                str(folder / "reference.parquet"),
                str(folder / "current.parquet"),
                str(folder / "spec.json"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode:
        print(f"  Evidently failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def real_case(rows: int, args: argparse.Namespace, source: pd.DataFrame) -> None:
    numeric, categorical = scenario.features()
    features = [*numeric, *categorical]
    print(f"\n## real data, {rows:,} reference + {rows:,} current rows x {len(features)} features")
    reference = scenario.window(source, rows, seed=1, shifted=False)
    current = scenario.window(source, rows, seed=2, shifted=True)
    start = time.perf_counter()
    baseline = baseline_of(reference)
    print(f"baseline prepared ahead (not in the timings): {time.perf_counter() - start:.2f} s")
    run_drift(baseline, current.iloc[:1000])  # imports, thread-pool warm-up
    print(f"before the timed runs: {load()}")
    wall, cpu, runs, report = timed(lambda: run_drift(baseline, current), args.repeat)
    wall1, cpu1, runs1, _ = timed(lambda: run_drift(baseline, current, threads=1), args.repeat)
    rows_out = [
        (f"engine, exact, {os.cpu_count()} threads", wall, cpu, runs),
        ("engine, exact, 1 thread", wall1, cpu1, runs1),
    ]
    naive: dict[str, float] | None = None
    if not args.skip_scipy:
        s_wall, s_cpu, s_runs, naive = timed(lambda: plain_scipy(reference, current), 1)
        rows_out.append(
            ("plain scipy per column (ks_2samp, chi2_contingency)", s_wall, s_cpu, s_runs)
        )
    ev = None
    if rows <= 200_000 or args.evidently_1m:
        ev = evidently(args.evidently_venv, reference, current)
        if ev is not None:
            rows_out.append(
                ("Evidently 0.7.23 DataDriftPreset", ev["wall_s"], ev["cpu_s"], [ev["wall_s"]])
            )
    print(f"after the timed runs: {load()}")
    print(
        "\n| implementation | median wall s | runs (wall s) | median CPU s | x engine (wall) "
        "| x engine (CPU) |"
    )
    print("|---|---|---|---|---|---|")
    for label, w, c, r in rows_out:
        shown = ", ".join(f"{x:.3f}" for x in r)
        print(f"| {label} | {w:.3f} | {shown} | {c:.3f} | {w / wall:,.1f}x | {c / cpu:,.1f}x |")
    if naive is not None:
        per_column = (rows_out[2][1]) / len(features)
        print(
            f"plain scipy: {per_column:.3f} s per column on average, "
            f"{rows_out[2][1] / wall:,.0f}x the engine's whole step"
        )
    if ev is None and (rows <= 200_000 or args.evidently_1m):
        print(f"Evidently: not measured ({args.evidently_venv} missing: `make evidently-venv`)")
    target = 1.0 if rows >= 1_000_000 else None
    if target is not None:
        met = "met" if wall <= target else "NOT met"
        print(f"target drift step <= {target} s at {rows:,} rows: {met} ({wall:.3f} s median)")
    if ev is not None:
        ratio = ev["wall_s"] / wall
        cpu_ratio = ev["cpu_s"] / cpu
        met = "met" if min(ratio, cpu_ratio) >= 50 else "NOT met"
        print(
            f"target >= 50x faster than Evidently: {met} ({ratio:,.0f}x wall, "
            f"{cpu_ratio:,.0f}x CPU)"
        )

    print("\nverdicts:")
    engine = {f.name for f in report.features if f.drifted}
    print(verdict_line("engine", engine, features))
    for f in report.features:
        if f.name in scenario.SHIFTS:
            kind = scenario.SHIFTS[f.name][0]
            print(f"    {f.name:22s} {kind:40s} -> {f.status} ({(f.decided_by or {}).get('test')})")
    if ev is not None:
        print(verdict_line("Evidently", set(ev["drifted"]), features))
    if naive is not None:
        verdicts = scipy_verdicts(report, naive)
        differ = sorted(n for n, d in verdicts.items() if d != (n in engine))
        worst = max(
            abs(
                f.test("ks" if f.kind == "numeric" else "chi_square").details["p_value"]
                - naive[f.name]
            )
            for f in report.features
        )
        print(
            f"  engine vs scipy's p-values under the same rule: verdicts differ on "
            f"{differ or 'no feature'}; max |p_engine - p_scipy| {worst:.1e}"
        )


def memory_case(baseline: Baseline, current: pd.DataFrame) -> None:
    numeric, _ = scenario.features()
    print("\n## peak working memory of the 1M-row step (tracemalloc, beyond the loaded frame)")
    integers = [n for n in numeric if current[n].dtype.kind == "i"]
    cases = {
        "as read_csv gives them (int64, float64)": current,
        "integers as int32": current.astype(dict.fromkeys(integers, "int32")),
        "every numeric as float32": current.astype(dict.fromkeys(numeric, "float32")),
    }
    print("| numeric dtypes | window's numeric data MiB | peak MiB | peak / numeric data |")
    print("|---|---|---|---|")
    for label, frame in cases.items():
        data = sum(frame[n].to_numpy().nbytes for n in numeric)
        tracemalloc.start()
        run_drift(baseline, frame)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"| {label} | {data / 2**20:.0f} | {peak / 2**20:.0f} | {peak / data:.2f}x |")


def growth(args: argparse.Namespace, source: pd.DataFrame) -> None:
    print("\n## growth: 1M-row reference, current windows of 100k to 5M rows")
    reference = scenario.window(source, 1_000_000, seed=1, shifted=False)
    baseline = baseline_of(reference)
    run_drift(baseline, reference.iloc[:1000])
    sizes = [100_000, 200_000, 1_000_000] + ([] if args.skip_5m else [5_000_000])
    print(f"before the timed runs: {load()}")
    print(
        "| window rows | median wall s | median CPU s | wall ns per row | CPU ns per row "
        "| drifted (of 9) |"
    )
    print("|---|---|---|---|---|---|")
    last = None
    for rows in sizes:
        current = scenario.window(source, rows, seed=2, shifted=True)
        wall, cpu, _, report = timed(lambda c=current: run_drift(baseline, c), args.repeat)
        found = len({f.name for f in report.features if f.drifted} & set(scenario.SHIFTS))
        print(
            f"| {rows:,} | {wall:.3f} | {cpu:.3f} | {wall / rows * 1e9:.0f} "
            f"| {cpu / rows * 1e9:.0f} | {found} |"
        )
        last = current
    print(f"after the timed runs: {load()}")
    memory_case(baseline, scenario.window(source, 1_000_000, seed=2, shifted=True))
    if args.skip_5m or last is None:
        return
    with tempfile.TemporaryDirectory(prefix="finmlops-bench-") as tmp:
        folder = Path(tmp)
        csv = folder / "window.csv"
        import pyarrow as pa
        import pyarrow.csv as pacsv

        pacsv.write_csv(pa.Table.from_pandas(last, preserve_index=False), csv)
        del last
        save_baseline(baseline, folder / "baseline")
        print(
            f"\n## 5M-row window from CSV ({csv.stat().st_size / 2**20:,.0f} MiB), read in chunks of "
            "100,000 rows, in a fresh process"
        )
        for mode in ("exact", "binned"):
            done = subprocess.run(
                [sys.executable, __file__, "--csv-child", str(folder), "--mode", mode],
                capture_output=True,
                text=True,
                check=False,
            )
            print(done.stdout.rstrip() or done.stderr.strip().splitlines()[-1])


def high_water_mib() -> float:
    """This process's peak resident memory (VmHWM): unlike getrusage's ru_maxrss, it does not
    carry the parent's peak across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def csv_child(folder: Path, mode: str) -> None:
    """Read the CSV window in chunks and run the drift step; print its time and peak memory."""
    numeric, _ = scenario.features()
    baseline = load_baseline(folder / "baseline").prepare()
    rss_before = high_water_mib()
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    report = run_drift(baseline, csv_chunks([folder / "window.csv"]), mode=mode)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = high_water_mib()
    rows = report.window["rows"]
    numeric_bytes = rows * len(numeric) * 8
    found = len({f.name for f in report.features if f.drifted} & set(scenario.SHIFTS))
    print(
        f"  {mode}: {rows:,} rows read and judged in {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({load()}); drifted {found}/9; peak traced memory {peak / 2**20:,.0f} MiB = "
        f"{peak / numeric_bytes:.2f}x the window's numeric data as int64/float64 "
        f"({numeric_bytes / 2**20:,.0f} MiB); process peak RSS {rss:,.0f} MiB "
        f"({rss_before:,.0f} MiB before reading: interpreter, libraries, baseline)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-scipy", action="store_true")
    parser.add_argument("--skip-5m", action="store_true")
    parser.add_argument("--evidently-venv", type=Path, default=ROOT / ".venv-evidently")
    parser.add_argument("--evidently-1m", action="store_true", help="also run Evidently at 1M")
    parser.add_argument("--csv-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="exact", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.csv_child:
        csv_child(args.csv_child, args.mode)
        return
    source = scenario.source()
    print(
        f"real-data drift benchmark: {len(source):,} Lending Club loans resampled; shifted: "
        + ", ".join(f"{n} ({k})" for n, (k, _) in scenario.SHIFTS.items())
    )
    for rows in (200_000, 1_000_000):
        real_case(rows, args, source)
    growth(args, source)


if __name__ == "__main__":
    main()
