"""Preprocess step: validate, encode and split the dataset for SageMaker's built-in XGBoost.

Runs unchanged inside a SageMaker processing job (sklearn image) and locally. It imports only
numpy and pandas so the single file can be shipped as the job's code. Outputs, one folder each:

- train/, validation/: CSV, label first, no header (the built-in XGBoost contract)
- test/: the same layout plus `groups.csv` (the protected attributes of each test row, one column
  each, for fairness; kept even when a protected column is a leakage column)
- baseline/: the training features with a header (input of the monitoring baseline step)
- artifacts/: `encoders.json` (category dictionaries, column order) and `data_quality.json`
  (row count, missing shares, positive share, data fingerprint), read by the condition step;
  `train_rows.txt` and `test_rows.txt`, a digest of each train and test row's raw features and
  label (`row_digests`): the evaluate step keeps the train digests with the version's evidence,
  so a later challenger can leave this version's training rows out of the comparison with it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ENCODERS_FILE = "encoders.json"
DATA_QUALITY_FILE = "data_quality.json"
GROUPS_FILE = "groups.csv"
SPLIT_FILE = {"train": "train.csv", "validation": "validation.csv", "test": "test.csv"}
BASELINE_FILE = "baseline.csv"
# Row digests (evaluate.read_row_digests reads them; that file ships alone).
TRAIN_ROWS_FILE = "train_rows.txt"
TEST_ROWS_FILE = "test_rows.txt"
ROW_DIGESTS_FORMAT = "finmlops-row-digests/1"

# JSON paths the pipeline's data-quality condition reads from data_quality.json.
DQ_ROWS = "rows"
DQ_MAX_MISSING = "max_missing_share"
DQ_POSITIVE_SHARE = "positive_share"


# SageMaker's container paths are the defaults; the offline emulator runs this same file with
# the container's /opt/ml tree under another root, named by this variable.
CONTAINER_ROOT_ENV = "FINMLOPS_CONTAINER_ROOT"


def container_path(path: str) -> Path:
    return Path(os.environ.get(CONTAINER_ROOT_ENV, "/")) / path.lstrip("/")


class SchemaError(ValueError):
    """The data does not match the configured schema; the message names the column."""


@dataclass(frozen=True)
class Spec:
    """What the step needs to know about the data (built from the config by the caller)."""

    target: str
    positive_class: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # The protected attributes' columns (model.fairness); never features unless configured so.
    protected: tuple[str, ...]
    time_column: str | None = None
    leakage: tuple[str, ...] = ()
    validation_share: float = 0.15
    test_share: float = 0.15
    seed: int = 42

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


@dataclass
class Prepared:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    test_groups: pd.DataFrame
    baseline: pd.DataFrame
    encoders: dict[str, object]
    data_quality: dict[str, object] = field(default_factory=dict)
    # Digests of the raw rows (`row_digests`): the train split's and the test split's, in
    # test.csv's order; the columns they cover.
    train_rows: list[str] = field(default_factory=list)
    test_rows: list[str] = field(default_factory=list)
    digest_columns: tuple[str, ...] = ()


def fingerprint(path: Path) -> str:
    """sha256 of the input bytes: the data lineage recorded on the model version."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, low_memory=False)


def validate_schema(df: pd.DataFrame, spec: Spec) -> None:
    """Fail with the column name on a missing column, a wrong dtype or an unusable target."""
    required = [spec.target, *spec.features, *spec.protected]
    if spec.time_column:
        required.append(spec.time_column)
    missing = [c for c in dict.fromkeys(required) if c not in df.columns]
    if missing:
        raise SchemaError(f"missing column(s): {', '.join(missing)}")
    for column in spec.numeric:
        if not pd.api.types.is_numeric_dtype(df[column]):
            sample = df[column].dropna().astype(str).head(3).tolist()
            raise SchemaError(
                f"column {column!r} is configured numeric but holds {df[column].dtype} "
                f"values such as {sample}"
            )
    target = df[spec.target]
    if target.isna().all():
        raise SchemaError(f"target column {spec.target!r} is entirely null")
    if target.isna().any():
        raise SchemaError(
            f"target column {spec.target!r} has {int(target.isna().sum())} null value(s); "
            "rows without a label cannot be used for training"
        )
    labels = set(target.astype(str).unique())
    if len(labels) < 2:
        raise SchemaError(f"target column {spec.target!r} has a single class: {sorted(labels)}")
    if spec.positive_class not in labels:
        raise SchemaError(
            f"target column {spec.target!r} has no value {spec.positive_class!r} "
            f"(the configured positive class); values: {sorted(labels)}"
        )
    if len(labels) > 2:
        raise SchemaError(
            f"target column {spec.target!r} has {len(labels)} classes; binary expected"
        )


