"""Whole-app synth time (all four stages): the shipped two-model portfolio against its first
model alone (the baseline, same run), with and without the compliance packs.

Each run is a fresh process (jsii starts its own Node process, so a warm in-process repeat
would flatter the figures), split into: importing aws-cdk-lib and the app, building the
pipeline definitions (sagemaker SDK, offline), constructing the stages, and synthesizing (which
runs AwsSolutions, NIST 800-53 rev 5 and PCI DSS 3.2.1 when the packs are on). Issue 17's
target: the two-model app within 1.5x the one-model app.

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
from finmlops.config import load_portfolio
from finmlops_cdk.app import build_app
from finmlops_pipelines.definition import build_pipeline_definition
t1 = time.perf_counter()
portfolio = load_portfolio(sys.argv[1])
app_of = portfolio if sys.argv[4] == "portfolio" else portfolio.configs[0]
definitions = {c.model.name: build_pipeline_definition(c) for c in portfolio.configs
               if app_of is portfolio or c is app_of}
t2 = time.perf_counter()
app = build_app(app_of, outdir=sys.argv[2], compliance=sys.argv[3] == "on",
                definition=lambda c: definitions[c.model.name])
t3 = time.perf_counter()
app.synth()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "definition": t2 - t1, "construct": t3 - t2,
                  "synth": t4 - t3, "total": t4 - t0}))
"""

PHASES = ("import", "definition", "construct", "synth", "total")


def run_once(compliance: str, scope: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as out:
        started = time.perf_counter()
        config = str(ROOT / "config" / "platform.yaml")
        result = subprocess.run(
            [sys.executable, "-c", CHILD, config, out, compliance, scope],
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
        templates = list(Path(out).glob("assembly-*/**/*.template.json"))
        figures["templates"] = len(templates)
        figures["template_kb"] = sum(t.stat().st_size for t in templates) / 1024
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per setting (median shown)")
    args = parser.parse_args()
    print(f"whole app: 4 stages, median of {args.runs} fresh processes, {os.cpu_count()} CPUs")
    header = (
        f"{'app':<10}{'packs':<6}"
        + "".join(f"{p:>11}" for p in (*PHASES, "process"))
        + "  templates"
    )
    print(header)
    medians: dict[tuple[str, str], dict[str, float]] = {}
    for compliance in ("off", "on"):
        for scope in ("one-model", "portfolio"):
            # Interleaved: the baseline and the portfolio see the same machine.
            runs = [run_once(compliance, scope) for _ in range(args.runs)]
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            medians[scope, compliance] = median
            cells = "".join(f"{median[p]:>10.2f}s" for p in (*PHASES, "process"))
            print(
                f"{scope:<10}{compliance:<6}{cells}  {int(median['templates'])} "
                f"({median['template_kb']:.0f} KB)"
            )
    for compliance in ("off", "on"):
        one, two = medians["one-model", compliance], medians["portfolio", compliance]
        print(
            f"packs {compliance}: two models {two['process']:.2f}s vs one {one['process']:.2f}s "
            f"= {two['process'] / one['process']:.2f}x (target 1.5x)"
        )
    cost = medians["portfolio", "on"]["synth"] - medians["portfolio", "off"]["synth"]
    print(
        f"compliance packs add {cost:.2f}s to the portfolio's synth "
        f"({cost / medians['portfolio', 'on']['total']:.0%} of total)"
    )


if __name__ == "__main__":
    main()
