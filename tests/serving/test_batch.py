"""Batch scoring: every file scored by the served archive's own inference code, with reasons;
captures the monitoring readers and the quality join read as an endpoint's; inference ids unique
and stable; every bad record reported by file and line; a refused run writes nothing."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from reasons_support import (
    FEATURES,
    TEXTS,
    extract,
    import_script,
    model_block,
    synthetic,
    train_tiny,
)
from sklearn.metrics import roc_auc_score

from finmlops.emulator.aws.serving import ScriptHandler
from finmlops.monitoring.quality import compute_model_quality, read_jsonl
from finmlops.monitoring.readers import open_dataset, parse_dataset_format
from finmlops.serving import batch
from finmlops.serving.package_step import served_archive
from finmlops.serving.source import source_archive
from finmlops.steps.train import pack_model, save_model

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    return train_tiny()


@pytest.fixture(scope="module")
def archive(booster: xgb.Booster, tmp_path_factory: pytest.TempPathFactory, config: Any) -> Path:
    """The served archive as the Package step writes it: the model and code/ (script, reasons)."""
    folder = tmp_path_factory.mktemp("served")
    save_model(booster, folder / "trained")
    trained = pack_model(folder / "trained", folder / "trained.tar.gz")
    source = folder / "sourcedir.tar.gz"
    source.write_bytes(source_archive(model_block(config.model, FEATURES, TEXTS, top_k=2)))
    path = folder / "model" / "model.tar.gz"
    path.parent.mkdir()
    path.write_bytes(served_archive(trained, source))
    return path


@pytest.fixture
def served(archive: Path, tmp_path: Path) -> batch.ServedModel:
    return batch.load_served_model(archive, tmp_path / "work")


def write_csv(
    path: Path, x: np.ndarray, columns: tuple[str, ...] = FEATURES, ids: bool = True
) -> None:
    """A portfolio file: a header, an account column the model does not read, the features
    (empty cells for missing values), in another order than the model's."""
    order = list(reversed(columns))
    lines = [",".join((["account"] if ids else []) + order)]
    for i, row in enumerate(x):
        cells = {
            name: ("" if math.isnan(v) else f"{v:.6g}")
            for name, v in zip(columns, row, strict=True)
        }
        lines.append(",".join(([f"A{i:05d}"] if ids else []) + [cells[c] for c in order]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def run(served: batch.ServedModel, root: Path, *, run_id: str = "run1", at: datetime = AT,
        max_bad_share: float = 0.0) -> batch.BatchResult:  # fmt: skip
    return batch.run_batch(
        model=served,
        input_dir=root / "input",
        scores_dir=root / "scores",
        capture_dir=root / "capture",
        model_name="provisions",
        scored_at=at,
        run_id=run_id,
        max_bad_share=max_bad_share,
    )


def scores_of(root: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((root / "scores").rglob(f"*{batch.SCORES_SUFFIX}"))
        for line in path.read_text().splitlines()
    ]


def captures_of(root: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((root / "capture").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_every_file_is_scored_by_the_served_model_with_its_reasons(
    served: batch.ServedModel, booster: xgb.Booster, tmp_path: Path
) -> None:
    x, _ = synthetic(rows=120, seed=3)
    write_csv(tmp_path / "input" / "2026-12" / "north.csv", x[:70])
    write_csv(tmp_path / "input" / "south.csv", x[70:])
    result = run(served, tmp_path)
    assert (result.scored, result.bad, result.records) == (120, 0, 120)
    scored = {(s["file"], s["line"]): s for s in scores_of(tmp_path)}
    # The oracle: xgboost itself on the same rows, as numbers in the model's column order.
    expected = booster.predict(xgb.DMatrix(x, missing=np.nan))
    for i, score in enumerate(expected):
        file, line = ("2026-12/north.csv", i + 2) if i < 70 else ("south.csv", i - 70 + 2)
        row = scored[(file, line)]
        assert row["score"] == pytest.approx(float(score), abs=1e-6)
        assert row["columns"] == {"account": f"A{(i if i < 70 else i - 70):05d}"}
        assert len(row["reasons"]) <= 2
        assert all(r["contribution"] > 0 for r in row["reasons"])
    report = json.loads((tmp_path / "scores" / batch.REPORT_FILE).read_text())
    assert report["scored"] == 120 and report["bad_records"] == 0
    assert report["model"]["archive_sha256"] == served.archive_sha256
    assert [f["file"] for f in report["files"]] == ["2026-12/north.csv", "south.csv"]


def test_captures_round_trip_through_the_monitoring_readers_and_the_label_join(
    served: batch.ServedModel, tmp_path: Path
) -> None:
    """What the drift job reads (`capture` format, endpointInput) is the input's features in the
    model's order; what the quality job joins (labels by inferenceId, scores from endpointOutput)
    gives the AUC of the scores and labels."""
    x, y = synthetic(rows=200, seed=4)
    write_csv(tmp_path / "input" / "book.csv", x)
    run(served, tmp_path)
    capture = tmp_path / "capture"
    # Written under the hour of the run, as an endpoint's captures are.
    assert [p.relative_to(capture).as_posix() for p in capture.rglob("*.jsonl")] == [
        "2026/12/01/02/run1-00000.jsonl"
    ]
    chunks = list(open_dataset(capture, parse_dataset_format("capture"), feature_order=FEATURES))
    assert sum(c.rows for c in chunks) == 200 and sum(c.malformed for c in chunks) == 0
    read = (
        np.array(
            [
                [float(v) if v not in ("", None) else np.nan for v in c.columns[f]]
                for c in chunks
                for f in FEATURES
            ]
        )
        .reshape(len(FEATURES), -1)
        .T
    )
    np.testing.assert_allclose(read, x, rtol=1e-5, equal_nan=True)

    scores = scores_of(tmp_path)
    label_of = {s["inference_id"]: int(y[s["line"] - 2]) for s in scores}
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps(
                {
                    "groundTruthData": {"data": str(label), "encoding": "CSV"},
                    "eventMetadata": {"eventId": ident},
                    "eventVersion": "0",
                }
            )
            + "\n"
            for ident, label in label_of.items()
        )
    )
    report = compute_model_quality(
        read_jsonl(sorted(capture.rglob("*.jsonl")), capture),
        read_jsonl([labels]),
        cutoff=0.5,
        window=None,
    )
    assert report.overall.captured == 200 and report.overall.labelled == 200
    expected = roc_auc_score(
        [label_of[s["inference_id"]] for s in scores], [s["score"] for s in scores]
    )
    assert report.overall.metrics["auc"] == pytest.approx(expected, abs=1e-9)


def test_the_batch_job_captures_a_row_as_the_endpoint_captures_a_one_row_request(
    served: batch.ServedModel, archive: Path, tmp_path: Path
) -> None:
    """The endpoint's script-mode container (the emulator's ScriptHandler, Accept JSON) and the
    batch job answer the same row with the same payloads, in the same record shape."""
    x, _ = synthetic(rows=1, seed=9)
    write_csv(tmp_path / "input" / "one.csv", x)
    run(served, tmp_path)
    (record,) = captures_of(tmp_path)
    model_dir = extract(archive.read_bytes(), tmp_path / "opt-ml-model")
    module = import_script(model_dir / "code", f"endpoint_{tmp_path.name}")
    handler = ScriptHandler(module, model_dir, "application/json")
    request = record["captureData"]["endpointInput"]["data"]
    answer, media = handler.transform(request, "text/csv", "application/json")
    assert record["captureData"]["endpointOutput"] == {
        "observedContentType": media,
        "mode": "OUTPUT",
        "data": answer,
        "encoding": "JSON",
    }
    assert record["captureData"]["endpointInput"]["observedContentType"] == "text/csv"
    assert set(record["eventMetadata"]) == {"eventId", "inferenceId", "inferenceTime"}
    assert record["eventMetadata"]["inferenceTime"] == "2026-12-01T02:00:00Z"


def test_inference_ids_are_unique_and_the_same_when_the_same_file_is_scored_again(
    served: batch.ServedModel, tmp_path: Path
) -> None:
    x, _ = synthetic(rows=50, seed=6)
    # Two files with identical rows: the ids still differ (file and line are in the id).
    write_csv(tmp_path / "a" / "input" / "one.csv", x)
    write_csv(tmp_path / "a" / "input" / "two.csv", x)
    first = scores_of_run(served, tmp_path / "a", "run1")
    again = scores_of_run(served, tmp_path / "a", "run2", at=datetime(2026, 12, 2, tzinfo=UTC))
    ids = [s["inference_id"] for s in first]
    assert len(set(ids)) == 100
    assert [s["inference_id"] for s in again] == ids  # stable across runs
    events = {c["eventMetadata"]["eventId"] for c in captures_of(tmp_path / "a")}
    assert len(events) == 200  # one event per row and run
    # Next month's file under the same name, one row changed: a new file, new ids.
    changed = x.copy()
    changed[0, 0] += 1.0
    write_csv(tmp_path / "b" / "input" / "one.csv", changed)
    write_csv(tmp_path / "b" / "input" / "two.csv", x)
    other = scores_of_run(served, tmp_path / "b", "run3")
    assert not {s["inference_id"] for s in other if s["file"] == "one.csv"} & set(ids)
    assert [s["inference_id"] for s in other if s["file"] == "two.csv"] == ids[50:]


def scores_of_run(
    served: batch.ServedModel, root: Path, run_id: str, at: datetime = AT
) -> list[dict[str, Any]]:
    for stale in (root / "scores").rglob("*"):
        if stale.is_file():
            stale.unlink()
    run(served, root, run_id=run_id, at=at)
    return scores_of(root)


def test_bad_records_are_reported_by_file_and_line_and_the_good_ones_scored(
    served: batch.ServedModel, tmp_path: Path
) -> None:
    header = ",".join(FEATURES)
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "mixed.csv").write_bytes(
        (
            f"{header}\n"
            "0.1,1,0.5,2\n"  # 2: good
            "0.1,1,0.5\n"  # 3: too few values
            "0.1,many,0.5,2\n"  # 4: not a number
            "\n"  # a blank line: no record
            "0.1,1,inf,2\n"  # 6: not finite
            ",,,\n"  # 7: good: every value missing
        ).encode()
        + b"0.1,1,\xff,2\n"  # 8: not UTF-8
    )
    (folder / "empty.csv").write_bytes(b"")
    (folder / "next-month.csv.gz").write_bytes(b"\x1f\x8b")  # not read, but named
    (folder / "wrong-header.csv").write_text("debt_ratio,income,tenure\n1,2,3\n4,5,6\n")
    result = run(served, tmp_path, max_bad_share=1.0)
    assert result.scored == 2
    reported = [
        json.loads(line)
        for line in (tmp_path / "scores" / batch.BAD_RECORDS_FILE).read_text().splitlines()
    ]
    where = [(b["file"], b["line"]) for b in reported]
    assert where == [
        ("empty.csv", 0),
        ("mixed.csv", 3),
        ("mixed.csv", 4),
        ("mixed.csv", 6),
        ("mixed.csv", 8),
        ("wrong-header.csv", 1),
        ("wrong-header.csv", 2),
        ("wrong-header.csv", 3),
    ]
    reasons = {(b["file"], b["line"]): b["reason"] for b in reported}
    assert reasons[("mixed.csv", 3)] == "has 3 values; the header names 4 columns"
    assert reasons[("mixed.csv", 4)] == "inquiries: 'many' is not a number"
    assert "not finite" in reasons[("mixed.csv", 6)]
    assert reasons[("mixed.csv", 8)].startswith("not UTF-8")
    assert "lacks the model's feature column(s) ['inquiries']" in reasons[("wrong-header.csv", 1)]
    assert [(s["file"], s["line"]) for s in scores_of(tmp_path)] == [
        ("mixed.csv", 2),
        ("mixed.csv", 7),
    ]
    report = result.report
    assert report["not_scored_files"] == ["next-month.csv.gz"]
    # Every line accounted for: 2 scored + 8 reported = 10 records.
    assert (report["records"], report["scored"], report["bad_records"]) == (10, 2, 8)


def test_more_bad_records_than_allowed_fail_the_run_and_nothing_is_written(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, _ = synthetic(rows=10, seed=2)
    write_csv(tmp_path / "input" / "good.csv", x)
    (tmp_path / "input" / "bad.csv").write_text(",".join(FEATURES) + "\n1,2,x,4\n")
    code = batch.main(
        [
            "--model-name", "provisions",
            "--model", str(archive.parent),
            "--input", str(tmp_path / "input"),
            "--scores", str(tmp_path / "scores"),
            "--capture", str(tmp_path / "capture"),
            "--max-bad-share", "0.05",
        ],
        environ={batch.ENV_SCORED_AT: "2026-12-01T02:00:00Z", batch.ENV_RUN_ID: "exec-1"},
    )  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "1 of 11 records cannot be scored" in error and "bad.csv:2: income" in error
    assert not (tmp_path / "scores").exists() and not (tmp_path / "capture").exists()


def test_the_entry_point_takes_the_runs_time_and_id_from_the_pipelines_environment(
    archive: Path, tmp_path: Path
) -> None:
    x, _ = synthetic(rows=5, seed=2)
    write_csv(tmp_path / "input" / "good.csv", x)
    code = batch.main(
        [
            "--model-name", "provisions",
            "--model", str(archive.parent),
            "--input", str(tmp_path / "input"),
            "--scores", str(tmp_path / "scores"),
            "--capture", str(tmp_path / "capture"),
            "--model-version", "7",
        ],
        environ={batch.ENV_SCORED_AT: "2026-12-01T02:00:00Z", batch.ENV_RUN_ID: "exec-1"},
    )  # fmt: skip
    assert code == 0
    assert (tmp_path / "capture" / "2026/12/01/02/exec-1-00000.jsonl").is_file()
    report = json.loads((tmp_path / "scores" / batch.REPORT_FILE).read_text())
    assert report["run_id"] == "exec-1" and report["model"]["version"] == "7"


def test_an_archive_without_the_inference_code_is_refused_by_name(
    booster: xgb.Booster, tmp_path: Path
) -> None:
    save_model(booster, tmp_path / "trained")
    bare = pack_model(tmp_path / "trained", tmp_path / "bare" / "model.tar.gz")
    with pytest.raises(batch.BatchInputError, match=r"holds no code/inference\.py"):
        batch.load_served_model(bare, tmp_path / "work")
