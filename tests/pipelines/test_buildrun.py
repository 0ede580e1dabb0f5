"""Upserting and starting the model-build pipeline through the SageMaker API (moto), and the
build's provenance as Git records it (a real repository, a real SSH signature)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from finmlops.buildrun import git_provenance, start_build, upsert_pipeline
from finmlops.config import Config
from finmlops.contracts import Placeholder
from finmlops.registry.errors import InvalidInputError

VALUES = {
    Placeholder.ARTIFACT_BUCKET: "artifacts-bucket",
    Placeholder.MODEL_PACKAGE_GROUP: "credit-risk-xgb",
    Placeholder.EXECUTION_ROLE_NAME: "sagemaker-execution",
    Placeholder.KMS_KEY_ARN: "arn:aws:kms:us-east-1:123456789012:key/abc",
    Placeholder.SECURITY_GROUP_ID: "sg-0123456789abcdef0",
    Placeholder.PROJECT_IMAGE_URI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/monitor:1",
    Placeholder.MLFLOW_TRACKING_URI: "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/credit-risk-mlflow",
    Placeholder.ACCOUNT_ID: "123456789012",
    Placeholder.PARTITION: "aws",
    Placeholder.REGION: "us-east-1",
}
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@mock_aws
def test_upsert_creates_then_updates_and_start_records_the_commit(config: Config) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    arn = upsert_pipeline(sm, config, VALUES, ROLE)
    assert upsert_pipeline(sm, config, VALUES, ROLE) == arn
    described = sm.describe_pipeline(PipelineName="credit-risk-model-build")
    body = json.loads(described["PipelineDefinition"])
    assert "${" not in described["PipelineDefinition"]
    assert body["Parameters"][0]["DefaultValue"] == "s3://artifacts-bucket/data/lending_club.csv"

    sm.create_model_package_group(ModelPackageGroupName=config.model.package_group)
    group = config.model.package_group
    execution, champion = start_build(
        sm, "credit-risk-model-build", git_commit="abc123", group=group
    )
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution)[
        "PipelineParameters"
    ]
    # Nothing serves in prod yet: the first version's build says so, explicitly.
    assert champion is None
    assert params == [
        {"Name": "ChampionModelPackageArn", "Value": "none"},
        {"Name": "GitCommit", "Value": "abc123"},
    ]

    # A run cannot lower a gate: the thresholds are no parameters, and none is accepted.
    with pytest.raises(InvalidInputError, match="MinAuc is not a parameter"):
        start_build(
            sm, "credit-risk-model-build", git_commit="abc123", group=group,
            overrides={"MinAuc": "0.5"},
        )  # fmt: skip
    # Nor is the champion the caller's to name: it is read from the registry.
    with pytest.raises(
        InvalidInputError, match="ChampionModelPackageArn is read from the registry"
    ):
        start_build(
            sm, "credit-risk-model-build", git_commit="abc123", group=group,
            overrides={"ChampionModelPackageArn": "none"},
        )  # fmt: skip


def test_unfilled_placeholder_is_an_error_naming_it(config: Config) -> None:
    values = {k: v for k, v in VALUES.items() if k != Placeholder.KMS_KEY_ARN}
    with pytest.raises(KeyError, match="KmsKeyArn"):
        upsert_pipeline(None, config, values, ROLE)


def git(repo: Path, *args: str, name: str = "", email: str = "") -> str:
    env_args = ["-c", f"user.name={name}", "-c", f"user.email={email}"] if name else []
    done = subprocess.run(
        ["git", "-C", str(repo), *env_args, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: a commit by Carol; branch: a commit Alice signed with her SSH key (an allowed
    signer); then Dave merges the branch without signing."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "commit.gpgsign", "false")
    key = tmp_path / "alice_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)], check=True
    )
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'alice@bank.com namespaces="git" {key.with_suffix(".pub").read_text()}')
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    (repo / "a.txt").write_text("a")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "base", name="Carol", email="carol@bank.com")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "b.txt").write_text("b")
    git(repo, "add", "b.txt")
    git(
        repo, "-c", f"user.signingkey={key}", "commit", "-q", "-S", "-m", "model change",
        name="Alice", email="alice@bank.com",
    )  # fmt: skip
    git(repo, "checkout", "-q", "main")
    git(
        repo, "merge", "-q", "--no-ff", "-m", "merge", "feature", name="Dave", email="dave@bank.com"
    )
    return repo


def test_git_provenance_names_author_committer_and_merged_authors_with_their_signatures(
    repo: Path,
) -> None:
    people = git_provenance(repo, "HEAD")

    by_email = {(p.email, p.source): p for p in people}
    assert set(by_email) == {
        ("dave@bank.com", "commit author"),
        ("alice@bank.com", "merged commit author"),
    }  # each commit's committer is its author here: recorded once
    assert by_email[("alice@bank.com", "merged commit author")].verified is True
    assert by_email[("dave@bank.com", "commit author")].verified is False
    assert all(p.recorded_by == "git" for p in people)
    assert [p.email for p in people if p.is_person] == ["alice@bank.com"]


def test_a_commit_git_cannot_describe_is_named(repo: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a commit"):
        git_provenance(repo, "0" * 40)


def test_build_start_from_the_platform_pipeline_records_git_provenance_for_the_execution(
    config: Config, config_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`finmlops build start --provenance-from-git`, as the fixed start step runs it: the execution
    starts, and a build-started audit record names it, its commit and Git's people."""
    from finmlops.buildrun import main as buildrun_main
    from finmlops.cli import main
    from finmlops.contracts import AuditAction, Promotion
    from finmlops.registry.audit import AuditTrail
    from finmlops.registry.identity import load_identities

    tooling = config.environments.tooling
    bucket = Promotion.audit_bucket_name(config.project, tooling.account, tooling.region)
    head = git(repo, "rev-parse", "HEAD")
    with mock_aws():
        boto3.client("s3", region_name=tooling.region).create_bucket(Bucket=bucket)
        sm = boto3.client("sagemaker", region_name=config.environments.dev.region)
        sm.create_model_package_group(ModelPackageGroupName=config.model.package_group)
        definition = {"Version": "2020-12-01", "Steps": [],
                      "Parameters": [{"Name": "GitCommit", "Type": "String"},
                                     {"Name": "ChampionModelPackageArn", "Type": "String"}]}  # fmt: skip
        sm.create_pipeline(PipelineName="build", PipelineDefinition=json.dumps(definition),
                           RoleArn=ROLE)  # fmt: skip
        argv = ["start", "--git-commit", head, "--provenance-from-git", "--repo", str(repo),
                "--pipeline", "build", "--config", str(config_path), "--model", "credit-risk",
                "--json"]  # fmt: skip
        assert main(["build", *argv]) == 0
        started = json.loads(capsys.readouterr().out)
        assert buildrun_main(argv) == 0  # `python -m finmlops.buildrun start ...`, the same
        capsys.readouterr()
        records = AuditTrail(boto3.client("s3", region_name=tooling.region), bucket).records()

    assert [r.action for r in records] == [AuditAction.BUILD_STARTED] * 2
    record = records[0]
    assert record.details["execution_arn"] == started["execution_arn"]
    assert record.details["git_commit"] == head
    people = load_identities(record.details["git_people"], "git_people")
    assert {p.email for p in people} == {"dave@bank.com", "alice@bank.com"}
    assert "Git: git_people" in record.details["recorded_by"]
    assert started["audit_record"] == record.record_id
