"""Chunked readers: SageMaker data-capture JSON lines, CSV, JSON lines and Parquet.

Every reader yields `Chunk`s of at most `chunk_rows` rows, so reading holds one chunk at a time;
what is kept across chunks is the accumulator's business (window.py). Bad records are counted,
sampled (file, line, reason) and skipped, never raised: one malformed line must not lose the
window it sits in. An empty (zero-byte) file is one bad record of its own, named.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# pandas and pyarrow are imported by the readers that use them, not with this module: the
# entry point's quality command needs only the capture helpers and the time parsing here.

DEFAULT_CHUNK_ROWS = 100_000
CAPTURE_SUFFIXES = (".jsonl", ".json")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


# A bounded sample of bad records travels with the counts (chunk, partial, report).
MAX_BAD_SAMPLES = 20


class DatasetError(ValueError):
    """The dataset cannot be read at all (no files, unknown format); the message says why."""


@dataclass(frozen=True)
class BadRecord:
    """Where a record that was skipped sits, and why it was skipped."""

    file: str
    line: int  # 1-based; 0 for a whole file (an empty file)
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def add_samples(kept: list[BadRecord], more: Iterable[BadRecord]) -> None:
    """Append to a bounded sample (the first MAX_BAD_SAMPLES, in reading order)."""
    for item in more:
        if len(kept) >= MAX_BAD_SAMPLES:
            return
        kept.append(item)


@dataclass(frozen=True)
class Chunk:
    """Columns of up to `rows` rows; any column type columns.py understands."""

    columns: Mapping[str, Any]
    rows: int
    # Per column, the rows that carried a field at all (positional payloads can be short).
    present_rows: Mapping[str, int] = field(default_factory=dict)
    malformed: int = 0  # records that could not be parsed (not in `rows`)
    outside_window: int = 0  # capture records outside [start, end) (not in `rows`)
    bad_samples: tuple[BadRecord, ...] = ()  # where the first malformed records sit, and why
    # Records read well (a capture record may hold several rows); None: one record per row.
    records: int | None = None

    @property
    def good_records(self) -> int:
        return self.rows if self.records is None else self.records


@dataclass(frozen=True)
class DatasetFormat:
    kind: str  # "capture" | "csv" | "json" | "parquet" | "auto"
    header: bool = True
    capture_index: str = "endpointInput"


def parse_dataset_format(text: str | None) -> DatasetFormat:
    """Model Monitor's `dataset_format` JSON, or a plain word (csv, parquet, capture, json, auto)."""
    if not text or not text.strip():
        return DatasetFormat("auto")
    raw = text.strip()
    if not raw.startswith("{"):
        word = raw.lower()
        if word not in {"csv", "parquet", "capture", "json", "auto"}:
            raise DatasetError(f"unknown dataset format {raw!r}")
        return DatasetFormat(word)
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"dataset_format is not valid JSON: {exc}") from None
    if "sagemakerCaptureJson" in spec:
        names = spec["sagemakerCaptureJson"].get("captureIndexNames") or ["endpointInput"]
        index = "endpointInput" if "endpointInput" in names else str(names[0])
        return DatasetFormat("capture", capture_index=index)
    if "csv" in spec:
        header = (spec["csv"] or {}).get("header", True)
        return DatasetFormat("csv", header=str(header).lower() != "false")
    if "json" in spec:
        return DatasetFormat("json")
    if "parquet" in spec:
        return DatasetFormat("parquet")
    raise DatasetError(f"unsupported dataset_format {raw!r}")


def list_files(source: Path, suffixes: Sequence[str]) -> list[Path]:
    """Files under `source` (or `source` itself) with one of the suffixes, in a fixed order."""
    if source.is_file():
        return [source]
    if not source.exists():
        raise DatasetError(f"dataset source {source} does not exist")
    return sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def frame_chunks(
    data: pd.DataFrame | Mapping[str, Any], chunk_rows: int | None = None
) -> Iterator[Chunk]:
    """An in-memory table as chunks; one zero-copy chunk unless `chunk_rows` is given."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        rows = len(data)
        if chunk_rows is None or rows <= chunk_rows:
            yield Chunk(columns={str(c): data[c] for c in data.columns}, rows=rows)
            return
        for begin in range(0, rows, chunk_rows):
            part = data.iloc[begin : begin + chunk_rows]
            yield Chunk(columns={str(c): part[c] for c in part.columns}, rows=len(part))
        return
    lengths = {len(v) for v in data.values()}
    if len(lengths) > 1:
        raise DatasetError(f"columns have different lengths: {sorted(lengths)}")
    rows = lengths.pop() if lengths else 0
    step = chunk_rows or max(rows, 1)
    for begin in range(0, max(rows, 1), step):
        yield Chunk(
            columns={str(k): v[begin : begin + step] for k, v in data.items()},
            rows=max(0, min(step, rows - begin)),
        )


def file_label(path: Path, root: Path | None = None) -> str:
    """How a report names a file: relative to the dataset's root, else its name."""
    if root is not None and root != path:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass  # not under the root: the name alone
    return path.name


