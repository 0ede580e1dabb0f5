"""The current window, accumulated chunk by chunk into a partial result that merges exactly.

exact mode keeps each numeric feature's values (memory: the window's numeric columns) and merges
shards as sorted runs, identical to the whole window; binned mode keeps counts and sums on the
baseline's fixed grid (memory: features x bins, whatever the rows). Categorical counts are exact
in both.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from finmlops.monitoring import formats
from finmlops.monitoring.baseline import Baseline, CategoricalReference, NumericReference
from finmlops.monitoring.columns import to_categorical, to_numeric
from finmlops.monitoring.modes import MODES
from finmlops.monitoring.readers import BadRecord, Chunk, add_samples, frame_chunks
from finmlops.monitoring.stats import Workspace, sort_into

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PARTIAL_FORMAT = "finmlops/monitoring-partial"
PARTIAL_FILE = "partial.json"
_MAX_EXAMPLES = 3
# Chunks smaller than this are counted on one thread (a pool costs more than it saves).
_PARALLEL_ROWS = 50_000


class PartialError(ValueError):
    """Partials that cannot be merged or read; the message says which and why."""


@dataclass
class NumericWindow:
    """One numeric feature of the window."""

    rows_present: int = 0
    missing: int = 0  # null values (NaN); settled by `settle` in exact mode
    not_numbers: int = 0  # present values that are not numbers
    non_finite: int = 0  # +-inf
    non_integral: int = 0  # fractional values of an Integral feature
    examples: list[str] = field(default_factory=list)
    # exact mode: raw chunks until settled, then one sorted run of the finite values
    runs: list[npt.NDArray[Any]] = field(default_factory=list)
    settled: bool = False
    runs_sorted: bool = False
    # binned mode
    counts: IntArray | None = None
    sums: FloatArray | None = None
    edge_counts: IntArray | None = None
    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0  # of (value - reference mean), for a stable variance
    minimum: float = float("inf")
    maximum: float = float("-inf")

    def sorted_finite(
        self, integral: bool, work: Workspace | None = None
    ) -> tuple[FloatArray, tuple[int, int, int]]:
        """Exact mode: the sorted finite values and (missing, non-finite, non-integral) counts.

        Leaves the window as it is; with a workspace the sorted values live in its buffer (valid
        until the workspace is reused), which keeps a drift run's memory to one sorted column per
        worker thread.
        """
        counts = (self.missing, self.non_finite, self.non_integral)
        if self.settled:
            return (self.runs[0] if self.runs else np.empty(0, dtype=np.float64)), counts
        total = sum(r.size for r in self.runs)
        scratch = work if work is not None else Workspace()
        values = work.get("sort", total, np.float64) if work else np.empty(total, np.float64)
        if self.runs_sorted:
            # Sorted runs (merged shards) are merged by timsort in linear time; the shards
            # counted their own missing and invalid values.
            np.concatenate(self.runs, out=values)
            values.sort(kind="stable")
            return values, counts
        if len(self.runs) == 1 and self.runs[0].dtype == np.float64:
            sort_into(self.runs[0], values, scratch)
        elif self.runs:
            # Chunks kept as they came (int64, int32, float32): converted here, one column at a
            # time in this thread's buffer, never all columns at once (exact, as every integer
            # below 2^53 and every float32 is a float64).
            joined = scratch.get("joined", total, np.float64)
            np.concatenate(self.runs, out=joined, casting="same_kind")
            sort_into(joined, values, scratch)
        nan_start = int(np.searchsorted(values, np.nan, "left"))
        finite_start = int(np.searchsorted(values, -np.inf, "right"))
        finite_end = int(np.searchsorted(values, np.inf, "left"))
        finite = values[finite_start:finite_end]
        finite += 0.0  # -0.0 -> 0.0: a merged window gives the same bytes as the whole
        non_integral = 0
        if integral and finite.size:
            whole = work.get("f1", finite.size, np.float64) if work else np.empty_like(finite)
            np.trunc(finite, out=whole)
            non_integral = int(np.count_nonzero(finite != whole))
        return finite, (
            self.missing + values.size - nan_start - self.not_numbers,
            self.non_finite + finite_start + (nan_start - finite_end),
            self.non_integral + non_integral,
        )

    def settle(self, integral: bool) -> FloatArray:
        """Sort once and keep only the finite values (before saving or merging a partial)."""
        finite, (missing, non_finite, non_integral) = self.sorted_finite(integral)
        if not self.settled:
            self.runs = [finite.copy() if finite.base is not None else finite]
            self.missing, self.non_finite, self.non_integral = missing, non_finite, non_integral
            self.settled = True
            self.runs_sorted = True
        return self.runs[0] if self.runs else finite


@dataclass
class CategoricalWindow:
    rows_present: int = 0
    missing: int = 0
    counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unseen: Counter[str] = field(default_factory=Counter)


@dataclass
class WindowPartial:
    """Everything the drift tests need from a window (or from one shard of it)."""

    baseline_id: str
    mode: str
    rows: int = 0
    records: int = 0  # records read well (a capture record may hold several rows)
    malformed: int = 0  # records skipped as unreadable
    outside_window: int = 0
    other_columns: set[str] = field(default_factory=set)
    bad_samples: list[BadRecord] = field(default_factory=list)  # bounded: readers.MAX_BAD_SAMPLES
    numeric: dict[str, NumericWindow] = field(default_factory=dict)
    categorical: dict[str, CategoricalWindow] = field(default_factory=dict)
    shards: list[str] = field(default_factory=list)
    # Input files a shard read (set by the partial command): the merge step checks that the
    # shards together read every object of the window's manifest (docs/decisions/0027).
    files: int = 0


class WindowAccumulator:
    """Feeds chunks into a WindowPartial for one baseline."""

    def __init__(
        self,
        baseline: Baseline,
        mode: str = "exact",
        ignore_columns: Sequence[str] = (),
        threads: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "exact":
            lacking = [n for n, r in baseline.numeric.items() if r.sorted_values is None]
            if lacking:
                raise ValueError(
                    "the baseline keeps no sorted reference for "
                    f"{', '.join(lacking)}: use mode='binned'"
                )
        self.baseline = baseline
        self.mode = mode
        self.threads = threads or os.cpu_count() or 1
        self._local = threading.local()
        self.known = (
            set(baseline.feature_order) | set(baseline.ignored_columns) | set(ignore_columns)
        )
        self.partial = WindowPartial(baseline_id=baseline.baseline_id, mode=mode)
        for name, ref in baseline.numeric.items():
            window = NumericWindow()
            if mode == "binned":
                window.counts = np.zeros(ref.edges.size + 1, dtype=np.int64)
                window.sums = np.zeros(ref.edges.size + 1, dtype=np.float64)
                window.edge_counts = np.zeros(ref.edges.size + 1, dtype=np.int64)
            self.partial.numeric[name] = window
        for name, cat in baseline.categorical.items():
            self.partial.categorical[name] = CategoricalWindow(
                counts=np.zeros(len(cat.categories), dtype=np.int64)
            )
        self._positions = {
            name: {c: i for i, c in enumerate(cat.categories)}
            for name, cat in baseline.categorical.items()
        }

    def _work(self) -> Workspace:
        work: Workspace | None = getattr(self._local, "work", None)
        if work is None:
            work = self._local.work = Workspace()
        return work

    def add(self, chunk: Chunk) -> None:
        part = self.partial
        part.rows += chunk.rows
        part.records += chunk.good_records
        part.malformed += chunk.malformed
        part.outside_window += chunk.outside_window
        add_samples(part.bad_samples, chunk.bad_samples)
        part.other_columns.update(c for c in chunk.columns if c not in self.known)
        numeric = [name for name in self.baseline.numeric if name in chunk.columns]

        def add_numeric(name: str) -> None:
            present = chunk.present_rows.get(name, chunk.rows)
            ref = self.baseline.numeric[name]
            self._add_numeric(ref, part.numeric[name], chunk.columns[name], present)

        parallel = self.mode == "binned" and self.threads > 1 and len(numeric) > 1
        if parallel and chunk.rows >= _PARALLEL_ROWS:
            # Binned counting is the whole cost of a binned run: spread columns over the cores.
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                list(pool.map(add_numeric, numeric))
        else:
            for name in numeric:
                add_numeric(name)
        for name, cat in self.baseline.categorical.items():
            if name in chunk.columns:
                present = chunk.present_rows.get(name, chunk.rows)
                self._add_categorical(cat, part.categorical[name], chunk.columns[name], present)

    def _add_numeric(
        self, ref: NumericReference, window: NumericWindow, raw: Any, present: int
    ) -> None:
        exact = self.mode == "exact"
        column = to_numeric(raw, keep_dtype=exact)
        window.rows_present += present
        window.not_numbers += column.not_numbers
        for example in column.examples:
            if len(window.examples) < _MAX_EXAMPLES and example not in window.examples:
                window.examples.append(example)
        if exact:
            window.runs.append(column.values)  # as it came; sorted_finite converts it
            return
        values = np.asarray(column.values, dtype=np.float64)
        work = self._work()
        finite_mask = np.isfinite(values)
        finite_count = int(np.count_nonzero(finite_mask))
        nan_count = int(np.count_nonzero(np.isnan(values))) if finite_count < values.size else 0
        window.missing += nan_count - column.not_numbers
        window.non_finite += values.size - nan_count - finite_count
        if finite_count == 0:
            return
        finite = values if finite_count == values.size else values[finite_mask]
        scratch = work.get("scratch", finite.size, np.float64)
        if ref.inferred_type == "Integral":
            np.trunc(finite, out=scratch)
            window.non_integral += int(np.count_nonzero(finite != scratch))
        assert window.counts is not None and window.sums is not None
        assert window.edge_counts is not None
        lookup = ref.lookup()
        index = (
            lookup.index(finite, work)
            if lookup is not None
            else np.searchsorted(ref.edges, finite, "left")
        )
        window.counts += np.bincount(index, minlength=window.counts.size)
        window.sums += np.bincount(index, weights=finite, minlength=window.sums.size)
        np.take(ref.edges, index, out=scratch, mode="clip")
        on_edge = work.get("on_edge", finite.size, np.bool_)
        np.equal(scratch, finite, out=on_edge)
        window.edge_counts += np.bincount(index[on_edge], minlength=window.edge_counts.size)
        window.count += finite.size
        window.total += float(np.sum(finite))
        np.subtract(finite, ref.mean, out=scratch)
        np.square(scratch, out=scratch)
        window.total_sq += float(scratch.sum())
        window.minimum = min(window.minimum, float(finite.min()))
        window.maximum = max(window.maximum, float(finite.max()))

    def _add_categorical(
        self, ref: CategoricalReference, window: CategoricalWindow, raw: Any, present: int
    ) -> None:
        column = to_categorical(raw, numeric_codes=ref.numeric_codes)
        window.rows_present += present
        # One bincount over the codes (shifted so "missing" is bin 0) gives every count needed.
        shifted = np.add(column.codes, 1, dtype=np.int64 if column.codes.itemsize > 2 else np.int16)
        per_value = np.bincount(shifted, minlength=len(column.uniques) + 1)
        window.missing += int(per_value[0])
        positions = self._positions[ref.name]
        for value, count in zip(column.uniques, per_value[1:].tolist(), strict=True):
            if not count:
                continue
            index = positions.get(value)
            if index is None:
                window.unseen[value] += count
            else:
                window.counts[index] += count

    def result(self) -> WindowPartial:
        return self.partial


def accumulate(
    baseline: Baseline,
    data: pd.DataFrame | Mapping[str, Any] | Iterable[Chunk] | WindowPartial,
    *,
    mode: str = "exact",
    ignore_columns: Sequence[str] = (),
    threads: int | None = None,
) -> WindowPartial:
    """The window's partial result from a table, a column mapping, chunks, or a partial."""
    if isinstance(data, WindowPartial):
        return data
    accumulator = WindowAccumulator(baseline, mode, ignore_columns, threads)
    chunks = frame_chunks(data) if isinstance(data, pd.DataFrame | Mapping) else data
    for chunk in chunks:
        accumulator.add(chunk)
    return accumulator.result()


