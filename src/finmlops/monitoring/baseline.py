"""The baseline: per feature type, completeness and a reference distribution prepared once.

A baseline is compiled from the training data of one model version and saved as a versioned
artifact (baseline.json + arrays/*.npy, content-addressed by `baseline_id`) next to Model
Monitor's statistics.json and constraints.json. Numeric features keep the sorted reference values
(for the exact engine), fixed reference decile edges (PSI, JS) and a fine quantile grid with
counts and sums (for the binned engine); categorical features keep their dictionary and counts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from finmlops.config import DriftThresholds
from finmlops.monitoring import formats
from finmlops.monitoring.columns import to_categorical, to_numeric
from finmlops.monitoring.readers import Chunk, frame_chunks
from finmlops.monitoring.stats import BinLookup, PreparedReference, bin_counts_sorted

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ARTIFACT_FORMAT = "finmlops/monitoring-baseline"
FORMAT_VERSION = 1
MANIFEST_FILE = "baseline.json"
ARRAYS_DIR = "arrays"
DEFAULT_FINE_BINS = 2048
# The most extreme reference values are edges of their own: the open-ended tail bins would
# otherwise be wide, and the binned W1 bound is dominated by bin width times bin mass.
TAIL_EDGES = 256
DECILES = tuple(round(0.1 * k, 1) for k in range(1, 10))
# constraints.json lists the domain of a categorical feature up to this many categories.
MAX_DOMAIN = 1000


class BaselineError(ValueError):
    """The baseline cannot be built or loaded; the message names the column or file."""


@dataclass(frozen=True)
class ModelIdentity:
    """Which model version a baseline belongs to; compared field by field where both are set."""

    model_id: str
    model_version: str = ""
    model_package_arn: str = ""
    data_fingerprint: str = ""

    def mismatches(self, expected: ModelIdentity) -> list[str]:
        problems = []
        for item in fields(self):
            have = getattr(self, item.name)
            want = getattr(expected, item.name)
            if have and want and have != want:
                problems.append(f"{item.name} is {have!r} in the baseline, expected {want!r}")
        return problems

    # The version number and package ARN are assigned by CreateModelPackage, after the model
    # build's baseline step has run: a baseline built in the pipeline cannot record them. It is
    # bound to its version by the registry instead (the version's DriftCheckBaselines name the
    # baseline's folder, the deployment reads the baseline from there, and the artifact's content
    # id is verified on load). Their absence is therefore no gap in the baseline.
    ASSIGNED_AT_REGISTRATION = ("model_version", "model_package_arn")

    def unverified(self, expected: ModelIdentity) -> list[str]:
        """Fields the deployment expects that the baseline could have recorded and did not."""
        return [
            item.name
            for item in fields(self)
            if item.name not in self.ASSIGNED_AT_REGISTRATION
            and getattr(expected, item.name)
            and not getattr(self, item.name)
        ]

    def to_dict(self) -> dict[str, str]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True, eq=False)
class NumericReference:
    name: str
    inferred_type: str  # "Integral" | "Fractional"
    count: int  # finite values
    missing: int
    mean: float
    std: float
    minimum: float
    maximum: float
    total: float
    decile_edges: FloatArray
    decile_counts: IntArray
    edges: FloatArray  # fine grid: quantiles k/K, the decile edges, the extreme values
    counts: IntArray  # values per right-closed bin (-inf, e1], (e1, e2], ..., (eK, inf)
    sums: FloatArray  # sum of the values per bin
    edge_counts: IntArray  # values equal to the bin's right edge
    sorted_values: FloatArray | None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def completeness(self) -> float:
        rows = self.count + self.missing
        return self.count / rows if rows else 0.0

    def prepared(self) -> PreparedReference:
        """Sorted values with prefix sums for the exact engine, computed once and kept."""
        if self.sorted_values is None:
            raise BaselineError(
                f"feature {self.name!r}: the baseline keeps no sorted reference "
                "(built with keep_sorted_reference=False); use mode='binned'"
            )
        if "exact" not in self._cache:
            self._cache["exact"] = PreparedReference.from_sorted(self.sorted_values)
        prepared: PreparedReference = self._cache["exact"]
        return prepared

    def lookup(self) -> BinLookup | None:
        """The binned engine's cell table over the middle 99.8 % of the reference."""
        if "lookup" not in self._cache:
            cumulative = np.cumsum(self.counts[:-1])
            last = self.edges.size - 1
            low = self.edges[min(int(np.searchsorted(cumulative, 0.001 * self.count)), last)]
            high = self.edges[min(int(np.searchsorted(cumulative, 0.999 * self.count)), last)]
            self._cache["lookup"] = BinLookup.build(self.edges, float(low), float(high))
        lookup: BinLookup | None = self._cache["lookup"]
        return lookup


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    name: str
    inferred_type: str  # "String"
    numeric_codes: bool  # categories are numbers (label-encoded training data)
    categories: tuple[str, ...]
    counts: IntArray
    missing: int
    # The category each code stands for, parallel to `categories`, when the training data was
    # label-encoded and the encoder's dictionary was given ("" for a code it does not know).
    labels: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @property
    def completeness(self) -> float:
        rows = self.count + self.missing
        return self.count / rows if rows else 0.0


