"""Evidence step: the model card and the validation report of the version a pipeline run builds.

Runs as a SageMaker processing job in the project's own image, after Evaluate and Baseline:

    python -m finmlops.governance.evidence_step --git-commit ... --training-image ...

Inputs (container paths are the defaults; every one can be pointed elsewhere):
  /opt/ml/processing/input/config      the deployment config (one .yaml/.yml/.json file)
  /opt/ml/processing/input/artifacts   preprocess artifacts: data_quality.json
  /opt/ml/processing/input/evaluation  evaluation.json (and fairness.json)
  /opt/ml/processing/input/baseline    statistics.json, constraints.json
  /opt/ml/processing/input/reasons     reasons.json (reason codes' coverage; optional)
Output: /opt/ml/processing/output/evidence/{model_card.json, model_card.html,
  validation_report.html, registry_card.json (the card RegisterModel registers, ADR 0032)}

Run-time values the config cannot know come as arguments: lineage (git commit, image, training
job, model artifact, execution), and gate thresholds overridden by pipeline parameters
(`--threshold MinAuc 0.7`, repeatable). A missing input file does not stop the step: the report
says INCOMPLETE EVIDENCE and names it; `--strict` makes that exit 3.
Exit codes: 0 written, 2 unusable input (config, JSON, arguments), 3 incomplete with --strict.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from finmlops.config import Config, ConfigError, find_config_file, load_config
from finmlops.gates import GATES
from finmlops.governance.bundle import Lineage
from finmlops.governance.evidence import bundle_from_folders, write_bundle

INPUT_ROOT = Path("/opt/ml/processing/input")
OUTPUT_DIR = Path("/opt/ml/processing/output/evidence")


class EvidenceInputError(ValueError):
    """An input the step cannot use; the message names it."""


def find_config(path: Path) -> Path:
    """The config file itself, or the one config file in a folder (SageMaker copies a prefix)."""
    return find_config_file(path, EvidenceInputError)


def shipped_config(config: Config) -> tuple[str, str]:
    """The config as the pipeline ships it to this step: an S3 key in the artifact bucket and the
    body. Canonical JSON (every field, sorted keys) that `load_config` reads back equal; the key
    is content-addressed, so a config change changes the pipeline definition."""
    body = json.dumps(config.model_dump(mode="json"), sort_keys=True, indent=1) + "\n"
    digest = hashlib.sha256(body.encode()).hexdigest()[:12]
    return f"config/{config.project}-{digest}.json", body


def write_shipped_config(config: Config, folder: Path) -> tuple[str, Path]:
    """`shipped_config` written to `folder`: the S3 key, and the local file to upload there."""
    key, body = shipped_config(config)
    path = folder / Path(key).name
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return key, path


def threshold_overrides(pairs: Sequence[Sequence[str]] | None) -> dict[str, float]:
    known = {gate.parameter for gate in GATES}
    overrides: dict[str, float] = {}
    for name, value in pairs or []:
        if name not in known:
            raise EvidenceInputError(
                f"--threshold {name}: not a gate parameter; one of {', '.join(sorted(known))}"
            )
        try:
            overrides[name] = float(value)
        except ValueError:
            raise EvidenceInputError(f"--threshold {name}: {value!r} is not a number") from None
    return overrides


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m finmlops.governance.evidence_step",
        description=(__doc__ or "").splitlines()[0],
    )
    parser.add_argument("--config", type=Path, default=INPUT_ROOT / "config")
    parser.add_argument("--artifacts", type=Path, default=INPUT_ROOT / "artifacts")
    parser.add_argument("--evaluation", type=Path, default=INPUT_ROOT / "evaluation")
    parser.add_argument("--baseline", type=Path, default=INPUT_ROOT / "baseline")
    parser.add_argument(
        "--reasons", type=Path, default=INPUT_ROOT / "reasons", help="the Package step's output"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--git-commit", default="")
    parser.add_argument("--training-image", default="")
    parser.add_argument("--training-job-arn", default="")
    parser.add_argument("--model-artifact", default="")
    parser.add_argument("--pipeline-execution-arn", default="")
    parser.add_argument("--model-package-arn", default="")
    parser.add_argument("--created-by", default="")
    parser.add_argument("--generated-at", default="", help="printed in the report header")
    parser.add_argument(
        "--threshold",
        nargs=2,
        action="append",
        metavar=("PARAMETER", "VALUE"),
        help="a gate threshold the run used, by pipeline parameter name (repeatable)",
    )
    parser.add_argument(
        "--no-drift-baseline",
        action="store_true",
        help="the deployment registers no drift baseline: do not report it missing",
    )
    parser.add_argument("--strict", action="store_true", help="exit 3 when evidence is missing")
    return parser.parse_args(argv)


def _load(path: Path) -> Config:
    return load_config(find_config(path))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = _load(args.config)
        overrides = threshold_overrides(args.threshold)
        bundle = bundle_from_folders(
            artifacts=args.artifacts,
            evaluation=args.evaluation,
            baseline=args.baseline,
            lineage=Lineage(
                git_commit=args.git_commit,
                training_image=args.training_image,
                model_artifact=args.model_artifact,
                training_job_arn=args.training_job_arn,
                pipeline_execution_arn=args.pipeline_execution_arn,
                model_package_arn=args.model_package_arn,
                created_by=args.created_by,
            ),
            hyperparameters=config.model.hyperparameters.as_sagemaker(),
            threshold_overrides=overrides,
            reasons=args.reasons,
        )
    except (ConfigError, EvidenceInputError, ValueError) as exc:
        print(f"evidence: {exc}", file=sys.stderr)
        return 2
    try:
        written = write_bundle(
            config,
            bundle,
            args.output,
            generated_at=args.generated_at,
            require_drift_baseline=not args.no_drift_baseline,
        )
    except ValueError as exc:  # a card the registry would refuse (ADR 0032): register nothing
        print(f"evidence: {exc}", file=sys.stderr)
        return 2
    for path in written.files.values():
        print(f"evidence: wrote {path}")
    if written.missing:
        print("evidence: INCOMPLETE EVIDENCE:", file=sys.stderr)
        for item in written.missing:
            print(f"  - {item}", file=sys.stderr)
        return 3 if args.strict else 0
    print("evidence: complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