# --------------------------------------------------------------------------------------------
# Merging shards


def merge_partials(
    partials: Sequence[WindowPartial], baseline: Baseline | None = None
) -> WindowPartial:
    """One partial from the partials of several shards; exact for counts and exact-mode values.

    Exact-mode partials must be settled (sorted), as save_partial leaves them; given the
    baseline, in-memory partials are settled here.
    """
    if not partials:
        raise PartialError("no partials to merge")
    if baseline is not None:
        for part in partials:
            settle_all(baseline, part)
    first = partials[0]
    for other in partials[1:]:
        if other.baseline_id != first.baseline_id:
            raise PartialError(
                f"partials of different baselines: {first.baseline_id} and {other.baseline_id}"
            )
        if other.mode != first.mode:
            raise PartialError(f"partials of different modes: {first.mode} and {other.mode}")
    merged = WindowPartial(baseline_id=first.baseline_id, mode=first.mode)
    for part in partials:
        merged.rows += part.rows
        merged.records += part.records
        merged.malformed += part.malformed
        merged.outside_window += part.outside_window
        merged.other_columns |= part.other_columns
        add_samples(merged.bad_samples, part.bad_samples)
        merged.shards.extend(part.shards)
        merged.files += part.files
    for name in first.numeric:
        merged.numeric[name] = _merge_numeric([p.numeric[name] for p in partials])
    for name in first.categorical:
        windows = [p.categorical[name] for p in partials]
        total = CategoricalWindow(counts=np.zeros_like(windows[0].counts))
        for window in windows:
            total.rows_present += window.rows_present
            total.missing += window.missing
            total.counts = total.counts + window.counts
            total.unseen.update(window.unseen)
        merged.categorical[name] = total
    return merged


