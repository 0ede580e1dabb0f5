"""Start-up of the step and job processes: importing each entry module in a fresh interpreter.

The offline pipeline and the monitoring jobs run each step as a process of its own
(`python -m <module>`), which spends most of its time importing. Each row is a fresh process
(best of N): the wall time of the whole process and the import measured inside it, against
`python -c pass` measured in the same run. The last rows are what the commands import when they
run, not at start-up: the drift engine (drift and merge jobs), the gates (Evidence, Track) and
MLflow's client (Track).

    .venv/bin/python benchmarks/bench_step_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import importlib, json, sys, time
started = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({"import": time.perf_counter() - started}))
"""

ENTRY = {
    "Baseline step": ["finmlops.monitoring.baseline_step"],
    "monitoring job (entry)": ["finmlops.monitoring.entrypoint"],
    "Evidence step": ["finmlops.governance.evidence_step"],
    "Track step": ["finmlops.tracking.track_step"],
}
AT_RUN = {
    "drift engine + scipy.stats (drift, merge)": [
        "finmlops.monitoring.drift",
        "finmlops.monitoring.report",
        "scipy.stats",
    ],
    "gates (Evidence, Track)": ["finmlops.gates"],
    "MLflow client (Track)": ["mlflow.tracking"],
}


def run_once(modules: list[str]) -> tuple[float, float]:
    """(wall seconds of the process, import seconds inside it)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *modules] if modules else [sys.executable, "-c", "pass"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"importing {modules} failed:\n{result.stderr.strip()}")
    inside = json.loads(result.stdout.splitlines()[-1])["import"] if modules else 0.0
    return wall, inside


def best(modules: list[str], runs: int) -> tuple[float, float]:
    results = [run_once(modules) for _ in range(runs)]
    return min(w for w, _ in results), min(i for _, i in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"step start-up: fresh process per run, best of {args.runs}, {os.cpu_count()} cores, "
        f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}"
    )
    empty, _ = best([], args.runs)
    print(f"\n{'python -c pass':44} wall {empty:6.3f} s")
    for title, rows in (("entry modules", ENTRY), ("imported when the command runs", AT_RUN)):
        print(f"\n{title}:")
        for label, modules in rows.items():
            wall, inside = best(modules, args.runs)
            print(
                f"  {label:42} wall {wall:6.3f} s  import {inside:6.3f} s  "
                f"{wall / empty:6.1f}x python -c pass"
            )


if __name__ == "__main__":
    main()