@dataclass(frozen=True, eq=False)
class Baseline:
    identity: ModelIdentity
    feature_order: tuple[str, ...]
    numeric: Mapping[str, NumericReference]
    categorical: Mapping[str, CategoricalReference]
    rows: int
    ignored_columns: tuple[str, ...] = ()
    data_fingerprint: str = ""
    drift_thresholds: Mapping[str, float] | None = None
    dataset_drift_share: float | None = None
    baseline_id: str = ""

    @property
    def features(self) -> tuple[str, ...]:
        return self.feature_order

    def thresholds(self) -> DriftThresholds:
        """The thresholds recorded with the baseline, or the config defaults."""
        if self.drift_thresholds is None:
            return DriftThresholds()
        return DriftThresholds(**dict(self.drift_thresholds))

    def prepare(self) -> Baseline:
        """Compute the exact engine's prefix sums now, so a drift run pays only for its window."""
        for ref in self.numeric.values():
            if ref.sorted_values is not None:
                ref.prepared()
            ref.lookup()
        return self


# --------------------------------------------------------------------------------------------
# Building


class _Collector:
    """Per-feature state while the training data streams through."""

    def __init__(self, numeric: Sequence[str], categorical: Sequence[str]) -> None:
        self.numeric: dict[str, list[FloatArray]] = {c: [] for c in numeric}
        self.categorical: dict[str, Counter[str]] = {c: Counter() for c in categorical}
        self.numeric_codes: dict[str, bool] = dict.fromkeys(categorical, True)
        self.missing: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.rows = 0
        self.digest = hashlib.sha256()

    def add(self, chunk: Chunk) -> None:
        self.rows += chunk.rows
        self.seen.update(chunk.columns)
        for name, parts in self.numeric.items():
            if name not in chunk.columns:
                continue
            column = to_numeric(chunk.columns[name])
            if column.not_numbers:
                raise BaselineError(
                    f"numeric feature {name!r} has {column.not_numbers} value(s) that are not "
                    f"numbers, e.g. {list(column.examples)}; fix the training data or list the "
                    "feature as categorical"
                )
            values = np.asarray(column.values, dtype=np.float64)
            parts.append(values)
            self.digest.update(name.encode() + b"\0" + np.ascontiguousarray(values).tobytes())
        for name, counter in self.categorical.items():
            if name not in chunk.columns:
                continue
            raw = chunk.columns[name]
            self.numeric_codes[name] &= _is_numeric_column(raw)
            encoded = to_categorical(raw, numeric_codes=False)
            counts = np.bincount(encoded.codes[encoded.codes >= 0], minlength=len(encoded.uniques))
            for value, count in zip(encoded.uniques, counts.tolist(), strict=True):
                if count:
                    counter[value] += count
            self.missing[name] += int(np.count_nonzero(encoded.codes < 0))
            self.digest.update(name.encode() + b"\0")
            for value in encoded.uniques:
                self.digest.update(value.encode() + b"\0")
            self.digest.update(encoded.codes.astype(np.int64).tobytes())


def _is_numeric_column(column: Any) -> bool:
    dtype = getattr(column, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):
        return bool(pd.api.types.is_numeric_dtype(dtype.categories.dtype))
    if dtype is not None:
        return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_bool_dtype(dtype)
    kind = getattr(column, "type", None)
    if isinstance(kind, pa.DataType):
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))
    return False


