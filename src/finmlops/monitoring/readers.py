"""Chunked readers: SageMaker data-capture JSON lines, CSV, JSON lines and Parquet.

Every reader yields `Chunk`s of at most `chunk_rows` rows, so reading holds one chunk at a time;
what is kept across chunks is the accumulator's business (window.py). Bad records are counted and
described, never raised.
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


class DatasetError(ValueError):
    """The dataset cannot be read at all (no files, unknown format); the message says why."""


@dataclass(frozen=True)
class Chunk:
    """Columns of up to `rows` rows; any column type columns.py understands."""

    columns: Mapping[str, Any]
    rows: int
    # Per column, the rows that carried a field at all (positional payloads can be short).
    present_rows: Mapping[str, int] = field(default_factory=dict)
    malformed: int = 0  # records that could not be parsed (not in `rows`)
    outside_window: int = 0  # capture records outside [start, end) (not in `rows`)
    notes: tuple[str, ...] = ()


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


def csv_chunks(
    paths: Iterable[Path],
    *,
    header: bool = True,
    feature_order: Sequence[str] = (),
    text_columns: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[Chunk]:
    """CSV files read `chunk_rows` at a time; headerless files are named by `feature_order`."""
    import pandas as pd

    for path in paths:
        if header:
            dtype = dict.fromkeys(text_columns, "str")
            reader = pd.read_csv(path, chunksize=chunk_rows, dtype=dtype, low_memory=False)
        else:
            reader = pd.read_csv(
                path, chunksize=chunk_rows, header=None, dtype="str", keep_default_na=True
            )
        with reader:
            for frame in reader:
                if not header:
                    frame.columns = [
                        _positional_name(i, feature_order) for i in range(frame.shape[1])
                    ]
                yield Chunk(columns={str(c): frame[c] for c in frame.columns}, rows=len(frame))


def parquet_chunks(
    paths: Iterable[Path], *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[Chunk]:
    """Parquet record batches as Arrow columns (dictionary pages stay dictionary-encoded)."""
    import pyarrow.parquet as pq

    for path in paths:
        handle = pq.ParquetFile(path)
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
        self.malformed = 0
        self.outside = 0
        self.notes: list[str] = []

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
            notes=tuple(dict.fromkeys(self.notes)),
        )
        self.rows = []
        self.malformed = 0
        self.outside = 0
        self.notes = []
        return chunk


def capture_chunks(
    paths: Iterable[Path],
    *,
    feature_order: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    capture_index: str = "endpointInput",
    chunk_rows: int = 10_000,
) -> Iterator[Chunk]:
    """Feature rows from SageMaker data-capture files, filtered to [start, end) by inferenceTime.

    Model Monitor may hand the job more hours than the window ("we sometimes download more than
    what is specified"), so the filter is the container's job.
    """
    buffer = _RowBuffer(feature_order)
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    meta = record.get("eventMetadata") or {}
                    when = parse_time(meta.get("inferenceTime"))
                    if when is not None and (
                        (start is not None and when < start) or (end is not None and when >= end)
                    ):
                        buffer.outside += 1
                        continue
                    payload = record["captureData"][capture_index]
                    rows = decode_payload(payload)
                except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                    buffer.malformed += 1
                    buffer.notes.append(f"{path.name}:{number}: unreadable capture record ({exc})")
                    continue
                buffer.rows.extend(rows)
                if len(buffer.rows) >= chunk_rows:
                    yield buffer.flush()
    if buffer.rows or buffer.malformed or buffer.outside:
        yield buffer.flush()


def jsonlines_chunks(
    paths: Iterable[Path], *, feature_order: Sequence[str], chunk_rows: int = 10_000
) -> Iterator[Chunk]:
    """JSON lines of records (objects by feature name, or arrays in feature order)."""
    buffer = _RowBuffer(feature_order)
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    buffer.rows.extend(_json_rows(json.loads(line)))
                except ValueError as exc:
                    buffer.malformed += 1
                    buffer.notes.append(f"{path.name}:{number}: not JSON ({exc})")
                if len(buffer.rows) >= chunk_rows:
                    yield buffer.flush()
    if buffer.rows or buffer.malformed:
        yield buffer.flush()


def _is_capture(path: Path) -> bool:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    return "captureData" in json.loads(line)
                except ValueError:
                    return False
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
            kind = "capture" if _is_capture(files[0]) else "json"
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
        )
    if kind == "json":
        return jsonlines_chunks(
            list_files(source, CAPTURE_SUFFIXES), feature_order=feature_order, chunk_rows=chunk_rows
        )
    if kind == "csv":
        return csv_chunks(
            list_files(source, CSV_SUFFIXES),
            header=dataset_format.header,
            feature_order=feature_order,
            text_columns=text_columns,
            chunk_rows=chunk_rows,
        )
    if kind == "parquet":
        return parquet_chunks(list_files(source, PARQUET_SUFFIXES), chunk_rows=chunk_rows)
    raise DatasetError(f"unknown dataset format {kind!r}")
