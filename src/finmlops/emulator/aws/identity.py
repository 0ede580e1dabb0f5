"""Who made a request, recorded by the emulator as AWS records it, out of the caller's reach.

moto 5.2.x answers `sts:GetCallerIdentity` from the request's access key, but records nothing
else about the caller: AssumeRole ignores `SourceIdentity`, SageMaker's `CreatedBy` and
`LastModifiedBy` name a fixed fake Studio user, and `ListPipelineExecutionSteps` does not exist.
Segregation of duties reads exactly those records (ADR 0014), so `install()` makes moto keep them:

- **STS AssumeRole** keeps the `SourceIdentity` the caller passed, against the access key it
  issues. A session that has one passes it on to the sessions it assumes, and cannot change it
  ("The value that is set cannot be changed during the role session ... persists when a role is
  used to assume another role", IAM User Guide, *Monitor and control actions taken with assumed
  roles*). The value is validated as the API validates it (2-64 characters of `[\\w+=,.@-]`, no
  `aws:` prefix: STS API reference, AssumeRole `SourceIdentity`).
- **Trust policies** are evaluated by a pluggable `TrustEvaluator` (`set_trust_evaluator`): it
  receives the caller's ARN, the role's ARN and the request's STS context keys
  (`sts:RoleSessionName`, `sts:SourceIdentity`, `aws:SourceIdentity`, `aws:username`,
  `aws:MultiFactorAuthPresent`) and says whether AWS would let the caller assume the role. The
  default allows every call, as moto does; the world plugs in `finmlops.iam`'s decision on the
  synthesized trust policies (`emulator.world.rules`).
- **STS GetSessionToken** issues a session of the calling IAM user, with MFA when the request
  carries the serial number of the user's enabled MFA device and its current code (moto returns
  a fixed fake key that is nobody's, and checks nothing). Requests signed with the session's key
  are the user's, with `aws:MultiFactorAuthPresent` true (false without MFA), as IAM describes
  the key ("AWS global condition context keys": present and true for temporary credentials
  obtained with MFA; absent for long-term access keys). A wrong code is refused as STS refuses
  it; a role session may not call GetSessionToken (STS API reference, GetSessionToken).
- **SageMaker** CreateModelPackage, UpdateModelPackage and StartPipelineExecution record
  `CreatedBy` / `LastModifiedBy` as `{IamIdentity: {Arn, PrincipalId, SourceIdentity}}`
  (API reference: `UserContext`, `IamIdentity`), from the access key that signed the request:
  never from a parameter. DescribePipelineExecution returns the execution's `CreatedBy`.
- **ListPipelineExecutionSteps** returns the steps the emulator's executor ran
  (`record_steps`, called by `finmlops.emulator.aws.executor`), in the API's `PipelineExecutionStep`
  shape, `Metadata.RegisterModel.Arn` included.

The patches touch only these operations; `tests/emulator/test_registry_fidelity.py` pins each
behaviour and shows that moto's own handlers fail it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# STS API reference, AssumeRole: SourceIdentity "Length Constraints: Minimum length of 2. Maximum
# length of 64. Pattern: [\w+=,.@-]*"; "You cannot use a value that begins with the text aws:".
_SOURCE_IDENTITY = re.compile(r"^[\w+=,.@-]{2,64}$")

# (caller ARN, role ARN, request context) -> may the caller assume the role?
TrustEvaluator = Callable[[str, str, Mapping[str, str]], bool]


def _allow_all(_caller: str, _role: str, _context: Mapping[str, str]) -> bool:
    return True


# Evaluators by the embedded server's host they judge (None: every request of the process).
_trust: dict[str | None, TrustEvaluator] = {}


def set_trust_evaluator(evaluator: TrustEvaluator | None, host: str | None = None) -> None:
    """Decide AssumeRole calls with `evaluator` (None: remove it; without any, allow all, as
    moto does); with `host` (`127.0.0.1:<port>`), only the calls made to that embedded
    server, so two worlds in one process each keep their own rules."""
    if evaluator is None:
        _trust.pop(host, None)
    else:
        _trust[host] = evaluator


def can_assume(
    caller_arn: str, role_arn: str, context: Mapping[str, str], host: str | None = None
) -> bool:
    """Whether the trust policy in force for `host` lets the caller assume the role."""
    evaluator = _trust.get(host) or _trust.get(None) or _allow_all
    return evaluator(caller_arn, role_arn, context)


@dataclass(frozen=True)
class Caller:
    """The principal behind an access key, as AWS would record it."""

    arn: str
    principal_id: str
    source_identity: str = ""
    user_name: str = ""
    mfa: bool | None = None  # None: long-term keys (the key is absent); else the session's MFA

    def user_context(self) -> dict[str, Any]:
        """SageMaker's `UserContext` of a request made by this caller."""
        identity = {"Arn": self.arn, "PrincipalId": self.principal_id}
        if self.source_identity:
            identity["SourceIdentity"] = self.source_identity
        return {"IamIdentity": identity}


