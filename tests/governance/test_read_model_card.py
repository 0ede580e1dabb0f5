"""Reading a version's model card back, as the CLI does: the registry's card when it carries the
evaluation, else the evidence file its metadata points at, else the static registration card
(moto keeps ModelCard through `finmlops.emulator.aws.registry_fidelity`, as SageMaker does)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finmlops.config import Config
from finmlops.contracts import Meta
from finmlops.governance.model_card import (
    REGISTRATION_CARD_STATUS,
    ModelCardNotFoundError,
    build_model_card,
    read_model_card,
    read_model_card_with_source,
    registration_card,
)
from finmlops.modelbuild import LocalBuild

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
GROUP = "credit-risk-xgb"
BUCKET = "evidence-bucket"
CARD_KEY = "model-build/exec-1/evidence/evidence/model_card.json"


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        s3.create_bucket(Bucket=BUCKET)
        yield sagemaker, s3


def _register(
    sagemaker: Any, config: Config, metadata: dict[str, str], card: str | None = ""
) -> str:
    """A version as the register step makes it; `card` is the registry card's content (default:
    the static registration card; None: no ModelCard at all)."""
    request: dict[str, Any] = {
        "ModelPackageGroupName": GROUP,
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "CustomerMetadataProperties": metadata,
    }
    if card is not None:
        request["ModelCard"] = {
            "ModelCardContent": card or registration_card(config, IMAGE),
            "ModelCardStatus": REGISTRATION_CARD_STATUS,
        }
    return str(sagemaker.create_model_package(**request)["ModelPackageArn"])


def _full_card(config: Config, build: LocalBuild, arn: str | None = None) -> dict[str, Any]:
    return build_model_card(
        config,
        evaluation=build.evaluation,
        data_quality=build.data_quality,
        training_image=IMAGE,
        hyperparameters=config.model.hyperparameters.as_sagemaker(),
        model_package_arn=arn,
    )


def test_the_evidence_file_wins_over_a_registry_card_without_the_evaluation(
    aws: tuple[Any, Any], config: Config, local_build: LocalBuild
) -> None:
    sagemaker, s3 = aws
    card = _full_card(config, local_build)
    s3.put_object(Bucket=BUCKET, Key=CARD_KEY, Body=json.dumps(card).encode())
    arn = _register(sagemaker, config, {Meta.MODEL_CARD: f"s3://{BUCKET}/{CARD_KEY}"})
    registry = sagemaker.describe_model_package(ModelPackageName=arn)["ModelCard"]
    assert "evaluation_details" not in json.loads(registry["ModelCardContent"])
    found, source = read_model_card_with_source(sagemaker, arn, s3_client=s3)
    assert found == card
    assert source == f"s3://{BUCKET}/{CARD_KEY}"
    assert read_model_card(sagemaker, arn, s3_client=s3)["intended_uses"]["risk_rating"] == "High"


def test_a_version_without_any_card_is_named_in_the_error(
    aws: tuple[Any, Any], config: Config
) -> None:
    sagemaker, s3 = aws
    arn = _register(sagemaker, config, {Meta.MODEL_ID: "credit-risk"}, card=None)
    with pytest.raises(ModelCardNotFoundError, match=rf"{arn} has no model card"):
        read_model_card(sagemaker, arn, s3_client=s3)


def test_a_card_reference_to_a_missing_file_is_an_error_naming_the_file(
    aws: tuple[Any, Any], config: Config
) -> None:
    sagemaker, s3 = aws
    uri = f"s3://{BUCKET}/nowhere/model_card.json"
    arn = _register(sagemaker, config, {Meta.MODEL_CARD: uri})
    with pytest.raises(ModelCardNotFoundError, match=f"the model card file {uri} does not exist"):
        read_model_card(sagemaker, arn, s3_client=s3)


def test_the_evidence_file_needs_an_s3_client_to_be_read(
    aws: tuple[Any, Any], config: Config
) -> None:
    sagemaker, _s3 = aws
    reference = {Meta.MODEL_CARD: f"s3://{BUCKET}/{CARD_KEY}"}
    arn = _register(sagemaker, config, reference, card=None)
    with pytest.raises(ModelCardNotFoundError, match="pass an S3 client"):
        read_model_card(sagemaker, arn)
    # With a registry card to fall back on, that card is read instead.
    static = _register(sagemaker, config, reference)
    assert read_model_card_with_source(sagemaker, static)[1] == "registry"


def test_the_registry_card_with_the_evaluation_wins(
    aws: tuple[Any, Any], config: Config, local_build: LocalBuild
) -> None:
    sagemaker, _s3 = aws
    full = _full_card(config, local_build)
    reference = {Meta.MODEL_CARD: f"s3://{BUCKET}/{CARD_KEY}"}  # not read: the registry's wins
    arn = _register(sagemaker, config, reference, card=json.dumps(full))
    card, source = read_model_card_with_source(sagemaker, arn)
    assert (card, source) == (full, "registry")


def test_the_static_registration_card_is_used_when_nothing_better_exists(
    aws: tuple[Any, Any], config: Config
) -> None:
    sagemaker, s3 = aws
    arn = _register(sagemaker, config, {})
    card, source = read_model_card_with_source(sagemaker, arn, s3_client=s3)
    assert (card, source) == (json.loads(registration_card(config, IMAGE)), "registry")