def empty_file(path: Path, root: Path | None = None) -> Chunk | None:
    """A zero-byte file as one bad record, named; None when the file has content.

    An empty object in a capture or window prefix is a failed or truncated upload: it is
    counted like a malformed record (and so weighs in the window's bad-record share) instead of
    failing the whole window, whose other files are intact.
    """
    if path.stat().st_size:
        return None
    return Chunk(
        columns={},
        rows=0,
        malformed=1,
        bad_samples=(BadRecord(file_label(path, root), 0, "empty file (0 bytes)"),),
        records=0,
    )


def csv_chunks(
    paths: Iterable[Path],
    *,
    header: bool = True,
    feature_order: Sequence[str] = (),
    text_columns: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    root: Path | None = None,
) -> Iterator[Chunk]:
    """CSV files read `chunk_rows` at a time; headerless files are named by `feature_order`.

    A zero-byte file is one bad record; a file pandas cannot parse (ragged rows, bytes that are
    not UTF-8) stops the run with a DatasetError naming it.
    """
    import pandas as pd

    for path in paths:
        empty = empty_file(path, root)
        if empty is not None:
            yield empty
            continue
        if header:
            dtype = dict.fromkeys(text_columns, "str")
            reader = pd.read_csv(path, chunksize=chunk_rows, dtype=dtype, low_memory=False)
        else:
            reader = pd.read_csv(
                path, chunksize=chunk_rows, header=None, dtype="str", keep_default_na=True
            )
        try:
            with reader:
                for frame in reader:
                    if not header:
                        frame.columns = [
                            _positional_name(i, feature_order) for i in range(frame.shape[1])
                        ]
                    yield Chunk(columns={str(c): frame[c] for c in frame.columns}, rows=len(frame))
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"{file_label(path, root)}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DatasetError(f"{file_label(path, root)}: not readable as CSV: {exc}") from None


def parquet_chunks(
    paths: Iterable[Path], *, chunk_rows: int = DEFAULT_CHUNK_ROWS, root: Path | None = None
) -> Iterator[Chunk]:
    """Parquet record batches as Arrow columns (dictionary pages stay dictionary-encoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in paths:
        empty = empty_file(path, root)
        if empty is not None:
            yield empty
            continue
        try:
            handle = pq.ParquetFile(path)
        except pa.ArrowException as exc:
            raise DatasetError(f"{file_label(path, root)}: not a Parquet file: {exc}") from None
        for batch in handle.iter_batches(batch_size=chunk_rows):
            yield Chunk(
                columns={name: batch.column(i) for i, name in enumerate(batch.schema.names)},
                rows=batch.num_rows,
            )


def _positional_name(index: int, feature_order: Sequence[str]) -> str:
    # Model Monitor names the columns of headerless data _c0, _c1, ...
    return feature_order[index] if index < len(feature_order) else f"_c{index}"


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 with Z, a space or a T between date and time, fractional seconds (as a pipeline
    execution variable may render it); tolerant of the spaces inside the time in the Model
    Monitor documentation's example ("2019-12-01T16: 20: 00Z")."""
    if not text:
        return None
    stripped = text.strip().replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(stripped)
    except ValueError:
        value = datetime.fromisoformat(stripped.replace(" ", ""))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def decode_payload(payload: Mapping[str, Any]) -> list[Any]:
    """Rows of one captured payload: lists (CSV, JSON arrays) or mappings (JSON objects)."""
    data = payload.get("data", "")
    encoding = str(payload.get("encoding", "CSV")).upper()
    content_type = str(payload.get("observedContentType", "")).lower()
    if encoding == "BASE64":
        text = base64.b64decode(str(data), validate=True).decode("utf-8")
        encoding = "JSON" if "json" in content_type else "CSV"
    else:
        text = str(data)
    if encoding == "CSV":
        return [row for row in csv.reader(io.StringIO(text)) if row and any(f.strip() for f in row)]
    if encoding == "JSON":
        return _json_rows(json.loads(text))
    raise ValueError(f"unknown capture encoding {encoding!r}")