def _assumed_role(access_key_id: str) -> Any:
    from moto.sts.models import sts_backends

    for account in list(sts_backends):
        for backend in sts_backends[account].values():
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return role
    return None


# Session keys GetSessionToken issued, and whose they are (moto keeps no owner for them).
_sessions: dict[str, Caller] = {}


def caller_of(access_key_id: str, account_id: str) -> Caller:
    """Who signs with this access key: an assumed-role session (with the source identity it
    was issued with), an IAM user or a session of one, or moto's default identity for keys it
    never issued."""
    from moto.iam.models import iam_backends

    if access_key_id in _sessions:
        return _sessions[access_key_id]
    role = _assumed_role(access_key_id)
    if role is not None:
        return Caller(
            role.arn,
            role.user_id,
            getattr(role, "finmlops_source_identity", ""),
            mfa=getattr(role, "finmlops_mfa", False),
        )
    for account in list(iam_backends):
        for backend in iam_backends[account].values():
            user = backend.get_user_from_access_key_id(access_key_id)
            if user is not None:
                return Caller(user.arn, user.id, "", user.name)
    # moto answers GetCallerIdentity for an unknown key with this fake user (sts/models.py).
    return Caller(f"arn:aws:sts::{account_id}:user/moto", "AKIAIOSFODNN7EXAMPLE")


def _request_caller(response: Any) -> Caller:
    return caller_of(response.get_access_key(), response.current_account)


# --------------------------------------------------------------------------- STS


def _access_denied(message: str) -> Exception:
    from moto.sts.exceptions import STSClientError

    return STSClientError("AccessDenied", message)


def _validated_source_identity(value: Any) -> str:
    from moto.sts.exceptions import STSValidationError

    if value is None:
        return ""
    text = str(value)
    if not _SOURCE_IDENTITY.match(text):
        raise STSValidationError(
            f"1 validation error detected: Value '{text}' at 'sourceIdentity' failed to satisfy "
            "constraint: Member must have length between 2 and 64 and satisfy regular "
            r"expression pattern: [\w+=,.@-]*"
        )
    if text.lower().startswith("aws:"):
        raise STSValidationError("SourceIdentity may not begin with the reserved prefix aws:")
    return text


