"""Track step: log a model build to MLflow from the outputs of Preprocess, Train and Evaluate.

Train runs in SageMaker's built-in XGBoost container and Evaluate in the XGBoost image, neither
with MLflow nor a network route to a tracking server, so the pipeline logs the build in this
small step of its own, after Evaluate, in the project's image (which installs finmlops and
finmlops[tracking]): `python -m finmlops.tracking.track_step`.

Inputs (SageMaker processing paths are the defaults, like the evidence step's):
  /opt/ml/processing/input/config      the deployment config (one .yaml/.yml/.json file)
  /opt/ml/processing/input/artifacts   Preprocess artifacts: data_quality.json, encoders.json
  /opt/ml/processing/input/model       Train output: model.tar.gz
  /opt/ml/processing/input/evaluation  Evaluate output: evaluation.json, fairness.json
  /opt/ml/processing/input/evidence    optional: model_card.json, validation_report.html
The hyperparameters, the gates and the experiment come from the config; the thresholds the
execution actually used arrive as `--threshold <PipelineParameter> <value>` (repeatable, as
for the evidence step), the tracking server as `--tracking-uri`, the run tags as
`--git-commit`, `--pipeline-execution-arn`, `--model-package-group` and `--tag key=value`.

Output: `run.json` = {"run_id", "experiment_id", "tracking_uri", "experiment", "status",
"reason"}; the register step reads `run_id` with a JsonGet. When the run cannot be logged the
step fails with the reason (also in /opt/ml/output/message, the job's ExitMessage), or with
`--on-failure warn` writes status "not-logged", run_id "not-logged" and the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmlops.tracking.content import RunTag
from finmlops.tracking.runs import TrackingError, TrackingOutcome, record_build
from finmlops.tracking.settings import TrackingSettings

if TYPE_CHECKING:
    from finmlops.config import Config

INPUT_ROOT = Path("/opt/ml/processing/input")
OUTPUT_DIR = Path("/opt/ml/processing/output/tracking")
MESSAGE_FILE = Path("/opt/ml/output/message")
RUN_FILE = "run.json"
DATA_QUALITY_FILE = "data_quality.json"
EVALUATION_FILE = "evaluation.json"
MODEL_ARCHIVE = "model.tar.gz"

EXIT_NOT_LOGGED = 1
EXIT_BAD_INPUT = 2


class InputError(ValueError):
    """The step's inputs or arguments are wrong: a wiring error, never downgraded to a warning."""


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise InputError(f"{option} {value!r}: expected KEY=VALUE")
        pairs[key] = rest
    return pairs


def threshold_overrides(pairs: Sequence[Sequence[str]]) -> dict[str, float]:
    """`--threshold MinAuc 0.7` pairs, checked against the gates' pipeline parameters."""
    from finmlops.gates import GATES

    known = {gate.parameter for gate in GATES}
    overrides: dict[str, float] = {}
    for name, value in pairs:
        if name not in known:
            raise InputError(
                f"--threshold {name}: not a gate parameter; one of {', '.join(sorted(known))}"
            )
        try:
            overrides[name] = float(value)
        except ValueError:
            raise InputError(f"--threshold {name}: {value!r} is not a number") from None
    return overrides


def find_config(path: Path) -> Path:
    """The config file itself, or the one config file in a folder (SageMaker copies a prefix)."""
    from finmlops.config import find_config_file

    return find_config_file(path, InputError)


def load_step_config(path: Path) -> Config:
    from finmlops.config import ConfigError, load_config

    try:
        return load_config(find_config(path))
    except ConfigError as exc:
        raise InputError(str(exc)) from None


def tracking_settings(
    config: Config, experiment: str | None, on_failure: str | None
) -> TrackingSettings:
    """The config's tracking section, with the experiment resolved and the step's overrides."""
    # Until Config carries the `tracking` field, a config without it means the defaults.
    base: TrackingSettings = getattr(config, "tracking", None) or TrackingSettings()
    changes: dict[str, str] = {
        "experiment": experiment or base.experiment_name(config.model.package_group)
    }
    if on_failure:
        changes["on_failure"] = on_failure
    try:
        return TrackingSettings.model_validate({**base.model_dump(), **changes})
    except ValueError as exc:
        raise InputError(f"tracking settings: {exc}") from None


def _folder(path: Path) -> Path:
    # A processing input is a folder; a file is accepted for local runs.
    return path.parent if path.is_file() else path