def _numeric_reference(
    name: str, parts: list[FloatArray], fine_bins: int, keep: bool
) -> NumericReference:
    values = np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.float64)
    finite_end = int(np.searchsorted(values, np.inf, "left"))
    finite_start = int(np.searchsorted(values, -np.inf, "right"))
    nan_start = int(np.searchsorted(values, np.nan, "left"))
    if finite_start > 0 or nan_start > finite_end:
        raise BaselineError(
            f"numeric feature {name!r} has {finite_start + nan_start - finite_end} infinite "
            "value(s) in the baseline data"
        )
    missing = values.size - nan_start
    reference = values[:finite_end] + 0.0  # + 0.0 turns -0.0 into 0.0: same bytes every time
    if reference.size == 0:
        raise BaselineError(f"numeric feature {name!r} has no values in the baseline data")
    integral = bool(np.all(reference == np.trunc(reference)))
    deciles = np.unique(np.quantile(reference, DECILES))
    grid = np.quantile(reference, np.arange(1, fine_bins) / fine_bins)
    tails = np.concatenate([reference[:TAIL_EDGES], reference[-TAIL_EDGES:]])
    edges = np.unique(np.concatenate([grid, deciles, tails]))
    counts = bin_counts_sorted(reference, edges)
    at_edge = np.searchsorted(reference, edges, "right") - np.searchsorted(reference, edges, "left")
    edge_counts = np.concatenate([at_edge, [0]]).astype(np.int64)
    sums = np.bincount(
        np.repeat(np.arange(counts.size), counts), weights=reference, minlength=counts.size
    ).astype(np.float64)
    return NumericReference(
        name=name,
        inferred_type="Integral" if integral else "Fractional",
        count=int(reference.size),
        missing=int(missing),
        mean=float(np.mean(reference)),
        std=float(np.std(reference)),
        minimum=float(reference[0]),
        maximum=float(reference[-1]),
        total=float(np.sum(reference)),
        decile_edges=deciles.astype(np.float64),
        decile_counts=bin_counts_sorted(reference, deciles),
        edges=edges.astype(np.float64),
        counts=counts,
        sums=sums,
        edge_counts=edge_counts,
        sorted_values=reference if keep else None,
    )


def code_labels(categories: Sequence[str], names: Sequence[str] | None) -> tuple[str, ...]:
    """The name of each category that is an encoder code (`"0"`, `"1.0"`), parallel to
    `categories`; () without a dictionary. A value that is no code of it maps to ""."""
    if not names:
        return ()
    labels = []
    for value in categories:
        try:
            number = float(value)
        except ValueError:
            labels.append("")
            continue
        index = int(number) if number.is_integer() else -1
        labels.append(str(names[index]) if 0 <= index < len(names) else "")
    return tuple(labels) if any(labels) else ()


