"""Whole-app synth time (all four stages), with and without the compliance packs.

Each run is a fresh process (jsii starts its own Node process, so a warm in-process repeat
would flatter the figures), split into: importing aws-cdk-lib and the app, building the
pipeline definition (sagemaker SDK, offline), constructing the stages, and synthesizing (which
runs AwsSolutions, NIST 800-53 rev 5 and PCI DSS 3.2.1 when the packs are on).

    .venv/bin/python benchmarks/bench_synth.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
from finmlops.config import load_config
from finmlops_cdk.app import build_app
from finmlops_pipelines.definition import build_pipeline_definition
t1 = time.perf_counter()
config = load_config(sys.argv[1])
definition = build_pipeline_definition(config)
t2 = time.perf_counter()
app = build_app(config, outdir=sys.argv[2], compliance=sys.argv[3] == "on",
                definition=lambda _: definition)
t3 = time.perf_counter()
app.synth()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "definition": t2 - t1, "construct": t3 - t2,
                  "synth": t4 - t3, "total": t4 - t0}))
"""

PHASES = ("import", "definition", "construct", "synth", "total")


def run_once(compliance: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as out:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT / "config" / "platform.yaml"), out, compliance],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"synth failed ({compliance}):\n{result.stderr[-3000:]}")
        figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
        figures["process"] = wall
        templates = list(Path(out).glob("assembly-*/*.template.json"))
        figures["templates"] = len(templates)
        figures["template_kb"] = sum(t.stat().st_size for t in templates) / 1024
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per setting (median shown)")
    args = parser.parse_args()
    print(f"whole app: 4 stages, median of {args.runs} fresh processes, {os.cpu_count()} CPUs")
    header = f"{'packs':<6}" + "".join(f"{p:>11}" for p in (*PHASES, "process")) + "  templates"
    print(header)
    medians: dict[str, dict[str, float]] = {}
    for compliance in ("off", "on"):
        runs = [run_once(compliance) for _ in range(args.runs)]
        median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        medians[compliance] = median
        cells = "".join(f"{median[p]:>10.2f}s" for p in (*PHASES, "process"))
        print(
            f"{compliance:<6}{cells}  {int(median['templates'])} ({median['template_kb']:.0f} KB)"
        )
    cost = medians["on"]["synth"] - medians["off"]["synth"]
    print(
        f"compliance packs add {cost:.2f}s to synth ({cost / medians['on']['total']:.0%} of total)"
    )


if __name__ == "__main__":
    main()