def _assume_role(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def assume_role(self: Any) -> Any:
        caller = _request_caller(self)
        role_arn = str(self._get_param("RoleArn"))
        session = str(self._get_param("RoleSessionName") or "")
        requested = _validated_source_identity(self._get_param("SourceIdentity"))
        if caller.source_identity and requested and requested != caller.source_identity:
            # Once set, a source identity cannot be changed, on the session or down its chain.
            raise _access_denied(
                f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
                f"{role_arn}: the session's source identity {caller.source_identity!r} cannot "
                f"be changed to {requested!r}"
            )
        source_identity = caller.source_identity or requested
        context = {"sts:RoleSessionName": session}
        if requested:
            context["sts:SourceIdentity"] = requested
        if caller.source_identity:
            context["aws:SourceIdentity"] = caller.source_identity
        if caller.user_name:
            context["aws:username"] = caller.user_name
        if caller.mfa is not None:
            context["aws:MultiFactorAuthPresent"] = "true" if caller.mfa else "false"
        if not can_assume(caller.arn, role_arn, context, str(self.headers.get("Host", ""))):
            raise _access_denied(
                f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
                f"{role_arn}"
            )
        result = original(self)
        if source_identity:
            result.result["Credentials"].finmlops_source_identity = source_identity
            result.result["SourceIdentity"] = source_identity
        # A session assumed with an MFA session's credentials was authenticated with MFA.
        result.result["Credentials"].finmlops_mfa = bool(caller.mfa)
        return result

    return assume_role


def _get_session_token(_original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def get_session_token(self: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.iam.models import iam_backends

        caller = _request_caller(self)
        if not caller.user_name or caller.arn.split(":")[2] != "iam":
            raise _access_denied(
                f"{caller.arn}: Cannot call GetSessionToken with session credentials"
            )
        serial = self._get_param("SerialNumber")
        token = self._get_param("TokenCode")
        mfa = False
        if serial or token:
            if not _mfa_accepts(self.current_account, caller.user_name, serial, token):
                raise _access_denied(
                    "MultiFactorAuthentication failed with invalid MFA one time pass code."
                )
            mfa = True
        duration = int(self._get_param("DurationSeconds") or 43200)
        iam = iam_backends[self.current_account]["aws"]
        key = iam.create_temp_access_key()
        _sessions[key.access_key_id] = Caller(
            caller.arn, caller.principal_id, "", caller.user_name, mfa=mfa
        )
        expiration = datetime.now(UTC) + timedelta(seconds=duration)
        return ActionResult(
            {
                "Credentials": {
                    "AccessKeyId": key.access_key_id,
                    "SecretAccessKey": key.secret_access_key,
                    "SessionToken": f"FQoGZXIvYXdzE{key.access_key_id}",
                    "Expiration": expiration,
                }
            }
        )

    return get_session_token


def _mfa_accepts(account: str, user_name: str, serial: Any, token: Any) -> bool:
    """The code is the current one of an MFA device enabled for this user."""
    from moto.iam.models import iam_backends

    from finmlops.emulator.aws import mfa

    iam = iam_backends[account]["aws"]
    user = iam.users.get(user_name)
    device = iam.virtual_mfa_devices.get(str(serial))
    if user is None or device is None or str(serial) not in user.mfa_devices:
        return False
    return mfa.accepts(device.base32_string_seed, str(token or ""))


# --------------------------------------------------------------------------- SageMaker


def _execution(backend: Any, arn: str) -> Any:
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    return get_pipeline_execution_from_arn(backend.pipelines, arn)


def _start_pipeline_execution(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def start_pipeline_execution(self: Any) -> Any:
        result = original(self)
        execution = _execution(self.sagemaker_backend, result.result["PipelineExecutionArn"])
        context = _request_caller(self).user_context()
        execution.created_by = context
        execution.last_modified_by = context
        return result

    return start_pipeline_execution


_STEP_ORDER = {"Ascending": False, "Descending": True}
_NEVER = datetime.min.replace(tzinfo=UTC)


def list_pipeline_execution_steps(self: Any) -> Any:
    """SageMaker's ListPipelineExecutionSteps over the steps `record_steps` kept (none for an
    execution the emulator did not run, as moto's executions run nothing)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError

    execution = _execution(self.sagemaker_backend, str(self._get_param("PipelineExecutionArn")))
    order = str(self._get_param("SortOrder") or "Descending")
    if order not in _STEP_ORDER:
        raise ValidationError(f"SortOrder {order!r} is not one of Ascending, Descending")
    steps = list(getattr(execution, "finmlops_steps", []))
    steps.sort(key=lambda s: s.get("StartTime") or _NEVER, reverse=_STEP_ORDER[order])
    return ActionResult({"PipelineExecutionSteps": steps})


def record_steps(execution_arn: str, steps: Sequence[Mapping[str, Any]]) -> bool:
    """Keep the steps an execution ran, for ListPipelineExecutionSteps. False when the emulated
    SageMaker has no such execution (the executor also runs definitions outside any)."""
    from moto.sagemaker.models import sagemaker_backends

    parts = execution_arn.split(":")
    if len(parts) < 6 or "/execution/" not in execution_arn:
        return False
    account, region = parts[4], parts[3]
    if account not in sagemaker_backends:
        return False
    backend = sagemaker_backends[account].get(region)
    if backend is None:
        return False
    try:
        execution = _execution(backend, execution_arn)
    except Exception:  # moto's ValidationError: no such pipeline or execution
        return False
    execution.finmlops_steps = [dict(s) for s in steps]
    return True


# False only inside `moto_alone()`: the registry's create and update handlers record nothing.
_recording = [True]


def created(response: Any, package: Any) -> None:
    """Record the creator of a model package (called by registry_fidelity's create handler)."""
    if _recording[0]:
        package.created_by = _request_caller(response).user_context()


def modified(response: Any, package: Any) -> None:
    """Record the last modifier of a model package (after registry_fidelity's update)."""
    if _recording[0]:
        package.last_modified_by = _request_caller(response).user_context()


# The handlers moto ships (None: moto has none), kept so that tests can show what moto alone does.
_originals: dict[tuple[type, str], Any] = {}


def _patches() -> dict[tuple[type, str], Any]:
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sts.responses import TokenResponse

    return {
        (TokenResponse, "assume_role"): _assume_role,
        (TokenResponse, "get_session_token"): _get_session_token,
        (SageMakerResponse, "start_pipeline_execution"): _start_pipeline_execution,
        (SageMakerResponse, "list_pipeline_execution_steps"): lambda _: (
            list_pipeline_execution_steps
        ),
    }


def install() -> None:
    """Patch moto in this process (idempotent): STS and the SageMaker operations above."""
    if _originals:
        return
    for (cls, name), wrap in _patches().items():
        original = cls.__dict__.get(name)
        _originals[(cls, name)] = original
        setattr(cls, name, wrap(original))


@contextmanager
def moto_alone() -> Iterator[None]:
    """Inside: moto's own STS and SageMaker handlers, as shipped (for tests that show what the
    patches add). Not thread-safe: only for tests, never while the embedded server serves."""
    install()
    patched = {(cls, name): cls.__dict__[name] for cls, name in _originals}
    for (cls, name), original in _originals.items():
        if original is None:
            delattr(cls, name)
        else:
            setattr(cls, name, original)
    _recording[0] = False
    try:
        yield
    finally:
        _recording[0] = True
        for (cls, name), value in patched.items():
            setattr(cls, name, value)