def fit_encoders(df: pd.DataFrame, spec: Spec) -> dict[str, object]:
    """Category dictionaries, sorted so the same data always gives the same codes.

    They are fitted on the whole table, not the training split: the set of categories is part of
    the schema and holds no label information, and a rare category must not be "unknown" at
    evaluation merely because the split put all its rows in the test set.
    """
    categories = {
        column: sorted(df[column].dropna().astype(str).unique().tolist())
        for column in spec.categorical
    }
    return {
        "features": list(spec.features),
        "numeric": list(spec.numeric),
        "categorical": categories,
        "target": spec.target,
        "positive_class": spec.positive_class,
    }


def encode(df: pd.DataFrame, encoders: dict[str, object]) -> pd.DataFrame:
    """Numeric columns as float, categoricals as their dictionary code; nulls stay NaN."""
    features: list[str] = list(encoders["features"])  # type: ignore[call-overload]
    categories: dict[str, list[str]] = encoders["categorical"]  # type: ignore[assignment]
    out = pd.DataFrame(index=df.index)
    for column in features:
        if column in categories:
            values = df[column].astype("string")
            known = pd.Index(categories[column])
            codes = known.get_indexer(values.fillna("\x00"))
            unknown = sorted(set(values[(codes < 0) & values.notna()].unique()))
            if unknown:
                raise SchemaError(
                    f"column {column!r} has categories not seen when the encoders were fitted: "
                    f"{unknown[:10]}"
                )
            out[column] = np.where(values.isna(), np.nan, codes).astype(float)
        else:
            out[column] = pd.to_numeric(df[column]).astype(float)
    return out


def data_quality(df: pd.DataFrame, spec: Spec, source_fingerprint: str) -> dict[str, object]:
    missing = {c: float(df[c].isna().mean()) for c in spec.features}
    positive = float((df[spec.target].astype(str) == spec.positive_class).mean())
    return {
        DQ_ROWS: len(df),
        DQ_MAX_MISSING: max(missing.values()) if missing else 0.0,
        DQ_POSITIVE_SHARE: positive,
        "missing_share": missing,
        "columns": len(df.columns),
        "data_fingerprint": source_fingerprint,
    }


def split(df: pd.DataFrame, spec: Spec) -> tuple[pd.Index, pd.Index, pd.Index]:
    """By time when a time column is configured (oldest trains), stratified by label otherwise."""
    n = len(df)
    n_test = round(n * spec.test_share)
    n_val = round(n * spec.validation_share)
    if spec.time_column:
        order = df.sort_values(spec.time_column, kind="stable").index
        return (
            order[: n - n_test - n_val],
            order[n - n_test - n_val : n - n_test],
            order[n - n_test :],
        )
    rng = np.random.default_rng(spec.seed)
    y = (df[spec.target].astype(str) == spec.positive_class).to_numpy()
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label in (False, True):
        idx = df.index.to_numpy()[y == label]
        idx = idx[rng.permutation(len(idx))]
        k_test = round(len(idx) * spec.test_share)
        k_val = round(len(idx) * spec.validation_share)
        parts["test"].append(idx[:k_test])
        parts["validation"].append(idx[k_test : k_test + k_val])
        parts["train"].append(idx[k_test + k_val :])
    train, validation, test = (pd.Index(np.sort(np.concatenate(parts[k]))) for k in parts)
    return train, validation, test


def row_digests(df: pd.DataFrame, columns: Sequence[str], numeric: Sequence[str] = ()) -> list[str]:
    """A digest per row of its raw values in `columns`: the first 128 bits of the sha256 of the
    values as text joined by U+001F, a missing value empty and a `numeric` column's value as the
    float it is (so 5 and 5.0, as two tables may type the column, are one value). The same
    applicant row in two versions' tables gives the same digest whatever the split or the
    encoders; 128 bits make a chance collision negligible (birthday bound 2^64 rows)."""
    texts = []
    for column in columns:
        values = df[column]
        if column in numeric:
            values = pd.to_numeric(values, errors="coerce").astype("float64").map(repr)
            values = values.where(df[column].notna(), "")
        texts.append(values.astype("string").fillna(""))
    rows = zip(*texts, strict=True) if texts else iter(())
    return [hashlib.sha256("\x1f".join(r).encode("utf-8")).hexdigest()[:32] for r in rows]


def _digest_document(columns: Sequence[str], digests: Sequence[str]) -> str:
    header = {"format": ROW_DIGESTS_FORMAT, "columns": list(columns), "rows": len(digests)}
    return json.dumps(header, sort_keys=True) + "\n" + "".join(d + "\n" for d in digests)


