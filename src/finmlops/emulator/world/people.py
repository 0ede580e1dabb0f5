"""The world's people and the AWS services that act on their own, each with credentials AWS
would give them.

- **People** are IAM users with their own access keys and a virtual MFA device (IAM
  CreateVirtualMFADevice, EnableMFADevice with two consecutive codes). They work as AWS asks
  people to: a session with MFA first (STS GetSessionToken with the device's serial number and
  current code), then the role of their job, with their user name as session name and source
  identity (the templates' trust policies require all three: ADR 0012). The IAM path names the
  account a person belongs to in the one-account emulator (`/tooling/` for the operators of the
  tooling account; `/` for the dev account), so the templates' trust policies, which name an
  account's root, judge them as the person of that account.
- **Services** (SageMaker running a pipeline's jobs, CodeBuild running the promotion, Lambda
  running the approval handler) assume the role a template gives them, as AWS does with the
  service principal: the emulator keeps one IAM user per service under the path
  `/aws-service/` (`sagemaker.amazonaws.com`), and its trust evaluator judges that user's
  AssumeRole as the service principal of its name, with `aws:SourceAccount` the role's account
  (`emulator.world.rules`). Nobody else holds those keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from finmlops.emulator.aws import mfa
from finmlops.emulator.aws.server import EmbeddedAws

SERVICE_PATH = "/aws-service/"


@dataclass
class Person:
    """Someone with their own credentials: every call they make is theirs in AWS's records.
    `session` signs with the person's long-term keys (or with a role session's keys)."""

    name: str
    arn: str
    session: Any
    mfa_serial: str = ""
    mfa_seed: str = ""  # what the person's authenticator app holds


def create_person(aws: EmbeddedAws, name: str, path: str = "/") -> Person:
    """An IAM user with access keys and an enabled virtual MFA device."""
    iam = aws.client("iam")
    arn = iam.create_user(UserName=name, Path=path)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    seed = device["Base32StringSeed"]
    seed_text = seed.decode() if isinstance(seed, bytes) else str(seed)
    now = datetime.now(UTC)
    iam.enable_mfa_device(
        UserName=name,
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1=mfa.device_code(seed_text, now - timedelta(seconds=mfa.STEP_SECONDS)),
        AuthenticationCode2=mfa.device_code(seed_text, now),
    )
    return Person(
        name,
        arn,
        aws.session(key["AccessKeyId"], key["SecretAccessKey"]),
        device["SerialNumber"],
        seed_text,
    )


def session_of(aws: EmbeddedAws, credentials: dict[str, Any]) -> Any:
    import boto3

    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=aws.region,
    )


def mfa_session(aws: EmbeddedAws, person: Person) -> Any:
    """The person's session with MFA: GetSessionToken with the authenticator's current code."""
    answer = aws.client("sts", person.session).get_session_token(
        SerialNumber=person.mfa_serial, TokenCode=mfa.device_code(person.mfa_seed)
    )
    return session_of(aws, answer["Credentials"])


def assume(
    aws: EmbeddedAws,
    session: Any,
    role_arn: str,
    session_name: str,
    source_identity: str | None = None,
) -> tuple[str, Any]:
    """(the session's ARN, a boto3 session of it): sts:AssumeRole from `session`."""
    extra = {"SourceIdentity": source_identity} if source_identity else {}
    answer = aws.client("sts", session).assume_role(
        RoleArn=role_arn, RoleSessionName=session_name, **extra
    )
    return str(answer["AssumedRoleUser"]["Arn"]), session_of(aws, answer["Credentials"])


def create_service(aws: EmbeddedAws, service: str) -> Any:
    """The emulator's stand-in for an AWS service principal (`sagemaker.amazonaws.com`)."""
    iam = aws.client("iam")
    iam.create_user(UserName=service, Path=SERVICE_PATH)
    key = iam.create_access_key(UserName=service)["AccessKey"]
    return aws.session(key["AccessKeyId"], key["SecretAccessKey"])