def _json_rows(value: Any) -> list[Any]:
    """Rows of a JSON payload: {"instances": [...]}, {"features": [...]}, records, arrays."""
    if isinstance(value, Mapping):
        if "instances" in value:
            return _json_rows(value["instances"])
        return [list(value["features"])] if "features" in value else [dict(value)]
    if not isinstance(value, list):
        return [[value]]
    if all(isinstance(v, int | float | str | type(None)) for v in value):
        return [value] if value else []
    rows: list[Any] = []
    for item in value:
        rows.extend(_json_rows(item))
    return rows


class _RowBuffer:
    """Rows of mixed shape (positional lists, mappings) turned into column chunks."""

    def __init__(self, feature_order: Sequence[str]) -> None:
        self.feature_order = tuple(feature_order)
        self.rows: list[Any] = []
        self.records = 0
        self.malformed = 0
        self.outside = 0
        self.bad: list[BadRecord] = []

    def reject(self, file: str, line: int, reason: str) -> None:
        self.malformed += 1
        add_samples(self.bad, [BadRecord(file, line, reason)])

    def pending(self) -> bool:
        return bool(self.rows or self.records or self.malformed or self.outside)

    def flush(self) -> Chunk:
        import pandas as pd

        rows = self.rows
        columns: dict[str, Any] = {}
        present: dict[str, int] = {}
        positional = [r for r in rows if not isinstance(r, Mapping)]
        width = max((len(r) for r in positional), default=0)
        names: list[str] = [_positional_name(i, self.feature_order) for i in range(width)]
        for row in rows:
            if isinstance(row, Mapping):
                names.extend(str(k) for k in row if str(k) not in names)
        for index, name in enumerate(names):
            values: list[Any] = []
            count = 0
            for row in rows:
                if isinstance(row, Mapping):
                    value = row.get(name)
                    count += name in row
                elif index < len(row) and name == _positional_name(index, self.feature_order):
                    value = row[index]
                    count += 1
                else:
                    value = None
                values.append(value)
            if count:
                # Through pandas: a JSON list value stays one element, not a second axis.
                columns[name] = pd.Series(values, dtype=object).to_numpy()
                present[name] = count
        chunk = Chunk(
            columns=columns,
            rows=len(rows),
            present_rows=present,
            malformed=self.malformed,
            outside_window=self.outside,
            bad_samples=tuple(self.bad),
            records=self.records,
        )
        self.rows = []
        self.records = 0
        self.malformed = 0
        self.outside = 0
        self.bad = []
        return chunk


class BadRecordError(ValueError):
    """Why one line of a JSON-lines file is not a usable record."""


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number" if isinstance(value, int | float) else type(value).__name__


def load_line(raw: bytes) -> Any:
    """One JSON line from its bytes; BadRecordError names why it is not one (bytes that are not UTF-8,
    not JSON, JSON nested beyond what the parser can hold)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRecordError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        # CPython's decoder recurses per nesting level: a hostile line can exhaust the stack.
        raise BadRecordError("JSON nested too deeply to read") from None
    except ValueError as exc:
        raise BadRecordError(f"not JSON ({exc})") from None


def json_object(value: Any, what: str) -> Mapping[str, Any]:
    """`value` when it is a JSON object; BadRecordError naming `what` and its JSON type otherwise."""
    if not isinstance(value, Mapping):
        if value is None:
            raise BadRecordError(f"{what} is missing")
        raise BadRecordError(f"{what} is a JSON {_json_type(value)}, not an object")
    return value


def event_time(record: Mapping[str, Any]) -> tuple[Mapping[str, Any], datetime | None]:
    """A capture record's eventMetadata (an object, possibly empty) and its inferenceTime."""
    raw_meta = record.get("eventMetadata")
    meta = {} if raw_meta is None else json_object(raw_meta, "eventMetadata")
    text = meta.get("inferenceTime")
    if text is not None and not isinstance(text, str):
        raise BadRecordError(
            f"eventMetadata.inferenceTime is a JSON {_json_type(text)}, not a string"
        )
    try:
        return meta, parse_time(text)
    except ValueError:
        raise BadRecordError(
            f"eventMetadata.inferenceTime {text!r} is not an ISO 8601 time"
        ) from None


def payload_rows(record: Mapping[str, Any], index: str) -> list[Any]:
    """The rows of one captured payload (`captureData.<index>`); BadRecordError says why there are none."""
    capture = json_object(record.get("captureData"), "captureData")
    payload = json_object(capture.get(index), f"captureData.{index}")
    try:
        return decode_payload(payload)
    except RecursionError:
        raise BadRecordError(f"captureData.{index}: payload nested too deeply to read") from None
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise BadRecordError(f"captureData.{index}: {exc}") from None


def json_lines(paths: Iterable[Path]) -> Iterator[tuple[Path, int, bytes]]:
    """(file, line number, bytes) of every non-blank line; read as bytes so that one line that
    is not UTF-8 is one bad record, not a failed file."""
    for path in paths:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield path, number, line


