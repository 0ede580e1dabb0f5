"""Track step: log a model build to MLflow from the outputs of Preprocess, Train and Evaluate.

Train runs in SageMaker's built-in XGBoost container and Evaluate in the XGBoost image, neither
with MLflow nor a network route to a tracking server, so the pipeline logs the build in this
small step of its own, after Evaluate, in the project's image (which installs finmlops and
finmlops[tracking]): `python -m finmlops.tracking.track_step`.

Inputs (SageMaker processing paths are the defaults): the Preprocess `artifacts` output
(data_quality.json, encoders.json), the Train output (model.tar.gz), the Evaluate output
(evaluation.json, fairness.json) and, when given and not empty, a validation report folder.
The gate thresholds arrive as `--threshold <PipelineParameter>=<value>` (the values the
execution actually used), the hyperparameters as JSON, the run tags as `--tag key=value`.

Output: `run.json` = {"run_id", "experiment_id", "tracking_uri", "experiment", "status",
"reason"}; the register step reads `run_id` with a JsonGet. When the run cannot be logged the
step fails with the reason (also in /opt/ml/output/message, the job's ExitMessage), or with
`--on-failure warn` writes status "not-logged", run_id "not-logged" and the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finmlops.tracking.content import GateRow
from finmlops.tracking.runs import TrackingError, TrackingOutcome, record_build
from finmlops.tracking.settings import TrackingSettings

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


def gate_rows(
    outputs: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, str]
) -> list[GateRow]:
    """The verdict of every gate, from the step outputs and the thresholds of this execution.

    The same gates, JSON paths and comparisons as `finmlops.gates.check`, with each threshold
    given by its pipeline parameter name instead of read from a config file.
    """
    from finmlops.gates import GATES, json_get

    gates = [g for g in GATES if g.source in outputs]
    missing = [g.parameter for g in gates if g.parameter not in thresholds]
    unknown = sorted(set(thresholds) - {g.parameter for g in GATES})
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"no --threshold for {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown gate parameter(s) {', '.join(unknown)}")
        raise InputError("; ".join(problems))
    rows = []
    for gate in gates:
        raw = thresholds[gate.parameter]
        try:
            threshold = float(raw)
        except ValueError:
            raise InputError(f"--threshold {gate.parameter}={raw!r} is not a number") from None
        try:
            value = json_get(outputs[gate.source], gate.json_path)
        except KeyError as exc:
            raise InputError(f"gate {gate.name}: {exc.args[0]} ({gate.source})") from None
        rows.append(
            GateRow(gate.name, value, threshold, gate.passes(value, threshold), gate.comparison)
        )
    return rows


def _folder(path: Path) -> Path:
    # A processing input is a folder; a file is accepted for local runs.
    return path if path.is_dir() else path.parent


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
    parser.add_argument("--artifacts", type=Path, default=INPUT_ROOT / "artifacts")
    parser.add_argument("--model", type=Path, default=INPUT_ROOT / "model")
    parser.add_argument("--evaluation", type=Path, default=INPUT_ROOT / "evaluation")
    parser.add_argument("--validation-report", type=Path, default=INPUT_ROOT / "validation-report")
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--message-file", type=Path, default=MESSAGE_FILE)
    parser.add_argument("--tracking-uri", required=True, help="server ARN or MLflow URI")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--run-name", default="model-build")
    parser.add_argument("--on-failure", choices=("fail", "warn"), default="fail")
    parser.add_argument("--hyperparameters", required=True, help="JSON object of strings")
    parser.add_argument("--threshold", action="append", default=[], metavar="PARAM=VALUE")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args(argv)


def _hyperparameters(text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--hyperparameters is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError("--hyperparameters must be a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def track(args: argparse.Namespace) -> TrackingOutcome:
    """The step without its exit code: read inputs, check gates, log under the policy."""
    try:
        settings = TrackingSettings(experiment=args.experiment, on_failure=args.on_failure)
    except ValueError as exc:
        raise InputError(f"--experiment {args.experiment!r}: {exc}") from None
    artifacts_dir = _folder(args.artifacts)
    evaluation_dir = _folder(args.evaluation)
    data_quality = _read_json(artifacts_dir, DATA_QUALITY_FILE, "artifacts")
    evaluation = _read_json(evaluation_dir, EVALUATION_FILE, "evaluation")
    gates = gate_rows(
        {"data_quality": data_quality, "evaluation": evaluation},
        _pairs(args.threshold, "--threshold"),
    )
    artifacts = {
        "data": artifacts_dir,
        "evaluation": evaluation_dir,
        "model": _model_archive(args.model),
    }
    report: Path = args.validation_report
    if report.is_file() or (report.is_dir() and any(report.iterdir())):
        artifacts["validation-report"] = report
    return record_build(
        settings,
        run_name=args.run_name,
        hyperparameters=_hyperparameters(args.hyperparameters),
        data_quality=data_quality,
        evaluation=evaluation,
        gates=gates,
        artifacts=artifacts,
        tags=_pairs(args.tag, "--tag"),
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
