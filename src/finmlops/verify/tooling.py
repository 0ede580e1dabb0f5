"""tooling: the audit bucket keeps records no one can rewrite (Object Lock in compliance mode,
versioning, a policy that makes writes create-only), and the promotion pipeline and the
approval handler that starts it exist."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from finmlops.contracts import Promotion
from finmlops.verify.aws import is_missing, pages
from finmlops.verify.policies import PolicyReadError, create_only_statement
from finmlops.verify.results import CheckResult, failed, passed


def object_lock(s3: Any, bucket: str) -> CheckResult:
    """Object Lock on, with a COMPLIANCE default retention (S3 User Guide, "Object Lock":
    in compliance mode no user, root included, can overwrite or delete a locked version)."""
    seam = "audit Object Lock"
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if not is_missing(exc):
            raise
        code = exc.response.get("Error", {}).get("Code")
        what = "does not exist" if code == "NoSuchBucket" else "has no Object Lock"
        return failed(
            seam,
            f"{bucket} {what}: audit records could be deleted. Deploy the tooling data stack "
            "(Object Lock is set when the bucket is created)",
        )
    retention = config.get("Rule", {}).get("DefaultRetention", {})
    mode = retention.get("Mode")
    period = (
        f"{retention['Days']} days"
        if retention.get("Days")
        else f"{retention['Years']} years"
        if retention.get("Years")
        else ""
    )
    if config.get("ObjectLockEnabled") != "Enabled":
        return failed(seam, f"{bucket}: Object Lock is not enabled")
    if mode != "COMPLIANCE" or not period:
        return failed(
            seam,
            f"{bucket}: default retention is {mode or 'none'} {period or ''}".rstrip()
            + ": records need COMPLIANCE mode with a retention period (GOVERNANCE can be "
            "bypassed). Redeploy the tooling data stack",
        )
    return passed(seam, f"{bucket}: COMPLIANCE, {period} by default", retention=period)


def versioning(s3: Any, bucket: str) -> CheckResult:
    seam = "audit versioning"
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(seam, f"{bucket} does not exist: deploy the tooling data stack")
    if status != "Enabled":
        return failed(
            seam, f"{bucket}: versioning is {status or 'off'}: turn it on (Object Lock needs it)"
        )
    return passed(seam, f"{bucket}: Enabled")


def create_only_policy(s3: Any, bucket: str, partition: str) -> CheckResult:
    """The bucket policy denies a PutObject without `If-None-Match` (read semantically)."""
    seam = "audit create-only policy"
    try:
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(
            seam,
            f"{bucket} has no bucket policy: a writer can replace a record. "
            "Deploy the tooling data stack",
        )
    key = f"{Promotion.AUDIT_PREFIX}record.json"
    try:
        statement = create_only_statement(policy, bucket, key, partition)
    except PolicyReadError as exc:
        return failed(seam, f"{bucket}: the bucket policy cannot be read: {exc}")
    if statement is None:
        return failed(
            seam,
            f"{bucket}: no statement denies a PutObject without If-None-Match "
            "(condition key s3:if-none-match): a writer holding PutObject can overwrite a "
            "record's latest version. Deploy the tooling data stack with the create-only "
            "statement",
        )
    return passed(seam, f"{bucket}: {statement} denies writes without If-None-Match")


def promotion_pipeline(codepipeline: Any, name: str) -> CheckResult:
    seam = "promotion pipeline"
    try:
        found = codepipeline.get_pipeline(name=name)["pipeline"]
    except ClientError as exc:
        if not is_missing(exc):
            raise
        return failed(seam, f"pipeline {name} does not exist: deploy the tooling promotion stack")
    stages = [s["name"] for s in found.get("stages", [])]
    return passed(seam, f"{name} exists: {' -> '.join(stages)}", stages=stages)


def approval_handler(lambda_: Any, pipeline: str) -> CheckResult:
    """The Lambda that runs `Promotion.HANDLER` exists and starts `pipeline`."""
    seam = "approval handler"
    handlers = [
        f
        for f in pages(lambda_, "list_functions", "Functions")
        if f.get("Handler") == Promotion.HANDLER
    ]
    if not handlers:
        return failed(
            seam,
            f"no Lambda function runs {Promotion.HANDLER}: approvals start no promotion. "
            "Deploy the tooling promotion stack",
        )
    for function in handlers:
        variables = (function.get("Environment") or {}).get("Variables", {})
        if variables.get(Promotion.ENV_PIPELINE) == pipeline:
            return passed(seam, f"{function['FunctionName']} starts {pipeline}")
    names = ", ".join(
        f"{f['FunctionName']} -> {(f.get('Environment') or {}).get('Variables', {}).get(Promotion.ENV_PIPELINE)}"
        for f in handlers
    )
    return failed(
        seam,
        f"the approval handler starts another pipeline ({names}), not {pipeline}: redeploy the "
        "tooling promotion stack",
    )