def _merge_numeric(windows: Sequence[NumericWindow]) -> NumericWindow:
    total = NumericWindow()
    for window in windows:
        if window.runs and not window.settled:
            raise PartialError("settle exact-mode partials before merging (save_partial does)")
        total.rows_present += window.rows_present
        total.missing += window.missing
        total.not_numbers += window.not_numbers
        total.non_finite += window.non_finite
        total.non_integral += window.non_integral
        for example in window.examples:
            if len(total.examples) < _MAX_EXAMPLES and example not in total.examples:
                total.examples.append(example)
        total.runs.extend(r for r in window.runs if r.size)
        if window.counts is not None and window.sums is not None:
            assert window.edge_counts is not None
            total.counts = window.counts if total.counts is None else total.counts + window.counts
            total.sums = window.sums if total.sums is None else total.sums + window.sums
            total.edge_counts = (
                window.edge_counts
                if total.edge_counts is None
                else total.edge_counts + window.edge_counts
            )
        total.count += window.count
        total.total += window.total
        total.total_sq += window.total_sq
        total.minimum = min(total.minimum, window.minimum)
        total.maximum = max(total.maximum, window.maximum)
    # Settled runs are sorted and already counted: merging them must not count again.
    total.runs_sorted = True
    total.settled = len(total.runs) <= 1
    return total