def build_baseline(
    data: pd.DataFrame | Mapping[str, Any] | Iterable[Chunk],
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    *,
    identity: ModelIdentity | str,
    ignore_columns: Sequence[str] = (),
    thresholds: DriftThresholds | None = None,
    dataset_drift_share: float | None = None,
    data_fingerprint: str | None = None,
    fine_bins: int = DEFAULT_FINE_BINS,
    keep_sorted_reference: bool = True,
    category_names: Mapping[str, Sequence[str]] | None = None,
) -> Baseline:
    """Compile the baseline of one model version from its training data.

    `category_names` is the encoder's dictionary of a label-encoded categorical feature (code k
    stands for `category_names[feature][k]`, as preprocess's encoders.json lists them): the
    drift report then shows names, not codes.

    `data` is a DataFrame, a mapping of columns, or chunks from a reader (readers.py). Without
    feature lists, numeric-typed columns are numeric features and the others categorical.
    `keep_sorted_reference=False` keeps only the binned summary (no raw training values in the
    artifact; the drift run then uses mode="binned").
    """
    if fine_bins < 10:
        raise BaselineError("fine_bins must be at least 10")
    model = identity if isinstance(identity, ModelIdentity) else ModelIdentity(model_id=identity)
    chunks = iter(frame_chunks(data)) if isinstance(data, pd.DataFrame | Mapping) else iter(data)
    first = next(chunks, None)
    if first is None:
        raise BaselineError("the baseline data is empty (no rows)")
    ignored = tuple(ignore_columns)
    if numeric is None and categorical is None:
        columns = [c for c in first.columns if c not in ignored]
        numeric = [c for c in columns if _is_numeric_column(first.columns[c])]
        categorical = [c for c in columns if c not in set(numeric)]
    numeric = tuple(numeric or ())
    categorical = tuple(categorical or ())
    twice = sorted(set(numeric) & set(categorical))
    if twice:
        raise BaselineError(f"listed as both numeric and categorical: {', '.join(twice)}")
    if not numeric and not categorical:
        raise BaselineError("no features: give numeric and/or categorical feature names")
    collector = _Collector(numeric, categorical)
    collector.add(first)
    for chunk in chunks:
        collector.add(chunk)
    absent = [c for c in (*numeric, *categorical) if c not in collector.seen]
    if absent:
        raise BaselineError(f"feature column(s) not in the baseline data: {', '.join(absent)}")
    if collector.rows == 0:
        raise BaselineError("the baseline data is empty (no rows)")
    order = [c for c in first.columns if c in set(numeric) | set(categorical)]
    order += [c for c in (*numeric, *categorical) if c not in order]
    numeric_refs = {
        name: _numeric_reference(name, collector.numeric[name], fine_bins, keep_sorted_reference)
        for name in numeric
    }
    categorical_refs: dict[str, CategoricalReference] = {}
    for name in categorical:
        counter = collector.categorical[name]
        if not counter:
            raise BaselineError(f"categorical feature {name!r} has no values in the baseline data")
        categories = tuple(sorted(counter))
        categorical_refs[name] = CategoricalReference(
            name=name,
            inferred_type="String",
            numeric_codes=collector.numeric_codes[name],
            categories=categories,
            counts=np.array([counter[c] for c in categories], dtype=np.int64),
            missing=collector.missing[name],
            labels=code_labels(categories, (category_names or {}).get(name)),
        )
    baseline = Baseline(
        identity=model,
        feature_order=tuple(order),
        numeric=numeric_refs,
        categorical=categorical_refs,
        rows=collector.rows,
        ignored_columns=ignored,
        data_fingerprint=data_fingerprint or "sha256:" + collector.digest.hexdigest(),
        drift_thresholds=thresholds.model_dump() if thresholds is not None else None,
        dataset_drift_share=dataset_drift_share,
    )
    return _with_id(baseline)


# --------------------------------------------------------------------------------------------
# The artifact


def _array_files(baseline: Baseline) -> dict[str, npt.NDArray[Any]]:
    files: dict[str, npt.NDArray[Any]] = {}
    for index, name in enumerate(baseline.feature_order):
        ref = baseline.numeric.get(name)
        if ref is None:
            continue
        stem = f"{ARRAYS_DIR}/{index:04d}"
        files[f"{stem}.decile_edges.npy"] = ref.decile_edges
        files[f"{stem}.decile_counts.npy"] = ref.decile_counts
        files[f"{stem}.edges.npy"] = ref.edges
        files[f"{stem}.counts.npy"] = ref.counts
        files[f"{stem}.sums.npy"] = ref.sums
        files[f"{stem}.edge_counts.npy"] = ref.edge_counts
        if ref.sorted_values is not None:
            files[f"{stem}.sorted.npy"] = ref.sorted_values
    return files


