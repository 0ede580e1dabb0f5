"""Column coercion: any input column (numpy, pandas, pyarrow, lists) to floats or category codes.

Bad values are counted, never raised: a numeric feature that arrives as text gives the number of
values that are not numbers and a few examples, which become a data_type_check violation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Text that means "no value" in CSV and capture payloads; counted as missing, not as a bad type.
MISSING_TOKENS: frozenset[str] = frozenset(
    {"", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL", "None", "none"}
)
_EXAMPLES = 3


# Numeric dtypes a drift run keeps as they arrive and converts one column at a time (window.py):
# a float64 copy of every int64, int32 or float32 column would double the window in memory.
KEPT_KINDS = frozenset("iuf")


@dataclass(frozen=True)
class NumericColumn:
    # NaN where missing or not a number; float64 unless `to_numeric(keep_dtype=True)` kept a
    # plain numpy integer or float column as it came
    values: npt.NDArray[Any]
    not_numbers: int  # present values that are not numbers (counted in values as NaN)
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategoricalColumn:
    # index into `uniques`, -1 where missing; any signed integer width (pandas keeps int8 codes)
    codes: npt.NDArray[np.signedinteger[Any]]
    uniques: tuple[str, ...]


def _is_numeric_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_bool_dtype(dtype)


def _from_text(values: Sequence[Any] | npt.NDArray[Any] | pd.Series) -> NumericColumn:
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    text = series.astype(object)
    blank = text.isna() | text.map(lambda v: isinstance(v, str) and v.strip() in MISSING_TOKENS)
    parsed = pd.to_numeric(text.where(~blank, None), errors="coerce")
    floats = np.asarray(parsed, dtype=np.float64)
    bad = np.isnan(floats) & ~blank.to_numpy(dtype=bool)
    count = int(bad.sum())
    examples: tuple[str, ...] = ()
    if count:
        seen = dict.fromkeys(str(v) for v in text.to_numpy()[bad][: _EXAMPLES * 4])
        examples = tuple(list(seen)[:_EXAMPLES])
    return NumericColumn(values=floats, not_numbers=count, examples=examples)


def _numpy_numeric(column: npt.NDArray[Any], keep_dtype: bool = False) -> NumericColumn:
    if column.dtype == np.float64 or (keep_dtype and column.dtype.kind in KEPT_KINDS):
        return NumericColumn(values=column, not_numbers=0)
    if column.dtype.kind in "iufb":
        return NumericColumn(values=column.astype(np.float64), not_numbers=0)
    return _from_text(column)


def _series_numeric(column: pd.Series, keep_dtype: bool = False) -> NumericColumn:
    if keep_dtype and isinstance(column.dtype, np.dtype) and column.dtype.kind in KEPT_KINDS:
        # A numpy-backed column (no nullable extension type): its array as it is, no copy.
        return NumericColumn(values=column.to_numpy(), not_numbers=0)
    if _is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        floats = column.astype("float64") if pd.api.types.is_bool_dtype(column.dtype) else column
        return NumericColumn(
            values=floats.to_numpy(dtype=np.float64, na_value=np.nan), not_numbers=0
        )
    return _from_text(column)


def _arrow_numeric(column: pa.Array | pa.ChunkedArray) -> NumericColumn:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        floats = pc.cast(column, pa.float64())
        return NumericColumn(
            values=np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64),
            not_numbers=0,
        )
    return _from_text(pd.Series(column.to_pylist(), dtype=object))


def to_numeric(column: Any, keep_dtype: bool = False) -> NumericColumn:
    """Floats of a column; zero-copy for float64 numpy arrays and float64 pandas columns.

    `keep_dtype` also keeps plain numpy integer and float columns (int64 from read_csv, int32,
    float32) as they are, zero-copy: the caller converts them when it uses them.
    """
    if isinstance(column, np.ndarray):
        return _numpy_numeric(column, keep_dtype)
    if isinstance(column, pd.Series):
        return _series_numeric(column, keep_dtype)
    if isinstance(column, pa.ChunkedArray | pa.Array):
        return _arrow_numeric(column)
    return _from_text(list(column))


def canonical_number(value: float) -> str:
    """The category text of a numeric code: 3.0 -> "3", 2.5 -> "2.5"."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(float(value))


