"""A bad configuration stops every entry point with exit code 2 and one message naming the file
and the field or line: no traceback, nothing written, no AWS call (docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

BAD_CONFIG_EXIT = 2


@pytest.fixture
def duplicate_key(config_path: Path, tmp_path: Path) -> Path:
    text = config_path.read_text().replace(
        "    gates:\n", "    gates:\n      min_auc: 0.7\n      min_auc: 0.5\n"
    )
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    return path


def test_finmlops_exits_2_naming_the_file_and_the_duplicate_key(
    duplicate_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops.cli import ExitCode, main

    # No --endpoint-url and no credentials that work: a call to AWS would fail differently (4).
    code = main(["registry", "list", "--config", str(duplicate_key)])
    assert code == ExitCode.USAGE == BAD_CONFIG_EXIT
    err = capsys.readouterr().err
    assert f"finmlops: invalid configuration {duplicate_key}:" in err
    assert "models.credit-risk.gates.min_auc: duplicate key 'min_auc'" in err
    assert "Traceback" not in err


def test_finmlops_json_error_carries_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops.cli import main

    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"project: caf\xe9\n")
    assert main(["registry", "list", "--config", str(path), "--json"]) == BAD_CONFIG_EXIT
    out = capsys.readouterr().out
    assert '"exit_code": 2' in out
    assert "is not UTF-8: byte 0xe9 at line 1" in out


def test_the_demo_exits_2_before_starting_anything(
    duplicate_key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops.demo import main

    work = tmp_path / "work"
    assert main(["--config", str(duplicate_key), "--work-dir", str(work)]) == BAD_CONFIG_EXIT
    assert "duplicate key 'min_auc'" in capsys.readouterr().err
    assert not work.exists()


def test_the_demo_refuses_an_s3_dataset_it_cannot_read(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops.demo import main

    path = tmp_path / "s3.yaml"
    path.write_text(
        config_path.read_text().replace(
            "uri: package:lending_club.csv", "uri: s3://bank-data-lake/loans.csv"
        )
    )
    work = tmp_path / "work"
    assert main(["--config", str(path), "--work-dir", str(work)]) == BAD_CONFIG_EXIT
    assert "model.dataset.uri" in capsys.readouterr().err
    assert not work.exists()


def test_synth_exits_2_and_writes_no_assembly(
    duplicate_key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops_cdk.app import main

    out = tmp_path / "cdk.out"
    assert main(["--config", str(duplicate_key), "--out", str(out)]) == BAD_CONFIG_EXIT
    assert not out.exists()
    assert "synth stopped, nothing written" in capsys.readouterr().err


def test_the_bootstrap_policy_exits_2_and_writes_no_policy(
    duplicate_key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from finmlops_cdk.bootstrap_policy import main

    out = tmp_path / "policy.json"
    argv = ["--environment", "dev", "--out", str(out), "--config", str(duplicate_key)]
    assert main(argv) == BAD_CONFIG_EXIT
    assert not out.exists()
    assert "stopped, nothing written" in capsys.readouterr().err