def capture_chunks(
    paths: Iterable[Path],
    *,
    feature_order: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    capture_index: str = "endpointInput",
    chunk_rows: int = 10_000,
    root: Path | None = None,
) -> Iterator[Chunk]:
    """Feature rows from SageMaker data-capture files, filtered to [start, end) by inferenceTime.

    Model Monitor may hand the job more hours than the window ("we sometimes download more than
    what is specified"), so the filter is the container's job. A record that cannot be read (not
    UTF-8, not JSON, nested too deeply, not an object, metadata or payload of the wrong shape) is
    counted and sampled with its file and line, and skipped.
    """
    buffer = _RowBuffer(feature_order)
    for path in paths:
        empty = empty_file(path, root)
        if empty is not None:
            yield empty
            continue
        for _, number, line in json_lines([path]):
            try:
                record = json_object(load_line(line), "the record")
                _, when = event_time(record)
                if when is not None and (
                    (start is not None and when < start) or (end is not None and when >= end)
                ):
                    buffer.outside += 1
                    continue
                rows = payload_rows(record, capture_index)
            except BadRecordError as exc:
                buffer.reject(file_label(path, root), number, str(exc))
                continue
            buffer.records += 1
            buffer.rows.extend(rows)
            if len(buffer.rows) >= chunk_rows:
                yield buffer.flush()
    if buffer.pending():
        yield buffer.flush()


def jsonlines_chunks(
    paths: Iterable[Path],
    *,
    feature_order: Sequence[str],
    chunk_rows: int = 10_000,
    root: Path | None = None,
) -> Iterator[Chunk]:
    """JSON lines of records (objects by feature name, or arrays in feature order)."""
    buffer = _RowBuffer(feature_order)
    for path in paths:
        empty = empty_file(path, root)
        if empty is not None:
            yield empty
            continue
        for _, number, line in json_lines([path]):
            try:
                rows = _json_rows(load_line(line))
            except RecursionError:
                buffer.reject(file_label(path, root), number, "JSON nested too deeply to read")
                continue
            except BadRecordError as exc:
                buffer.reject(file_label(path, root), number, str(exc))
                continue
            buffer.records += 1
            buffer.rows.extend(rows)
            if len(buffer.rows) >= chunk_rows:
                yield buffer.flush()
    if buffer.pending():
        yield buffer.flush()


def _is_capture(paths: Sequence[Path], lines: int = 100) -> bool:
    """Whether the first readable JSON object (within the first `lines` lines) is a capture
    record: a malformed first line does not turn a capture file into plain JSON lines."""
    for seen, (_, _, line) in enumerate(json_lines(paths)):
        if seen >= lines:
            return False
        try:
            value = load_line(line)
        except BadRecordError:
            continue
        if isinstance(value, Mapping):
            return "captureData" in value
    return False


def open_dataset(
    source: Path,
    dataset_format: DatasetFormat,
    *,
    feature_order: Sequence[str],
    text_columns: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[Chunk]:
    """Chunks of every file under `source` in the given (or detected) format."""
    kind = dataset_format.kind
    if kind == "auto":
        files = list_files(source, CAPTURE_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES)
        if not files:
            raise DatasetError(f"no .jsonl, .json, .csv or .parquet file under {source}")
        suffixes = {p.suffix.lower() for p in files}
        if suffixes <= set(PARQUET_SUFFIXES):
            kind = "parquet"
        elif suffixes <= set(CSV_SUFFIXES):
            kind = "csv"
        elif suffixes <= set(CAPTURE_SUFFIXES):
            kind = "capture" if _is_capture(files) else "json"
        else:
            raise DatasetError(f"mixed file types under {source}: {sorted(suffixes)}")
    if kind == "capture":
        return capture_chunks(
            list_files(source, CAPTURE_SUFFIXES),
            feature_order=feature_order,
            start=start,
            end=end,
            capture_index=dataset_format.capture_index,
            chunk_rows=min(chunk_rows, 10_000),
            root=source,
        )
    if kind == "json":
        return jsonlines_chunks(
            list_files(source, CAPTURE_SUFFIXES),
            feature_order=feature_order,
            chunk_rows=chunk_rows,
            root=source,
        )
    if kind == "csv":
        return csv_chunks(
            list_files(source, CSV_SUFFIXES),
            header=dataset_format.header,
            feature_order=feature_order,
            text_columns=text_columns,
            chunk_rows=chunk_rows,
            root=source,
        )
    if kind == "parquet":
        return parquet_chunks(
            list_files(source, PARQUET_SUFFIXES), chunk_rows=chunk_rows, root=source
        )
    raise DatasetError(f"unknown dataset format {kind!r}")