def _read_json(folder: Path, name: str, what: str) -> dict[str, Any]:
    file = folder / name
    if not file.is_file():
        raise InputError(f"{what}: {file} does not exist")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: {file} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what}: {file} does not hold a JSON object")
    return data


def _model_archive(path: Path) -> Path:
    archive = path if path.is_file() else path / MODEL_ARCHIVE
    if not archive.is_file():
        raise InputError(f"model: {archive} does not exist")
    return archive


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m finmlops.tracking.track_step", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, default=INPUT_ROOT / "config")
    parser.add_argument("--artifacts", type=Path, default=INPUT_ROOT / "artifacts")
    parser.add_argument("--model", type=Path, default=INPUT_ROOT / "model")
    parser.add_argument("--evaluation", type=Path, default=INPUT_ROOT / "evaluation")
    parser.add_argument("--evidence", type=Path, default=INPUT_ROOT / "evidence")
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--message-file", type=Path, default=MESSAGE_FILE)
    parser.add_argument("--tracking-uri", required=True, help="server ARN or MLflow URI")
    parser.add_argument("--experiment", help="default: tracking.experiment, else the group")
    parser.add_argument("--run-name", default="model-build")
    parser.add_argument(
        "--on-failure", choices=("fail", "warn"), help="default: tracking.on_failure"
    )
    parser.add_argument(
        "--threshold",
        nargs=2,
        action="append",
        default=[],
        metavar=("PARAMETER", "VALUE"),
        help="a gate threshold the run used, by pipeline parameter name (repeatable)",
    )
    parser.add_argument("--git-commit", default="")
    parser.add_argument("--pipeline-execution-arn", default="")
    parser.add_argument("--model-package-group", help="default: model.package_group")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args(argv)


def _run_tags(args: argparse.Namespace, config: Config) -> dict[str, str]:
    tags = {RunTag.MODEL_PACKAGE_GROUP: args.model_package_group or config.model.package_group}
    if args.git_commit:
        tags[RunTag.GIT_COMMIT] = args.git_commit
    if args.pipeline_execution_arn:
        tags[RunTag.PIPELINE_EXECUTION] = args.pipeline_execution_arn
    tags.update(_pairs(args.tag, "--tag"))
    return tags


def track(args: argparse.Namespace) -> TrackingOutcome:
    """The step without its exit code: read inputs, check gates, log under the policy."""
    from finmlops.gates import check

    config = load_step_config(args.config)
    settings = tracking_settings(config, args.experiment, args.on_failure)
    artifacts_dir = _folder(args.artifacts)
    evaluation_dir = _folder(args.evaluation)
    data_quality = _read_json(artifacts_dir, DATA_QUALITY_FILE, "artifacts")
    evaluation = _read_json(evaluation_dir, EVALUATION_FILE, "evaluation")
    try:
        gates = check(
            config,
            {"data_quality": data_quality, "evaluation": evaluation},
            threshold_overrides(args.threshold),
        )
    except KeyError as exc:
        raise InputError(f"gates: {exc.args[0]}") from None
    artifacts = {
        "data": artifacts_dir,
        "evaluation": evaluation_dir,
        "model": _model_archive(args.model),
    }
    evidence: Path = args.evidence
    if evidence.is_file() or (evidence.is_dir() and any(evidence.iterdir())):
        artifacts["evidence"] = evidence
    return record_build(
        settings,
        run_name=args.run_name,
        hyperparameters=config.model.hyperparameters.as_sagemaker(),
        data_quality=data_quality,
        evaluation=evaluation,
        gates=gates,
        artifacts=artifacts,
        tags=_run_tags(args, config),
        tracking_uri=args.tracking_uri,
    )


def _exit_message(path: Path, text: str) -> None:
    # Only inside a job: /opt/ml/output exists there, and its first KB becomes the ExitMessage.
    if path.parent.is_dir():
        path.write_text(text[:1024], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        outcome = track(args)
    except InputError as exc:
        print(f"track: bad input: {exc}", file=sys.stderr)
        _exit_message(args.message_file, f"bad input: {exc}")
        return EXIT_BAD_INPUT
    except TrackingError as exc:
        print(f"track: MLflow run not logged: {exc}", file=sys.stderr)
        _exit_message(args.message_file, f"MLflow run not logged: {exc}")
        return EXIT_NOT_LOGGED
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / RUN_FILE).write_text(outcome.to_json(), encoding="utf-8")
    stream = sys.stdout if outcome.logged else sys.stderr
    print(f"track: {outcome.line()}", file=stream)
    if not outcome.logged:
        _exit_message(args.message_file, outcome.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