def prepare(df: pd.DataFrame, spec: Spec, source_fingerprint: str) -> Prepared:
    """The whole step as a pure function of the input table."""
    validate_schema(df, spec)
    # A protected attribute may be a leakage column (kept out of training, still measured): take
    # the test rows' groups before the leakage columns go.
    protected = df[list(dict.fromkeys(spec.protected))].astype("string")
    df = df.drop(columns=[c for c in spec.leakage if c in df.columns])
    encoders = fit_encoders(df, spec)
    encoded = encode(df, encoders)
    label = (df[spec.target].astype(str) == spec.positive_class).astype(int)
    train_idx, val_idx, test_idx = split(df, spec)
    digest_columns = (*spec.features, spec.target)

    def with_label(index: pd.Index) -> pd.DataFrame:
        frame = encoded.loc[index].copy()
        frame.insert(0, spec.target, label.loc[index])
        return frame.reset_index(drop=True)

    return Prepared(
        train=with_label(train_idx),
        validation=with_label(val_idx),
        test=with_label(test_idx),
        test_groups=protected.loc[test_idx].reset_index(drop=True),
        baseline=encoded.loc[train_idx].reset_index(drop=True),
        encoders=encoders,
        data_quality=data_quality(df, spec, source_fingerprint),
        train_rows=sorted(set(row_digests(df.loc[train_idx], digest_columns, spec.numeric))),
        test_rows=row_digests(df.loc[test_idx], digest_columns, spec.numeric),
        digest_columns=digest_columns,
    )


def write_outputs(prepared: Prepared, output_dir: Path) -> dict[str, Path]:
    folders = {
        name: output_dir / name for name in ("train", "validation", "test", "baseline", "artifacts")
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "validation", "test"):
        frame: pd.DataFrame = getattr(prepared, name)
        frame.to_csv(folders[name] / SPLIT_FILE[name], header=False, index=False)
    prepared.test_groups.to_csv(folders["test"] / GROUPS_FILE, index=False)
    prepared.baseline.to_csv(folders["baseline"] / BASELINE_FILE, index=False)
    (folders["artifacts"] / ENCODERS_FILE).write_text(
        json.dumps(prepared.encoders, indent=2, sort_keys=True)
    )
    (folders["artifacts"] / DATA_QUALITY_FILE).write_text(
        json.dumps(prepared.data_quality, indent=2, sort_keys=True)
    )
    for name, digests in (
        (TRAIN_ROWS_FILE, prepared.train_rows),
        (TEST_ROWS_FILE, prepared.test_rows),
    ):
        (folders["artifacts"] / name).write_text(_digest_document(prepared.digest_columns, digests))
    return folders


def find_input(input_dir: Path) -> Path:
    """The one data file in the job's input folder (SageMaker copies the S3 object there)."""
    if input_dir.is_file():
        return input_dir
    files = sorted(p for p in input_dir.rglob("*") if p.suffix in {".csv", ".parquet"})
    if not files:
        raise FileNotFoundError(f"no .csv or .parquet file under {input_dir}")
    if len(files) > 1:
        raise SchemaError(f"expected one data file under {input_dir}, found {len(files)}")
    return files[0]


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v for v in (s.strip() for s in value.split(",")) if v)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=Path, default=container_path("/opt/ml/processing/input/data")
    )
    parser.add_argument("--output", type=Path, default=container_path("/opt/ml/processing/output"))
    parser.add_argument("--target", required=True)
    parser.add_argument("--positive-class", required=True)
    parser.add_argument("--numeric", type=_csv, default=())
    parser.add_argument("--categorical", type=_csv, default=())
    # One column per argument, repeatable: a column name is never split.
    parser.add_argument("--protected", action="append", required=True)
    parser.add_argument("--time-column", default=None)
    parser.add_argument("--leakage", type=_csv, default=())
    parser.add_argument("--validation-share", type=float, default=0.15)
    parser.add_argument("--test-share", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    spec = Spec(
        target=args.target,
        positive_class=args.positive_class,
        numeric=args.numeric,
        categorical=args.categorical,
        protected=tuple(args.protected),
        time_column=args.time_column or None,
        leakage=args.leakage,
        validation_share=args.validation_share,
        test_share=args.test_share,
        seed=args.seed,
    )
    source = find_input(args.input)
    try:
        prepared = prepare(read_table(source), spec, fingerprint(source))
    except SchemaError as exc:
        print(f"preprocess: {source.name}: {exc}", file=sys.stderr)
        return 2
    write_outputs(prepared, args.output)
    dq = prepared.data_quality
    print(
        f"preprocess: {dq[DQ_ROWS]} rows -> train {len(prepared.train)}, validation "
        f"{len(prepared.validation)}, test {len(prepared.test)}; {dq['data_fingerprint']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
