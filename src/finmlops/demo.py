"""`make demo`: the model build on real data, offline, through the same step code as the pipeline.

Stages: load and validate the config -> preprocess the shipped Lending Club data -> train with
the built-in XGBoost contract -> evaluate (discrimination, calibration, fairness) -> every gate
-> write the SageMaker pipeline definition that CDK embeds. Prints a summary with the paths.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from finmlops.config import ConfigError, default_config_path, load_config


class Progress:
    """One line per stage with its elapsed time, flushed so `make` shows it as it happens."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", flush=True)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="finmlops demo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=default_config_path())
    parser.add_argument("--work-dir", type=Path, default=Path(".demo"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    progress = Progress()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    progress(f"config {args.config}: model {config.model.name}, group {config.model.package_group}")

    from finmlops.modelbuild import StepFailedError, run_local

    try:
        build = run_local(
            config,
            args.work_dir / "model-build",
            config_dir=args.config.parent.parent,
            progress=progress,
        )
    except StepFailedError as exc:
        print(f"model build failed: {exc}", file=sys.stderr)
        return 1

    metrics = build.evaluation.get("binary_classification_metrics", {})
    fairness = build.evaluation.get("fairness", {})
    progress("build pipeline definition (sagemaker SDK v3, offline)")
    from finmlops_pipelines.definition import build_pipeline_definition

    definition = build_pipeline_definition(config)
    definition_path = args.work_dir / "pipeline-definition.json"
    definition_path.write_text(definition.body)

    dq = build.data_quality
    print()
    print("Model build summary")
    print(
        f"  data          {dq['rows']} rows, {dq['columns']} columns, positive share {dq['positive_share']:.2%}"
    )
    print(f"  fingerprint   {dq['data_fingerprint']}")
    if build.rows:
        print(
            f"  split         train {build.rows['train']}, validation {build.rows['validation']}, "
            f"test {build.rows['test']}"
        )
    if metrics:
        print(
            f"  metrics       AUC {metrics['auc']['value']:.4f}  Gini {metrics['gini']['value']:.4f}  "
            f"KS {metrics['ks']['value']:.4f}  Brier {metrics['brier_score']['value']:.4f}"
        )
        print(
            f"  at cut-off    {config.model.cutoff}: precision {metrics['precision']['value']:.3f}, "
            f"recall {metrics['recall']['value']:.3f}, F1 {metrics['f1']['value']:.3f}"
        )
    if fairness:
        print(
            f"  fairness      {fairness['sensitive_attribute']} in {fairness['protected_values']}: "
            f"disparate impact {fairness['disparate_impact']:.3f}, parity difference "
            f"{fairness['statistical_parity_difference']:+.3f}, equal opportunity "
            f"{fairness['equal_opportunity_difference']:+.3f}"
        )
    print("  gates")
    for result in build.gates:
        print(f"    {result.line()}")
    print(
        f"  verdict       {'REGISTER (PendingManualApproval)' if build.passed else 'FAIL: ' + ', '.join(build.failed_gates)}"
    )
    print(f"  artifacts     {build.model_archive}")
    print(f"                {build.work_dir / 'evaluation' / 'evaluation.json'}")
    print(
        f"  pipeline      {definition_path} ({len(definition.body):,} bytes, "
        f"{len(definition.placeholders)} placeholders for CloudFormation)"
    )
    timings = ", ".join(f"{t.name} {t.seconds:.2f}s" for t in build.timings)
    progress(f"done ({timings})")
    return 0 if build.passed else 1


if __name__ == "__main__":
    sys.exit(main())
