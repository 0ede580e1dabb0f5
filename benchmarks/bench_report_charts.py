"""The chart library of the reports, measured (ADR 0031): matplotlib, and Altair + vl-convert when
an interpreter that has them is named.

For each library, in fresh processes: the import time, the time to draw one ROC curve of 200
points to SVG (median of 20 after one warm-up), the SVG's size, whether two processes write the
same bytes, and whether the SVG holds a <script>. Then, with the project's own renderer, the time
and size of the whole validation report on the shipped data (one local build).

    python benchmarks/bench_report_charts.py [--altair-python PATH]

Altair is not a project dependency: to compare, make a scratch venv with
`pip install altair==6.3.0 vl-convert-python==1.9.0.post1 pandas` and pass its python.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MATPLOTLIB = r"""
import io, json, statistics, sys, time
t0 = time.perf_counter()
import matplotlib
from matplotlib.figure import Figure
imported = time.perf_counter() - t0
rc = {"svg.hashsalt": "bench", "svg.fonttype": "none", "path.simplify": False}
xs = [i / 199 for i in range(200)]
ys = [x ** 0.5 for x in xs]
def draw():
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(3.9, 3.1), dpi=72, layout="constrained")
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], ls="--"); ax.plot(xs, ys)
        ax.set(title="ROC curve (AUC 0.712)", xlabel="false positive rate", ylabel="true positive rate")
        out = io.StringIO(); fig.savefig(out, format="svg", metadata={"Date": None})
        return out.getvalue()
draw(); times = []
for _ in range(20):
    t = time.perf_counter(); svg = draw(); times.append(time.perf_counter() - t)
print(json.dumps({"import_s": imported, "render_ms": 1000 * statistics.median(times), "svg": svg}))
"""

ALTAIR = r"""
import json, statistics, time
t0 = time.perf_counter()
import altair as alt, vl_convert as vlc
imported = time.perf_counter() - t0
xs = [i / 199 for i in range(200)]
rows = [{"fpr": x, "tpr": x ** 0.5} for x in xs]
def draw():
    chart = alt.Chart(alt.Data(values=rows)).mark_line().encode(x="fpr:Q", y="tpr:Q").properties(
        width=280, height=220, title="ROC curve (AUC 0.712)")
    return vlc.vegalite_to_svg(chart.to_dict())
draw(); times = []
for _ in range(20):
    t = time.perf_counter(); svg = draw(); times.append(time.perf_counter() - t)
print(json.dumps({"import_s": imported, "render_ms": 1000 * statistics.median(times), "svg": svg}))
"""


def measure(python: str, code: str) -> dict[str, object]:
    runs = [json.loads(subprocess.run([python, "-c", code], check=True, capture_output=True,
                                      text=True).stdout) for _ in range(2)]  # fmt: skip
    first, second = runs
    return {
        "import_s": round(statistics.median([float(r["import_s"]) for r in runs]), 3),
        "render_ms": round(statistics.median([float(r["render_ms"]) for r in runs]), 1),
        "svg_bytes": len(str(first["svg"]).encode()),
        "same_bytes_in_two_processes": first["svg"] == second["svg"],
        "script": "<script" in str(first["svg"]),
    }


def whole_report() -> dict[str, object]:
    from finmlops.config import default_config_path, load_config
    from finmlops.governance.evidence import write_evidence
    from finmlops.modelbuild import run_local

    config = load_config(default_config_path(Path(__file__).resolve().parent.parent), "credit-risk")
    with tempfile.TemporaryDirectory() as folder:
        build = run_local(config, Path(folder) / "build")
        started = time.perf_counter()
        files = write_evidence(config, build, Path(folder) / "evidence", git_commit="bench",
                               training_image="bench", baseline_statistics=None)  # fmt: skip
        seconds = time.perf_counter() - started
        return {"evidence_s": round(seconds, 2)} | {
            f"{name}_bytes": path.stat().st_size for name, path in sorted(files.items())
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--altair-python", default="")
    args = parser.parse_args()
    print("matplotlib", json.dumps(measure(sys.executable, MATPLOTLIB)))
    if args.altair_python:
        print("altair+vl-convert", json.dumps(measure(args.altair_python, ALTAIR)))
    print("evidence files", json.dumps(whole_report()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
