"""Batch scoring: the files under a batch model's input prefix, scored by the approved version's
served archive with the endpoint's own inference code, written as scores with an inference id
per row and as the data-capture records an endpoint writes (docs/serving.md, "Batch serving";
docs/decisions/0034).

Runs as the processing step of the model's batch pipeline (cdk/batch.py) in the project's image:

    python -m finmlops.serving.batch --model-name NAME --model DIR --input DIR --scores DIR
        --capture DIR [--max-bad-share X] [--scored-at TIME] [--run-id ID]

- Input: every `.csv` file under --input, UTF-8, one record per line, a header naming the
  columns. Every feature of the served model must be a column (any order; empty cells are
  missing values, as the endpoint reads them); other columns are carried to the scores unread.
- Model: the one `.tar.gz` under --model, the served archive the registered container runs
  (`xgboost-model` and `code/inference.py` with `code/reasons.json`, finmlops.serving.package_step).
  Its `model_fn`, `input_fn`, `predict_fn` and `output_fn` score the rows exactly as the endpoint
  answers a request with Accept application/json: scores with their reason codes.
- A record that cannot be scored (wrong width, a value that is not a number, bytes that are not
  UTF-8, a file whose header lacks a feature, an empty file) is reported with its file and line in
  `bad_records.jsonl` and counted in `batch_report.json`, where a file that is not `.csv` is
  named as not scored: nothing is dropped unsaid. More than --max-bad-share of the records bad
  fails the run, and nothing is written.
- Inference id: a name-based UUID (RFC 4122 version 5) of the model, the file, the file's SHA-256
  and the line: the same file scored again gets the same ids (a retried run joins the labels
  collected for the first), rows of other files or other content get others.
- Scores: `<file>.scores.jsonl` per input file under --scores, one line per scored row
  (inference id, file, line, score, reasons, the other columns).
- Captures: one record per row, as an endpoint captures a one-row request (finmlops.serving.capture),
  under --capture/yyyy/mm/dd/hh/ of --scored-at: uploaded to capture/<name>/AllTraffic/, where
  the drift and delayed-label quality jobs read an endpoint's, they judge batch runs unchanged.

Exit codes: 0 scored (bad records reported), 2 unusable input or too many bad records.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import math
import os
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finmlops.monitoring.readers import MAX_BAD_SAMPLES, BadRecord, parse_time
from finmlops.serving.capture import CSV, HOUR_FOLDER, JSON, TIME_FORMAT, capture_record

# SageMaker processing paths (cdk/batch.py passes them; the defaults are the same).
MODEL_DIR = "/opt/ml/processing/model"
INPUT_DIR = "/opt/ml/processing/input/data"
SCORES_DIR = "/opt/ml/processing/output/scores"
CAPTURE_DIR = "/opt/ml/processing/output/capture"
# The run's time and id, set by the pipeline from its execution (Execution.StartDateTime and
# Execution.PipelineExecutionId): every capture of a run carries the same inferenceTime.
ENV_SCORED_AT = "BATCH_SCORED_AT"
ENV_RUN_ID = "BATCH_RUN_ID"

REPORT_FILE = "batch_report.json"
BAD_RECORDS_FILE = "bad_records.jsonl"
SCORES_SUFFIX = ".scores.jsonl"
# Rows per call of the inference hooks (one request's worth: bounded memory, as the endpoint).
CHUNK_ROWS = 1000
# Capture records per object: several objects let a sharded drift run spread one batch run.
CAPTURE_PART_ROWS = 10_000
DEFAULT_MAX_BAD_SHARE = 0.0
# The namespace of inference ids (uuid5): fixed, so ids are the same on every machine and run.
INFERENCE_ID_NAMESPACE = uuid.UUID("6f1d3c52-0a5e-5c7e-9b0e-3f8a2d4c1b70")
CODE_DIR = "code"
PROGRAM = "inference.py"


class BatchInputError(ValueError):
    """An input the run cannot use, or too many bad records; the message names it."""


def inference_id(model_name: str, file: str, digest: str, line: int) -> str:
    """The row's id: the same model, file, content and line give the same id, anything else
    another (uuid5, the standard library's name-based UUID)."""
    return str(uuid.uuid5(INFERENCE_ID_NAMESPACE, f"{model_name}\n{file}\n{digest}\n{line}"))


def event_id(run_id: str, inference: str) -> str:
    """The capture's eventId: one per row and run (SageMaker's is one per captured request)."""
    return str(uuid.uuid5(INFERENCE_ID_NAMESPACE, f"{run_id}\n{inference}"))


# ------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class ServedModel:
    """The served archive's inference script, loaded as the container loads it."""

    module: Any
    model: Any
    features: tuple[str, ...]
    archive_sha256: str

    def score(self, rows: Sequence[str]) -> list[dict[str, Any]]:
        """Per row (CSV in the model's column order), {"score", "reasons"}: the hooks called in
        the order sagemaker-containers' Transformer calls them for one request."""
        body = "\n".join(rows)
        data = self.module.input_fn(body, CSV)
        prediction = self.module.predict_fn(data, self.model)
        answer = self.module.output_fn(prediction, JSON)
        text = answer[0] if isinstance(answer, tuple) else answer
        predictions: list[dict[str, Any]] = json.loads(text)["predictions"]
        if len(predictions) != len(rows):
            raise BatchInputError(
                f"the model answered {len(predictions)} predictions for {len(rows)} rows"
            )
        return predictions


def one_archive(folder: Path) -> Path:
    if folder.is_file():
        return folder
    found = sorted(p for p in folder.rglob("*.tar.gz") if p.is_file())
    if len(found) != 1:
        raise BatchInputError(f"--model: expected one .tar.gz under {folder}, found {len(found)}")
    return found[0]


def load_served_model(archive: Path, work_dir: Path) -> ServedModel:
    """Extract the archive as SageMaker extracts it into /opt/ml/model, import its
    code/inference.py as the container imports SAGEMAKER_PROGRAM, and call `model_fn`."""
    model_dir = work_dir / "model"
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            tar.extractall(model_dir, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BatchInputError(f"--model: {archive.name} is not a readable .tar.gz: {exc}") from None
    program = model_dir / CODE_DIR / PROGRAM
    if not program.is_file():
        raise BatchInputError(
            f"--model: {archive.name} holds no {CODE_DIR}/{PROGRAM}: not the served archive "
            "the registered container runs (finmlops.serving.package_step)"
        )
    spec = importlib.util.spec_from_file_location(f"finmlops_batch_{uuid.uuid4().hex}", program)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise BatchInputError(f"--model: {CODE_DIR}/{PROGRAM} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    model = module.model_fn(str(model_dir))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    return ServedModel(module, model, tuple(model.reasons.features), digest)


# ------------------------------------------------------------------------------ the input


@dataclass(frozen=True)
class Row:
    """One record that can be scored: where it came from, its id, the model's CSV row."""

    file: str
    line: int
    inference_id: str
    values: str  # the features in the model's column order, as the endpoint takes a row
    other: Mapping[str, str]  # the columns that are not features, carried to the scores


@dataclass
class FileResult:
    file: str
    sha256: str
    records: int = 0
    rows: list[Row] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "records": self.records,
            "scored": len(self.rows),
            "bad": len(self.bad),
        }


def input_files(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(name relative to the input folder, path) of every .csv file, in a fixed order; and the
    names of the other files, which are not scored but named in the report (never skipped
    unsaid: a `.csv.gz` delivered by mistake is a portfolio left unscored)."""
    if not folder.is_dir():
        raise BatchInputError(f"--input: {folder} is not a folder")
    found = sorted(p for p in folder.rglob("*") if p.is_file())
    scored = [(p.relative_to(folder).as_posix(), p) for p in found if p.suffix.lower() == ".csv"]
    other = [p.relative_to(folder).as_posix() for p in found if p.suffix.lower() != ".csv"]
    return scored, other


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8").rstrip("\r\n")


def _cells(text: str) -> list[str]:
    """One line's cells, by the csv module (quoted commas included); one record per line."""
    return next(csv.reader([text]), [])


def read_file(path: Path, label: str, features: Sequence[str], model_name: str) -> FileResult:
    """The scorable rows of one file and, by line, every record that is not."""
    raw = path.read_bytes()
    result = FileResult(label, hashlib.sha256(raw).hexdigest())
    if not raw:
        result.bad.append(BadRecord(label, 0, "empty file (0 bytes)"))
        return result
    lines = raw.split(b"\n")
    try:
        header = [c.strip() for c in _cells(_decode(lines[0]).lstrip("\ufeff"))]
    except (UnicodeDecodeError, csv.Error) as exc:
        header, problem = [], f"header is not a CSV line of UTF-8 text: {exc}"
    else:
        missing = [f for f in features if f not in header]
        duplicated = sorted({c for c in header if header.count(c) > 1})
        problem = (
            f"header lacks the model's feature column(s) {missing}"
            if missing
            else f"header names column(s) {duplicated} twice"
            if duplicated
            else ""
        )
    if problem:
        result.bad.append(BadRecord(label, 1, problem))
    position = {name: i for i, name in enumerate(header)}
    others = [name for name in header if name not in set(features)]
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue  # a blank line (the file's last newline, say) is no record
        result.records += 1
        if problem:
            result.bad.append(BadRecord(label, number, f"not scored: line 1's {problem}"))
            continue
        try:
            row = _row(line, header, position, features, others)
        except ValueError as exc:
            result.bad.append(BadRecord(label, number, str(exc)))
            continue
        values, other = row
        ident = inference_id(model_name, label, result.sha256, number)
        result.rows.append(Row(label, number, ident, values, other))
    return result


def _row(
    line: bytes,
    header: Sequence[str],
    position: Mapping[str, int],
    features: Sequence[str],
    others: Sequence[str],
) -> tuple[str, dict[str, str]]:
    try:
        cells = _cells(_decode(line))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"not a CSV line: {exc}") from None
    if len(cells) != len(header):
        raise ValueError(f"has {len(cells)} values; the header names {len(header)} columns")
    ordered = []
    for feature in features:
        text = cells[position[feature]].strip()
        if text:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{feature}: {text[:40]!r} is not a number") from None
            if not math.isfinite(number):
                raise ValueError(f"{feature}: {text[:40]!r} is not finite (leave it empty)")
        ordered.append(text)
    return ",".join(ordered), {name: cells[position[name]] for name in others}


# ------------------------------------------------------------------------------ the run


@dataclass(frozen=True)
class BatchResult:
    """What one run scored and wrote."""

    files: tuple[FileResult, ...]
    scored: int
    bad: int
    records: int
    written: tuple[Path, ...]
    report: dict[str, Any]
    not_scored: tuple[str, ...] = ()  # files under the input that are not .csv

    @property
    def bad_records(self) -> list[BadRecord]:
        return [b for f in self.files for b in f.bad]


def _chunks(rows: Sequence[Row], size: int) -> Iterator[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _jsonl(records: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records)


def run_batch(
    *,
    model: ServedModel,
    input_dir: Path,
    scores_dir: Path,
    capture_dir: Path,
    model_name: str,
    scored_at: datetime,
    run_id: str,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    model_version: Mapping[str, str] | None = None,
) -> BatchResult:
    """Score every input file; write scores, captures, the bad records and the report.

    Everything is read and scored before anything is written: a run refused for bad records (or
    failing in the model) leaves the output folders empty, so the job uploads nothing."""
    csv_files, not_scored = input_files(input_dir)
    files = tuple(read_file(path, label, model.features, model_name) for label, path in csv_files)
    if not files:
        raise BatchInputError(
            f"--input: no .csv file under {input_dir}"
            + (f" (found only {not_scored[:5]})" if not_scored else "")
        )
    bad = [b for f in files for b in f.bad]
    # Data lines, plus the lines that made a whole file unreadable (an empty file, a header).
    records = sum(f.records for f in files) + sum(1 for b in bad if b.line in (0, 1))
    share = len(bad) / records if records else 0.0
    if share > max_bad_share:
        shown = "; ".join(str(b) for b in bad[:5])
        raise BatchInputError(
            f"{len(bad)} of {records} records cannot be scored ({share:.2%}, more than "
            f"--max-bad-share {max_bad_share:g}); nothing was written. First: {shown}"
        )
    when = scored_at.astimezone(UTC)
    rows = [row for f in files for row in f.rows]
    predictions: list[dict[str, Any]] = []
    for chunk in _chunks(rows, CHUNK_ROWS):
        predictions.extend(model.score([r.values for r in chunk]))

    written: list[Path] = []
    by_file: dict[str, list[dict[str, Any]]] = {f.file: [] for f in files}
    captures: list[dict[str, Any]] = []
    for row, prediction in zip(rows, predictions, strict=True):
        by_file[row.file].append(
            {
                "inference_id": row.inference_id,
                "file": row.file,
                "line": row.line,
                "score": prediction["score"],
                "reasons": prediction.get("reasons", []),
                "columns": dict(row.other),
            }
        )
        captures.append(
            capture_record(
                row.values,
                json.dumps({"predictions": [prediction]}, separators=(",", ":")),
                event_id=event_id(run_id, row.inference_id),
                inference_id=row.inference_id,
                at=when,
                request_type=CSV,
                response_type=JSON,
            )
        )
    for label, scored in by_file.items():
        if scored:
            written.append(_write(scores_dir / f"{label}{SCORES_SUFFIX}", _jsonl(scored)))
    hour = capture_dir / when.strftime(HOUR_FOLDER)
    for part, start in enumerate(range(0, len(captures), CAPTURE_PART_ROWS)):
        body = _jsonl(captures[start : start + CAPTURE_PART_ROWS])
        written.append(_write(hour / f"{run_id}-{part:05d}.jsonl", body))
    if bad:
        written.append(_write(scores_dir / BAD_RECORDS_FILE, _jsonl([b.to_dict() for b in bad])))
    report = {
        "model_name": model_name,
        "model": {"archive_sha256": model.archive_sha256, **dict(model_version or {})},
        "run_id": run_id,
        "scored_at": when.strftime(TIME_FORMAT),
        "records": records,
        "scored": len(rows),
        "bad_records": len(bad),
        "bad_share": share,
        "max_bad_share": max_bad_share,
        "bad_samples": [b.to_dict() for b in bad[:MAX_BAD_SAMPLES]],
        "files": [f.summary() for f in files],
        "not_scored_files": not_scored,
        "captures": [
            p.relative_to(capture_dir).as_posix() for p in written if _under(p, capture_dir)
        ],
    }
    written.append(
        _write(scores_dir / REPORT_FILE, json.dumps(report, indent=2, sort_keys=True) + "\n")
    )
    return BatchResult(
        files, len(rows), len(bad), records, tuple(written), report, tuple(not_scored)
    )


def _under(path: Path, folder: Path) -> bool:
    return folder in path.parents


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ entry point


def _scored_at(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        value = parse_time(text)
    except ValueError:
        raise BatchInputError(f"--scored-at {text!r} is not an ISO 8601 time") from None
    assert value is not None
    return value


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m finmlops.serving.batch", description=__doc__)
    parser.add_argument("--model-name", required=True, help="the model's config name (ids)")
    parser.add_argument("--model", default=MODEL_DIR, help="folder of the served model.tar.gz")
    parser.add_argument("--input", default=INPUT_DIR, help="folder of the .csv files to score")
    parser.add_argument("--scores", default=SCORES_DIR, help="where scores and the report go")
    parser.add_argument("--capture", default=CAPTURE_DIR, help="where capture records go")
    parser.add_argument("--max-bad-share", type=float, default=DEFAULT_MAX_BAD_SHARE)
    parser.add_argument("--scored-at", default=env.get(ENV_SCORED_AT))
    parser.add_argument("--run-id", default=env.get(ENV_RUN_ID))
    parser.add_argument("--model-package-arn", default="", help="recorded in the report")
    parser.add_argument("--model-version", default="", help="recorded in the report")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as work:
            model = load_served_model(one_archive(Path(args.model)), Path(work))
            result = run_batch(
                model=model,
                input_dir=Path(args.input),
                scores_dir=Path(args.scores),
                capture_dir=Path(args.capture),
                model_name=args.model_name,
                scored_at=_scored_at(args.scored_at),
                run_id=args.run_id or uuid.uuid4().hex,
                max_bad_share=args.max_bad_share,
                model_version={
                    k: v
                    for k, v in (
                        ("model_package_arn", args.model_package_arn),
                        ("version", args.model_version),
                    )
                    if v
                },
            )
    except BatchInputError as exc:
        print(f"batch scoring: {exc}", file=sys.stderr)
        return 2
    print(
        f"batch scoring: {result.scored} of {result.records} records scored from "
        f"{len(result.files)} file(s); {result.bad} bad record(s) in {BAD_RECORDS_FILE}"
        if result.bad
        else f"batch scoring: {result.scored} records scored from {len(result.files)} file(s)"
    )
    for bad in result.bad_records[:MAX_BAD_SAMPLES]:
        print(f"  bad record {bad}", file=sys.stderr)
    for name in result.not_scored:
        print(f"  not scored: {name} is not a .csv file", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