def settle_all(baseline: Baseline, partial: WindowPartial) -> WindowPartial:
    """Sort the exact-mode values of every numeric feature (before saving or merging)."""
    if partial.mode == "exact":
        for name, window in partial.numeric.items():
            window.settle(baseline.numeric[name].inferred_type == "Integral")
    return partial


# --------------------------------------------------------------------------------------------
# Partials on disk: partial.json + arrays/*.npy (one directory per shard)


def save_partial(
    baseline: Baseline, partial: WindowPartial, directory: str | Path, shard: str = ""
) -> Path:
    settle_all(baseline, partial)
    root = Path(directory)
    (root / "arrays").mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}

    def put(relative: str, array: npt.NDArray[Any]) -> str:
        path = root / relative
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        hashes[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
        return relative

    numeric: dict[str, Any] = {}
    for index, (name, window) in enumerate(partial.numeric.items()):
        entry: dict[str, Any] = {
            "rows_present": window.rows_present,
            "missing": window.missing,
            "not_numbers": window.not_numbers,
            "non_finite": window.non_finite,
            "non_integral": window.non_integral,
            "examples": window.examples,
        }
        if partial.mode == "exact":
            entry["values"] = put(f"arrays/{index:04d}.values.npy", window.runs[0])
        else:
            assert window.counts is not None and window.sums is not None
            assert window.edge_counts is not None
            entry |= {
                "counts": put(f"arrays/{index:04d}.counts.npy", window.counts),
                "sums": put(f"arrays/{index:04d}.sums.npy", window.sums),
                "edge_counts": put(f"arrays/{index:04d}.edge_counts.npy", window.edge_counts),
                "count": window.count,
                "total": window.total,
                "total_sq": window.total_sq,
                "min": window.minimum if window.count else None,
                "max": window.maximum if window.count else None,
            }
        numeric[name] = entry
    categorical = {
        name: {
            "rows_present": window.rows_present,
            "missing": window.missing,
            "counts": [int(c) for c in window.counts],
            "unseen": dict(sorted(window.unseen.items())),
        }
        for name, window in partial.categorical.items()
    }
    document = {
        "format": PARTIAL_FORMAT,
        "baseline_id": partial.baseline_id,
        "mode": partial.mode,
        "shards": partial.shards or ([shard] if shard else []),
        "rows": partial.rows,
        "files": partial.files,
        "records": partial.records,
        "malformed": partial.malformed,
        "outside_window": partial.outside_window,
        "other_columns": sorted(partial.other_columns),
        "bad_records": [b.to_dict() for b in partial.bad_samples],
        "numeric": numeric,
        "categorical": categorical,
        "array_sha256": hashes,
    }
    return formats.write_json(root / PARTIAL_FILE, document)


def load_partial(path: str | Path) -> WindowPartial:
    file = Path(path)
    root = file.parent if file.is_file() else file
    try:
        document = json.loads((root / PARTIAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PartialError(f"{root / PARTIAL_FILE} cannot be read: {exc}") from None
    if document.get("format") != PARTIAL_FORMAT:
        raise PartialError(f"{root / PARTIAL_FILE} is not a {PARTIAL_FORMAT} file")
    if "bad_records" not in document or "records" not in document:
        # Shards of one run come from one image: a partial without them is from an older one.
        raise PartialError(
            f"{root / PARTIAL_FILE} records no bad records: written by an older engine"
        )

    def array(relative: str) -> npt.NDArray[Any]:
        data = (root / relative).read_bytes()
        if hashlib.sha256(data).hexdigest() != document["array_sha256"].get(relative):
            raise PartialError(f"{root / relative} does not match its sha256 in {PARTIAL_FILE}")
        loaded: npt.NDArray[Any] = np.load(root / relative, allow_pickle=False)
        return loaded

    partial = WindowPartial(
        baseline_id=document["baseline_id"],
        mode=document["mode"],
        rows=document["rows"],
        records=document["records"],
        malformed=document["malformed"],
        outside_window=document["outside_window"],
        other_columns=set(document["other_columns"]),
        bad_samples=[
            BadRecord(str(b["file"]), int(b["line"]), str(b["reason"]))
            for b in document["bad_records"]
        ],
        shards=list(document["shards"]),
        files=int(document.get("files", 0)),
    )
    for name, entry in document["numeric"].items():
        window = NumericWindow(
            rows_present=entry["rows_present"],
            missing=entry["missing"],
            not_numbers=entry["not_numbers"],
            non_finite=entry["non_finite"],
            non_integral=entry["non_integral"],
            examples=list(entry["examples"]),
        )
        if document["mode"] == "exact":
            window.runs = [array(entry["values"])]
            window.settled = True
            window.runs_sorted = True
        else:
            window.counts = array(entry["counts"])
            window.sums = array(entry["sums"])
            window.edge_counts = array(entry["edge_counts"])
            window.count = entry["count"]
            window.total = entry["total"]
            window.total_sq = entry["total_sq"]
            window.minimum = entry["min"] if entry["min"] is not None else float("inf")
            window.maximum = entry["max"] if entry["max"] is not None else float("-inf")
        partial.numeric[name] = window
    for name, entry in document["categorical"].items():
        partial.categorical[name] = CategoricalWindow(
            rows_present=entry["rows_present"],
            missing=entry["missing"],
            counts=np.array(entry["counts"], dtype=np.int64),
            unseen=Counter(entry["unseen"]),
        )
    return partial


def find_partials(root: str | Path) -> list[Path]:
    """Every partial.json under `root`, in a fixed order."""
    return sorted(Path(root).rglob(PARTIAL_FILE))