def _canonical_uniques(uniques: Sequence[Any], numeric_codes: bool) -> tuple[str, ...]:
    out = []
    for value in uniques:
        if isinstance(value, bool | np.bool_):
            out.append(str(bool(value)))
        elif isinstance(value, int | float | np.integer | np.floating):
            out.append(canonical_number(float(value)))
        elif numeric_codes:
            # Text of a numeric-coded feature (a capture payload): "3", "3.0" and "3e0" agree.
            text = str(value).strip()
            try:
                out.append(canonical_number(float(text)))
            except ValueError:
                out.append(text)
        else:
            out.append(str(value))
    return tuple(out)


def _merge_duplicates(
    codes: npt.NDArray[np.signedinteger[Any]], uniques: tuple[str, ...]
) -> CategoricalColumn:
    """Canonical text can map two raw values ("3", "3.0") to one category: fold their codes."""
    if len(set(uniques)) == len(uniques):
        return CategoricalColumn(codes=codes, uniques=uniques)
    folded = tuple(dict.fromkeys(uniques))
    position = {u: i for i, u in enumerate(folded)}
    lookup = np.array([position[u] for u in uniques] + [-1], dtype=np.int64)
    return CategoricalColumn(codes=lookup[codes], uniques=folded)


def to_categorical(column: Any, numeric_codes: bool = False) -> CategoricalColumn:
    """Category codes of a column; missing values (and missing tokens in text) get code -1.

    Dictionary-encoded input (pandas category, Arrow dictionary) is not re-hashed: only its
    dictionary is converted to text. `numeric_codes` canonicalises text such as "3.0" to "3" for
    features whose baseline categories are numbers (encoded training data).
    """
    if isinstance(column, pa.ChunkedArray | pa.Array):
        encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.unify_dictionaries().combine_chunks()
        indices = pc.fill_null(encoded.indices, -1)
        codes = np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        uniques = _canonical_uniques(encoded.dictionary.to_pylist(), numeric_codes)
        return _drop_missing_tokens(_merge_duplicates(codes, uniques))
    if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()  # int8 for few categories: no widening copy
        uniques = _canonical_uniques(list(column.cat.categories), numeric_codes)
        return _drop_missing_tokens(_merge_duplicates(codes, uniques))
    values = column if isinstance(column, np.ndarray | pd.Series) else _objects(column)
    try:
        raw_codes, raw_uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:
        # Unhashable values (a JSON list or object where a category was expected): their text.
        text = pd.Series(_objects(values)).map(lambda v: v if _is_null(v) else str(v))
        raw_codes, raw_uniques = pd.factorize(text, use_na_sentinel=True)
    uniques = _canonical_uniques(list(raw_uniques), numeric_codes)
    return _drop_missing_tokens(_merge_duplicates(np.asarray(raw_codes, dtype=np.int64), uniques))


def _objects(values: Any) -> npt.NDArray[Any]:
    """An object array of the values as they are (lists stay elements, not a second axis)."""
    out: npt.NDArray[Any] = pd.Series(list(values), dtype=object).to_numpy()
    return out


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _drop_missing_tokens(column: CategoricalColumn) -> CategoricalColumn:
    """Text such as "" or "NA" is a missing value, not a category."""
    missing = [i for i, u in enumerate(column.uniques) if u.strip() in MISSING_TOKENS]
    if not missing:
        return column
    keep = [i for i in range(len(column.uniques)) if i not in set(missing)]
    remap = np.full(len(column.uniques) + 1, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep), dtype=np.int64)
    return CategoricalColumn(
        codes=remap[column.codes], uniques=tuple(column.uniques[i] for i in keep)
    )
