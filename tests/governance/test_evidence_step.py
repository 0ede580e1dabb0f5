"""The evidence processing step: SageMaker's container layout in, model card and report out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from finmlops.config import Config, load_config
from finmlops.governance import evidence_step
from finmlops.governance.report import BANNER_INCOMPLETE
from finmlops.modelbuild import LocalBuild

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def job(tmp_path: Path, local_build: LocalBuild, baseline_dir: Path, step_config: Path) -> Path:
    """/opt/ml/processing as the pipeline lays it out, filled from the local build's outputs."""
    root = tmp_path / "opt" / "ml" / "processing"
    inputs = root / "input"
    (inputs / "config").mkdir(parents=True)
    shutil.copy(step_config, inputs / "config" / "platform-3f2a.json")
    shutil.copytree(local_build.work_dir / "preprocess" / "artifacts", inputs / "artifacts")
    shutil.copytree(local_build.work_dir / "evaluation", inputs / "evaluation")
    shutil.copytree(baseline_dir, inputs / "baseline")
    return root


def _argv(root: Path, *extra: str) -> list[str]:
    inputs = root / "input"
    return [
        "--config", str(inputs / "config"),
        "--artifacts", str(inputs / "artifacts"),
        "--evaluation", str(inputs / "evaluation"),
        "--baseline", str(inputs / "baseline"),
        "--output", str(root / "output" / "evidence"),
        "--git-commit", "abc1234",
        "--training-image", IMAGE,
        *extra,
    ]  # fmt: skip


def test_defaults_are_the_sagemaker_container_paths() -> None:
    args = evidence_step.parse_args([])
    assert args.config == Path("/opt/ml/processing/input/config")
    assert args.artifacts == Path("/opt/ml/processing/input/artifacts")
    assert args.evaluation == Path("/opt/ml/processing/input/evaluation")
    assert args.baseline == Path("/opt/ml/processing/input/baseline")
    assert args.output == Path("/opt/ml/processing/output/evidence")


def test_step_writes_card_and_report_from_the_job_inputs(
    job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = "arn:aws:sagemaker:us-east-1:111111111111:training-job/credit-risk-train-1"
    code = evidence_step.main(
        _argv(job, "--training-job-arn", arn, "--generated-at", "2026-11-28T10:00:00Z")
    )
    assert code == 0, capsys.readouterr().err
    out = job / "output" / "evidence"
    card = json.loads((out / "model_card.json").read_text())
    assert card["training_details"]["training_job_details"]["training_arn"] == arn
    assert card["additional_information"]["custom_details"]["evidence_status"] == "complete"
    html = (out / "validation_report.html").read_text()
    assert BANNER_INCOMPLETE not in html
    assert "generated 2026-11-28T10:00:00Z" in html
    assert "evidence: complete" in capsys.readouterr().out


def test_thresholds_the_run_used_replace_the_config_defaults(job: Path) -> None:
    code = evidence_step.main(
        _argv(job, "--threshold", "MinAuc", "0.99", "--threshold", "MinKs", "0.25")
    )
    assert code == 0
    html = (job / "output" / "evidence" / "validation_report.html").read_text()
    assert "1 release gate(s) failed: min-auc." in html
    card = json.loads((job / "output" / "evidence" / "model_card.json").read_text())
    gates = next(e for e in card["evaluation_details"] if e["name"] == "release gates")
    notes = {m["name"]: m["notes"] for m in gates["metric_groups"][0]["metric_data"]}
    assert notes["min-auc"] == ">= 0.99: FAIL"
    assert notes["min-ks"] == ">= 0.25: pass"


def test_missing_evaluation_input_still_writes_a_report_that_says_so(
    job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(job / "input" / "evaluation")
    assert evidence_step.main(_argv(job)) == 0
    err = capsys.readouterr().err
    assert "INCOMPLETE EVIDENCE" in err
    assert "evaluation.json (evaluate output" in err
    html = (job / "output" / "evidence" / "validation_report.html").read_text()
    assert BANNER_INCOMPLETE in html
    assert evidence_step.main([*_argv(job), "--strict"]) == 3


def test_unknown_threshold_parameter_is_refused_by_name(
    job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert evidence_step.main(_argv(job, "--threshold", "MinAUC", "0.7")) == 2
    assert "--threshold MinAUC: not a gate parameter; one of" in capsys.readouterr().err
    assert not (job / "output").exists()


def test_an_invalid_config_names_the_file_and_field(
    job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = next((job / "input" / "config").iterdir())
    config.write_text(config.read_text().replace('"risk_tier": "high"', '"risk_tier": "extreme"'))
    assert evidence_step.main(_argv(job)) == 2
    err = capsys.readouterr().err
    assert "platform-3f2a.json" in err
    assert "governance.risk_tier" in err


def test_two_config_files_in_the_input_are_ambiguous(
    job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (job / "input" / "config" / "other.yaml").write_text("project: x\n")
    assert evidence_step.main(_argv(job)) == 2
    assert "expected one .yaml/.yml/.json file" in capsys.readouterr().err


def test_runs_as_a_module_the_way_the_processing_job_starts_it(job: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "finmlops.governance.evidence_step", *_argv(job)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (job / "output" / "evidence" / "validation_report.html").is_file()


def test_the_config_the_pipeline_ships_loads_back_equal(config: Config, tmp_path: Path) -> None:
    key, path = evidence_step.write_shipped_config(config, tmp_path / "ship")
    assert key.startswith(f"config/{config.project}-") and key.endswith(".json")
    assert path.name == Path(key).name
    assert evidence_step.find_config(path.parent) == path
    assert load_config(path) == config
    assert evidence_step.shipped_config(config) == (key, path.read_text())
    changed = config.model_copy(
        update={"governance": config.governance.model_copy(update={"owner": "someone-else"})}
    )
    assert evidence_step.shipped_config(changed)[0] != key


def test_the_package_steps_reason_coverage_reaches_the_model_card(
    job: Path, local_build: LocalBuild, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    """Package step then Evidence step, as the pipeline chains them (Package's output folder is
    Evidence's `reasons` input)."""
    from finmlops.serving import package_step
    from finmlops.serving.source import write_source_archive

    inputs = job / "input"
    _, source = write_source_archive(config.model, inputs / "source")
    package_out = job / "output" / "package"
    code = package_step.main(
        [
            "--config", str(inputs / "config"),
            "--model", str(local_build.model_archive),
            "--test", str(local_build.work_dir / "preprocess" / "test"),
            "--source", str(source.parent),
            "--output", str(package_out),
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "reason coverage" in capsys.readouterr().out
    assert evidence_step.main(_argv(job, "--reasons", str(package_out))) == 0
    card = json.loads((job / "output" / "evidence" / "model_card.json").read_text())
    (detail,) = [d for d in card["evaluation_details"] if d["name"].startswith("reason codes")]
    coverage = json.loads((package_out / "reasons.json").read_text())["coverage"]
    metrics = {m["name"]: m["value"] for g in detail["metric_groups"] for m in g["metric_data"]}
    assert metrics["reason_code_coverage"] == coverage
    assert "addr_state" in detail["evaluation_observation"]  # the default config leaves it out