def _npy_bytes(array: npt.NDArray[Any]) -> bytes:
    buffer = _Buffer()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _manifest(baseline: Baseline, hashes: Mapping[str, str]) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for index, name in enumerate(baseline.feature_order):
        if name in baseline.numeric:
            ref = baseline.numeric[name]
            stem = f"{ARRAYS_DIR}/{index:04d}"
            features.append(
                {
                    "name": name,
                    "kind": "numeric",
                    "inferred_type": ref.inferred_type,
                    "count": ref.count,
                    "missing": ref.missing,
                    "mean": ref.mean,
                    "std": ref.std,
                    "min": ref.minimum,
                    "max": ref.maximum,
                    "sum": ref.total,
                    "arrays": {
                        key: f"{stem}.{key}.npy"
                        for key in (
                            "decile_edges",
                            "decile_counts",
                            "edges",
                            "counts",
                            "sums",
                            "edge_counts",
                        )
                    }
                    | ({"sorted": f"{stem}.sorted.npy"} if ref.sorted_values is not None else {}),
                }
            )
        else:
            cat = baseline.categorical[name]
            features.append(
                {
                    "name": name,
                    "kind": "categorical",
                    "inferred_type": cat.inferred_type,
                    "numeric_codes": cat.numeric_codes,
                    "missing": cat.missing,
                    "categories": list(cat.categories),
                    "counts": [int(c) for c in cat.counts],
                    **({"labels": list(cat.labels)} if cat.labels else {}),
                }
            )
    return {
        "format": ARTIFACT_FORMAT,
        "format_version": FORMAT_VERSION,
        "model": baseline.identity.to_dict(),
        "rows": baseline.rows,
        "data_fingerprint": baseline.data_fingerprint,
        "feature_order": list(baseline.feature_order),
        "ignored_columns": list(baseline.ignored_columns),
        "drift_thresholds": dict(baseline.drift_thresholds) if baseline.drift_thresholds else None,
        "dataset_drift_share": baseline.dataset_drift_share,
        "features": features,
        "array_sha256": dict(sorted(hashes.items())),
    }


