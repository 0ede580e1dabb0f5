"""Preprocess: schema validation names the column, encoding is reproducible, splits are sound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finmlops.steps import preprocess
from finmlops.steps.preprocess import SchemaError, Spec


def make_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.normal(50_000, 10_000, n).round(),
            "rate": rng.uniform(5, 25, n),
            "grade": rng.choice(["A", "B", "C"], n),
            "age_band": rng.choice(["young", "mid", "old"], n),
            "month": rng.integers(1, 13, n),
            "paid_total": rng.normal(0, 1, n),
            "Class": np.where(rng.uniform(size=n) < 0.2, "bad", "good"),
        }
    )


SPEC = Spec(
    target="Class",
    positive_class="bad",
    numeric=("income", "rate"),
    categorical=("grade",),
    protected=("age_band",),
    leakage=("paid_total",),
    validation_share=0.2,
    test_share=0.2,
)


def test_missing_feature_is_named() -> None:
    with pytest.raises(SchemaError, match=r"missing column.*rate"):
        preprocess.validate_schema(make_frame().drop(columns=["rate"]), SPEC)


def test_text_in_numeric_feature_is_named() -> None:
    frame = make_frame()
    frame["income"] = frame["income"].astype(str) + "$"
    with pytest.raises(SchemaError, match="'income' is configured numeric"):
        preprocess.validate_schema(frame, SPEC)


def test_all_null_target_is_refused() -> None:
    frame = make_frame()
    frame["Class"] = None
    with pytest.raises(SchemaError, match="'Class' is entirely null"):
        preprocess.validate_schema(frame, SPEC)


def test_single_class_target_is_refused() -> None:
    frame = make_frame()
    frame["Class"] = "good"
    with pytest.raises(SchemaError, match="single class"):
        preprocess.validate_schema(frame, SPEC)


def test_target_without_the_positive_class_is_refused() -> None:
    frame = make_frame()
    frame["Class"] = frame["Class"].replace({"bad": "default"})
    with pytest.raises(SchemaError, match="no value 'bad'"):
        preprocess.validate_schema(frame, SPEC)


def test_unlabelled_rows_are_reported_not_dropped() -> None:
    frame = make_frame()
    frame.loc[3, "Class"] = None
    with pytest.raises(SchemaError, match="1 null value"):
        preprocess.validate_schema(frame, SPEC)


def test_unknown_category_at_evaluation_names_the_column() -> None:
    encoders = preprocess.fit_encoders(make_frame(), SPEC)
    unseen = make_frame(10, seed=1).assign(grade="Z")
    with pytest.raises(SchemaError, match=r"column .grade. has categories not seen.*.Z."):
        preprocess.encode(unseen, encoders)


def test_encoding_is_reproducible_and_sorted() -> None:
    frame = make_frame()
    first = preprocess.prepare(frame, SPEC, "sha256:x")
    second = preprocess.prepare(
        frame.sample(frac=1.0, random_state=3).sort_index(), SPEC, "sha256:x"
    )
    assert first.encoders["categorical"] == {"grade": ["A", "B", "C"]}
    pd.testing.assert_frame_equal(first.train, second.train)


def test_leakage_columns_never_reach_the_model() -> None:
    prepared = preprocess.prepare(make_frame(), SPEC, "sha256:x")
    assert "paid_total" not in prepared.train.columns
    assert list(prepared.train.columns) == ["Class", "income", "rate", "grade"]


def test_stratified_split_keeps_the_bad_rate_and_partitions_rows() -> None:
    frame = make_frame(1000)
    train, validation, test = preprocess.split(frame, SPEC)
    assert len(set(train) | set(validation) | set(test)) == len(frame)
    assert not set(train) & set(test)
    rate = (frame["Class"] == "bad").mean()
    for part in (train, validation, test):
        assert abs((frame.loc[part, "Class"] == "bad").mean() - rate) < 0.01


def test_time_split_trains_on_the_oldest_rows() -> None:
    frame = make_frame(500)
    spec = Spec(**{**SPEC.__dict__, "time_column": "month"})
    train, _, test = preprocess.split(frame, spec)
    assert frame.loc[train, "month"].max() <= frame.loc[test, "month"].min()


def test_outputs_follow_the_builtin_xgboost_layout(tmp_path: Path) -> None:
    source = tmp_path / "in" / "data.csv"
    source.parent.mkdir()
    make_frame().to_csv(source, index=False)
    code = preprocess.main(
        ["--input", str(source.parent), "--output", str(tmp_path / "out"),
         "--target", "Class", "--positive-class", "bad", "--numeric", "income,rate",
         "--categorical", "grade", "--protected", "age_band"]
    )  # fmt: skip
    assert code == 0
    train = pd.read_csv(tmp_path / "out" / "train" / "train.csv", header=None)
    assert set(train[0].unique()) == {0, 1}  # label first, no header
    assert train.shape[1] == 4
    groups = pd.read_csv(tmp_path / "out" / "test" / "groups.csv")
    test = pd.read_csv(tmp_path / "out" / "test" / "test.csv", header=None)
    assert len(groups) == len(test)
    assert list(groups.columns) == ["age_band"]
    baseline = pd.read_csv(tmp_path / "out" / "baseline" / "baseline.csv")
    assert list(baseline.columns) == ["income", "rate", "grade"]


def test_schema_error_exits_nonzero_with_the_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "data.csv"
    make_frame().drop(columns=["grade"]).to_csv(source, index=False)
    code = preprocess.main(
        ["--input", str(source), "--output", str(tmp_path / "out"), "--target", "Class",
         "--positive-class", "bad", "--numeric", "income", "--categorical", "grade", "--protected", "age_band"]
    )  # fmt: skip
    assert code == 2
    assert "grade" in capsys.readouterr().err


def test_fingerprint_changes_when_one_byte_changes(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n")
    before = preprocess.fingerprint(path)
    path.write_text("a,b\n1,3\n")
    assert preprocess.fingerprint(path) != before
    assert before.startswith("sha256:")


def test_a_protected_attribute_listed_as_leakage_is_kept_for_fairness_not_for_training() -> None:
    """A leakage column is dropped before training; a protected attribute listed there is still
    each test row's group (it used to end in a KeyError)."""
    spec = Spec(
        target="Class", positive_class="bad", numeric=("income", "rate"), categorical=("grade",),
        protected=("age_band", "paid_total"), leakage=("paid_total", "age_band"),
    )  # fmt: skip
    frame = make_frame()
    prepared = preprocess.prepare(frame, spec, "sha256:x")
    assert list(prepared.test_groups.columns) == ["age_band", "paid_total"]
    assert len(prepared.test_groups) == len(prepared.test)
    assert "age_band" not in prepared.encoders["features"]  # type: ignore[operator]
    assert prepared.baseline.columns.tolist() == ["income", "rate", "grade"]


def test_several_protected_columns_each_keep_their_values_with_commas_intact(
    tmp_path: Path,
) -> None:
    frame = make_frame()
    frame["region"] = np.where(frame.index % 2 == 0, "North, East", "South")
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    code = preprocess.main(
        ["--input", str(source), "--output", str(tmp_path / "out"), "--target", "Class",
         "--positive-class", "bad", "--numeric", "income", "--categorical", "grade",
         "--protected", "age_band", "--protected", "region"]
    )  # fmt: skip
    assert code == 0
    groups = pd.read_csv(tmp_path / "out" / "test" / "groups.csv", dtype=str)
    assert list(groups.columns) == ["age_band", "region"]
    assert set(groups["region"]) == {"North, East", "South"}
