"""moto's S3 with `s3_fidelity.install()` (tests/conftest.py installs it): GetObjectRetention
answers as S3 documents it. Against moto's own handler (`pytest --noconftest`) these fail with
HTTP 500, which is what makes the patch necessary."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

BUCKET = "locked-bucket"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        yield client


def test_a_version_written_with_retention_reports_its_mode_and_date(s3):
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    first = s3.put_object(
        Bucket=BUCKET, Key="k", Body=b"1", ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until, ChecksumAlgorithm="SHA256",
    )["VersionId"]  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"2")  # a later version without retention

    held = s3.get_object_retention(Bucket=BUCKET, Key="k", VersionId=first)["Retention"]

    assert held["Mode"] == "COMPLIANCE"
    assert held["RetainUntilDate"] == until


def test_the_bucket_default_is_applied_as_the_object_is_written(s3):
    s3.create_bucket(Bucket="defaulted", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket="defaulted",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 10}},
        },
    )
    s3.put_object(Bucket="defaulted", Key="k", Body=b"1")

    held = s3.get_object_retention(Bucket="defaulted", Key="k")["Retention"]

    assert held["Mode"] == "COMPLIANCE"
    assert timedelta(days=9) < held["RetainUntilDate"] - datetime.now(UTC) <= timedelta(days=10)


def test_a_version_without_retention_answers_no_such_object_lock_configuration(s3):
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")

    with pytest.raises(ClientError) as missing:
        s3.get_object_retention(Bucket=BUCKET, Key="k")

    assert missing.value.response["Error"]["Code"] == "NoSuchObjectLockConfiguration"
    with pytest.raises(ClientError) as absent:
        s3.get_object_retention(Bucket=BUCKET, Key="no-such-key")
    assert absent.value.response["Error"]["Code"] == "NoSuchKey"