def _content_id(manifest: Mapping[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "baseline_id"}
    return "sha256:" + hashlib.sha256(formats.canonical_json(body).encode()).hexdigest()


def _with_id(baseline: Baseline) -> Baseline:
    hashes = {
        path: hashlib.sha256(_npy_bytes(array)).hexdigest()
        for path, array in _array_files(baseline).items()
    }
    object.__setattr__(baseline, "baseline_id", _content_id(_manifest(baseline, hashes)))
    return baseline


def statistics_document(baseline: Baseline) -> dict[str, Any]:
    """Model Monitor statistics.json of the baseline data."""
    features: list[dict[str, Any]] = []
    for name in baseline.feature_order:
        if name in baseline.numeric:
            ref = baseline.numeric[name]
            sorted_values = ref.sorted_values
            buckets = None
            if sorted_values is None:
                buckets = _bucket_list(
                    ref.decile_edges, ref.decile_counts, ref.minimum, ref.maximum
                )
            features.append(
                {
                    "name": name,
                    "inferred_type": ref.inferred_type,
                    "numerical_statistics": formats.numerical_statistics(
                        present=ref.count,
                        missing=ref.missing,
                        total=ref.total,
                        mean=ref.mean,
                        std=ref.std,
                        minimum=ref.minimum,
                        maximum=ref.maximum,
                        sorted_values=sorted_values,
                        buckets=buckets,
                    ),
                }
            )
        else:
            cat = baseline.categorical[name]
            features.append(
                {
                    "name": name,
                    "inferred_type": cat.inferred_type,
                    "string_statistics": formats.string_statistics(
                        present=cat.count,
                        missing=cat.missing,
                        categories=cat.categories,
                        counts=[int(c) for c in cat.counts],
                    ),
                }
            )
    return {"version": 0, "dataset": {"item_count": baseline.rows}, "features": features}


def _bucket_list(
    edges: FloatArray, counts: IntArray, low: float, high: float
) -> list[dict[str, float]]:
    bounds = np.concatenate([[low], edges, [high]])
    return [
        {"lower_bound": float(bounds[i]), "upper_bound": float(bounds[i + 1]), "count": float(c)}
        for i, c in enumerate(counts.tolist())
    ]


def constraints_document(baseline: Baseline) -> dict[str, Any]:
    """Model Monitor constraints.json of the baseline."""
    features: list[dict[str, Any]] = []
    for name in baseline.feature_order:
        if name in baseline.numeric:
            ref = baseline.numeric[name]
            features.append(
                {
                    "name": name,
                    "inferred_type": ref.inferred_type,
                    "completeness": ref.completeness,
                    "num_constraints": {"is_non_negative": ref.minimum >= 0},
                }
            )
        else:
            cat = baseline.categorical[name]
            entry: dict[str, Any] = {
                "name": name,
                "inferred_type": cat.inferred_type,
                "completeness": cat.completeness,
            }
            if len(cat.categories) <= MAX_DOMAIN:
                entry["string_constraints"] = {"domains": list(cat.categories)}
            features.append(entry)
    return {
        "version": 0,
        "features": features,
        "monitoring_config": formats.monitoring_config(0.1),
    }


def save_baseline(baseline: Baseline, directory: str | Path) -> dict[str, Path]:
    """Write the artifact, statistics.json and constraints.json; returns the written paths."""
    root = Path(directory)
    (root / ARRAYS_DIR).mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    hashes: dict[str, str] = {}
    for relative, array in _array_files(baseline).items():
        data = _npy_bytes(array)
        hashes[relative] = hashlib.sha256(data).hexdigest()
        path = root / relative
        path.write_bytes(data)
        written[relative] = path
    manifest = _manifest(baseline, hashes) | {"baseline_id": baseline.baseline_id}
    written[MANIFEST_FILE] = formats.write_json(root / MANIFEST_FILE, manifest)
    written[formats.STATISTICS_FILE] = formats.write_json(
        root / formats.STATISTICS_FILE, statistics_document(baseline)
    )
    written[formats.CONSTRAINTS_FILE] = formats.write_json(
        root / formats.CONSTRAINTS_FILE, constraints_document(baseline)
    )
    return written


def find_artifact(path: str | Path) -> Path:
    """The artifact directory from itself, its baseline.json, or a file next to it."""
    candidate = Path(path)
    if candidate.is_file():
        candidate = candidate.parent
    if (candidate / MANIFEST_FILE).is_file():
        return candidate
    raise BaselineError(
        f"no {MANIFEST_FILE} in {candidate}: pass the directory the baseline step wrote"
    )


def load_baseline(path: str | Path, *, verify: bool = True, mmap: bool = False) -> Baseline:
    """Read an artifact; with `verify`, every array must match its recorded sha256."""
    root = find_artifact(path)
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{root / MANIFEST_FILE} cannot be read: {exc}") from None
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise BaselineError(f"{root / MANIFEST_FILE} is not a {ARTIFACT_FORMAT} artifact")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BaselineError(
            f"{root / MANIFEST_FILE} has format_version {manifest.get('format_version')}, "
            f"this engine reads {FORMAT_VERSION}"
        )
    hashes: dict[str, str] = manifest["array_sha256"]

    def array(relative: str) -> npt.NDArray[Any]:
        file = root / relative
        if verify:
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            if digest != hashes.get(relative):
                raise BaselineError(f"{file} does not match its sha256 in {MANIFEST_FILE}")
        loaded: npt.NDArray[Any] = np.load(
            file, mmap_mode="r" if mmap else None, allow_pickle=False
        )
        return loaded

    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    for item in manifest["features"]:
        name = item["name"]
        if item["kind"] == "numeric":
            arrays = item["arrays"]
            numeric[name] = NumericReference(
                name=name,
                inferred_type=item["inferred_type"],
                count=item["count"],
                missing=item["missing"],
                mean=item["mean"],
                std=item["std"],
                minimum=item["min"],
                maximum=item["max"],
                total=item["sum"],
                decile_edges=array(arrays["decile_edges"]),
                decile_counts=array(arrays["decile_counts"]),
                edges=array(arrays["edges"]),
                counts=array(arrays["counts"]),
                sums=array(arrays["sums"]),
                edge_counts=array(arrays["edge_counts"]),
                sorted_values=array(arrays["sorted"]) if "sorted" in arrays else None,
            )
        else:
            categorical[name] = CategoricalReference(
                name=name,
                inferred_type=item["inferred_type"],
                numeric_codes=item["numeric_codes"],
                categories=tuple(item["categories"]),
                counts=np.array(item["counts"], dtype=np.int64),
                missing=item["missing"],
                labels=tuple(item.get("labels") or ()),
            )
    model = manifest["model"]
    baseline = Baseline(
        identity=ModelIdentity(**model),
        feature_order=tuple(manifest["feature_order"]),
        numeric=numeric,
        categorical=categorical,
        rows=manifest["rows"],
        ignored_columns=tuple(manifest["ignored_columns"]),
        data_fingerprint=manifest["data_fingerprint"],
        drift_thresholds=manifest["drift_thresholds"],
        dataset_drift_share=manifest["dataset_drift_share"],
        baseline_id=manifest["baseline_id"],
    )
    if verify and _content_id(manifest) != manifest["baseline_id"]:
        raise BaselineError(f"{root / MANIFEST_FILE}: baseline_id does not match its content")
    return baseline
