"""Logging a build to MLflow, linking its run to the registered version, and finding it again.

MLflow is imported on first use, never when this module is imported (it takes seconds), and
used through `MlflowClient` with an explicit tracking URI: no process-wide active run. The
process-wide URI is set only around calls to a SageMaker ARN, because the plugin reads it, and
is restored after. Telemetry is off unless the environment turns it on
(`MLFLOW_DISABLE_TELEMETRY`).

Where runs go (`resolve_tracking_uri`): an explicit URI wins (the Track step gets the server
ARN as an argument); otherwise offline runs use a SQLite store in the run's work folder,
`<work_dir>/mlflow/mlflow.db`, with artifacts beside it in `<work_dir>/mlflow/artifacts`.
A SageMaker ARN is used through the sagemaker-mlflow plugin, which registers the `arn` scheme.

A run that cannot be logged raises `TrackingError` with the reason; `record_build` applies the
configured policy (`on_failure: fail` raises, `warn` returns an outcome that says why nothing
was logged), so a build never loses its run silently.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, Unpack

from finmlops.tracking.content import GateRow, RunContent, RunTag, run_content
from finmlops.tracking.settings import SAGEMAKER_MLFLOW_ARN, TrackingSettings

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from finmlops.gates import GateResult

LOCAL_DIR = "mlflow"
LOCAL_DB = "mlflow.db"
LOCAL_ARTIFACTS = "artifacts"
# The run id a version carries when no run was logged: SageMaker metadata values cannot be empty.
NOT_LOGGED = "not-logged"
_REASON_MAX = 600
# What the step may log to: the local store, an MLflow server, SageMaker managed MLflow.
_SCHEMES = frozenset({"sqlite", "http", "https", "arn"})


class TrackingError(RuntimeError):
    """A run could not be logged or read; the message says where and why."""


@dataclass(frozen=True)
class TrackingOutcome:
    """What happened to a build's run: what the Track step writes to run.json."""

    status: Literal["logged", "not-logged", "off"]
    run_id: str
    experiment_id: str
    tracking_uri: str
    experiment: str = ""
    reason: str = ""

    @property
    def logged(self) -> bool:
        return self.status == "logged"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def line(self) -> str:
        if self.status == "logged":
            return f"run {self.run_id} in experiment {self.experiment!r} at {self.tracking_uri}"
        if self.status == "off":
            return "off (tracking.mode: off): no run logged"
        return f"NOT LOGGED (tracking.on_failure: warn): {self.reason}"


def _enable_offline_defaults() -> None:
    # MLflow 3 sends usage telemetry from a background thread unless told not to.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


# MLflow's schema-migration chatter; and the sagemaker-mlflow header provider, which is active for
# every URI and warns on each request to a server that is not an ARN.
_CHATTY_LOGGERS = ("mlflow.store.db.utils", "alembic", "mlflow.tracking.request_header.registry")


@contextlib.contextmanager
def _quiet(uri: str) -> Iterator[None]:
    names = _CHATTY_LOGGERS if not uri.startswith("arn:") else _CHATTY_LOGGERS[:2]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # SQLAlchemy deprecations raised inside MLflow's store, not actionable here.
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _check_installed(uri: str) -> None:
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme not in _SCHEMES:
        raise TrackingError(
            f"unsupported tracking URI {uri!r}: use a sqlite:/// URI, the http(s):// address "
            "of an MLflow server, or a SageMaker MLflow ARN"
        )
    needs = {"mlflow": "MLflow (install finmlops[tracking])"}
    if scheme == "arn":
        needs["sagemaker_mlflow"] = "the sagemaker-mlflow plugin (install finmlops[tracking])"
    if scheme == "sqlite":
        needs["sqlalchemy"] = "SQLAlchemy for the local store (install finmlops[tracking-ui])"
        needs["alembic"] = "Alembic for the local store (install finmlops[tracking-ui])"
    for module, what in needs.items():
        if importlib.util.find_spec(module) is None:
            raise TrackingError(f"cannot log to {uri}: {what} is not installed")


@contextlib.contextmanager
def _connect(uri: str) -> Iterator[MlflowClient]:
    """A client of one tracking URI, for the duration of a few calls."""
    _check_installed(uri)
    _enable_offline_defaults()
    from mlflow.tracking import MlflowClient
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    # Set the process's tracking URI too, and restore it after: the sagemaker-mlflow plugin signs
    # each request for the ARN it reads from mlflow.get_tracking_uri(), not the client's URI, and
    # the 3.0 client (the line of the managed server, ADR 0013) resolves `mlflow-artifacts:` URIs
    # against it when it uploads artifacts.
    with _quiet(uri), _use_tracking_uri(uri):
        yield MlflowClient(tracking_uri=uri)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def local_store_uri(work_dir: Path) -> str:
    """The SQLite store inside a run's work folder (created on first use)."""
    return "sqlite:///" + str((work_dir / LOCAL_DIR / LOCAL_DB).resolve())


def resolve_tracking_uri(tracking: TrackingSettings, work_dir: Path | None) -> str | None:
    """Where an offline run goes: None when off; `tracking.uri` in local mode; else the work folder.

    In sagemaker mode an offline run (the demo, the emulator) cannot reach the server, so it goes
    to the work folder's store too; the Track step on AWS passes the server ARN explicitly.
    """
    if tracking.mode == "off":
        return None
    if tracking.mode == "local" and tracking.uri:
        if "://" in tracking.uri:
            return tracking.uri
        path = Path(tracking.uri).expanduser()
        if not path.is_absolute() and work_dir is not None:
            path = work_dir / path
        return "sqlite:///" + str(path.resolve())
    if work_dir is None:
        raise TrackingError(
            "the local tracking store lives in the run's work folder: pass work_dir, "
            "or set tracking.uri"
        )
    return local_store_uri(work_dir)


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def _experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    db = _sqlite_path(uri)
    # Artifacts beside the database, not in ./mlruns of whatever the current directory is.
    location = (db.parent / LOCAL_ARTIFACTS).as_uri() if db is not None else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:
        # Created meanwhile by a concurrent build: use it.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def _check_artifacts(artifacts: Mapping[str, Path]) -> None:
    missing = [f"{name}: {path}" for name, path in artifacts.items() if not Path(path).exists()]
    if missing:
        raise TrackingError(f"artifacts to log do not exist: {'; '.join(missing)}")


def _log_content(
    client: MlflowClient, run_id: str, content: RunContent, artifacts: Mapping[str, Path]
) -> None:
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import Param
    from mlflow.entities import RunTag as MlflowTag

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[MlflowMetric(m.key, m.value, now, m.step) for m in content.metrics],
        params=[Param(k, v) for k, v in sorted(content.params.items())],
        tags=[MlflowTag(k, v) for k, v in sorted(content.tags.items())],
    )
    for name, path in artifacts.items():
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=name)
        else:
            client.log_artifact(run_id, str(path), artifact_path=name)
    with tempfile.TemporaryDirectory(prefix="finmlops-tracking-") as tmp:
        gates_file = Path(tmp) / "gates.json"
        gates_file.write_text(
            json.dumps([g.as_dict() for g in content.gates], indent=2, sort_keys=True) + "\n"
        )
        client.log_artifact(run_id, str(gates_file), artifact_path="gates")


class BuildRun(TypedDict):
    """What one build's run holds: the keyword arguments `log_build` and `record_build` share.

    `artifacts` maps an artifact folder to a file or folder to log under it (e.g.
    `{"evaluation": Path(".../evaluation")}`); every path must exist.
    """

    run_name: str
    hyperparameters: Mapping[str, str]
    data_quality: Mapping[str, Any]
    evaluation: Mapping[str, Any]
    gates: Sequence[GateResult | tuple[str, float, float, bool] | GateRow]
    artifacts: Mapping[str, Path]
    tags: Mapping[str, str]
    dataset_sizes: NotRequired[Mapping[str, int] | None]


def log_build(
    tracking: TrackingSettings,
    *,
    work_dir: Path | None = None,
    tracking_uri: str | None = None,
    **build: Unpack[BuildRun],
) -> str:
    """Log one build as one finished MLflow run; returns the run id, or raises TrackingError.

    The gate verdicts are also logged as `gates/gates.json`. The experiment is
    `tracking.experiment`, else the `model_package_group` tag.
    """
    return _log_build(tracking, build, work_dir=work_dir, tracking_uri=tracking_uri)[0]


def _log_build(
    tracking: TrackingSettings,
    build: BuildRun,
    *,
    work_dir: Path | None = None,
    tracking_uri: str | None = None,
) -> tuple[str, str]:
    """`log_build`, returning (run id, experiment id)."""
    uri = tracking_uri or resolve_tracking_uri(tracking, work_dir)
    if uri is None:
        raise TrackingError("tracking.mode is off: nothing to log to")
    tags, artifacts = build["tags"], build["artifacts"]
    experiment = tracking.experiment or tags.get(RunTag.MODEL_PACKAGE_GROUP)
    if not experiment:
        raise TrackingError(
            "no experiment name: set tracking.experiment or pass the model_package_group tag"
        )
    _check_artifacts(artifacts)
    content = run_content(
        hyperparameters=build["hyperparameters"],
        data_quality=build["data_quality"],
        evaluation=build["evaluation"],
        gates=build["gates"],
        tags=tags,
        dataset_sizes=build.get("dataset_sizes"),
    )
    db = _sqlite_path(uri)
    run_id = experiment_id = ""
    try:
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        with _connect(uri) as client:
            experiment_id = _experiment_id(client, uri, experiment)
            run_id = str(client.create_run(experiment_id, run_name=build["run_name"]).info.run_id)
            try:
                _log_content(client, run_id, content, {k: Path(v) for k, v in artifacts.items()})
            except Exception:
                # A half-logged run stays visible, marked FAILED, never FINISHED.
                with contextlib.suppress(Exception):
                    client.set_terminated(run_id, "FAILED")
                raise
            client.set_terminated(run_id, "FINISHED")
    except TrackingError:
        raise
    except Exception as exc:
        where = f"run {run_id} at {uri}" if run_id else uri
        raise TrackingError(f"cannot log the build to {where}: {_reason(exc)}") from exc
    return run_id, experiment_id


def record_build(
    tracking: TrackingSettings,
    *,
    work_dir: Path | None = None,
    tracking_uri: str | None = None,
    **build: Unpack[BuildRun],
) -> TrackingOutcome:
    """`log_build` under the configured policy: off, fail (raises TrackingError) or warn."""
    experiment = tracking.experiment or build["tags"].get(RunTag.MODEL_PACKAGE_GROUP, "")
    if tracking.mode == "off" and tracking_uri is None:
        return TrackingOutcome("off", NOT_LOGGED, "", "", experiment, "tracking.mode is off")
    uri = ""
    try:
        uri = tracking_uri or resolve_tracking_uri(tracking, work_dir) or ""
        run_id, experiment_id = _log_build(tracking, build, tracking_uri=uri)
    except TrackingError as exc:
        if tracking.on_failure == "fail":
            raise
        logging.getLogger(__name__).warning("MLflow run not logged: %s", exc)
        return TrackingOutcome("not-logged", NOT_LOGGED, "", uri, experiment, str(exc))
    return TrackingOutcome("logged", run_id, str(experiment_id), uri, experiment)


def link_model_package(
    tracking: TrackingSettings,
    run_id: str,
    model_package_arn: str,
    *,
    work_dir: Path | None = None,
    tracking_uri: str | None = None,
) -> bool:
    """Tag the run with the model package ARN it was registered as; True when tagged.

    Nothing to do (False) when tracking is off or the build's run was not logged. A failure
    raises TrackingError, or with `on_failure: warn` logs a warning and returns False.
    """
    if run_id == NOT_LOGGED or (tracking.mode == "off" and tracking_uri is None):
        return False
    uri = tracking_uri or resolve_tracking_uri(tracking, work_dir)
    if uri is None:
        return False
    try:
        with _connect(uri) as client:
            client.set_tag(run_id, RunTag.MODEL_PACKAGE_ARN, model_package_arn)
    except Exception as exc:
        error = (
            exc
            if isinstance(exc, TrackingError)
            else TrackingError(f"cannot tag run {run_id} at {uri}: {_reason(exc)}")
        )
        if tracking.on_failure == "fail":
            raise error from exc
        logging.getLogger(__name__).warning("MLflow run not linked: %s", error)
        return False
    return True


def runs_for_model_package(
    tracking: TrackingSettings,
    model_package_arn: str,
    *,
    work_dir: Path | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> list[str]:
    """Ids of the runs tagged with a model package ARN (the way back from a version to its run)."""
    uri = tracking_uri or resolve_tracking_uri(tracking, work_dir)
    if uri is None:
        return []
    name = experiment or tracking.experiment
    try:
        with _connect(uri) as client:
            if name:
                found = client.get_experiment_by_name(name)
                ids = [str(found.experiment_id)] if found else []
            else:
                ids = [str(e.experiment_id) for e in client.search_experiments()]
            if not ids:
                return []
            escaped = model_package_arn.replace("'", "\\'")
            runs = client.search_runs(
                ids, filter_string=f"tags.{RunTag.MODEL_PACKAGE_ARN} = '{escaped}'"
            )
    except TrackingError:
        raise
    except Exception as exc:
        raise TrackingError(f"cannot search runs at {uri}: {_reason(exc)}") from exc
    return [run.info.run_id for run in runs]


def _command_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def ui_command(tracking: TrackingSettings, work_dir: Path) -> str:
    """The one command that opens the MLflow UI on where offline runs go ("" when off)."""
    uri = resolve_tracking_uri(tracking, work_dir)
    if uri is None:
        return ""
    if uri.startswith(("http://", "https://")):
        return f"open {uri}"
    mlflow = Path(sys.executable).with_name("mlflow")
    exe = _command_path(mlflow) if mlflow.exists() else "mlflow"
    # The UI server is MLflow too: keep its usage telemetry off, as for the runs.
    return (
        f"MLFLOW_DISABLE_TELEMETRY=true {shlex.quote(exe)} ui "
        f"--backend-store-uri {shlex.quote(uri)} --port 5000"
    )


def sagemaker_ui_command(tracking_server_arn: str) -> str:
    """The AWS CLI command that prints a one-time URL of a SageMaker MLflow server's UI."""
    match = SAGEMAKER_MLFLOW_ARN.match(tracking_server_arn)
    if not match:
        raise TrackingError(f"{tracking_server_arn!r} is not a SageMaker MLflow ARN")
    region = tracking_server_arn.split(":")[3]
    kind, name = tracking_server_arn.rsplit(":", 1)[1].split("/", 1)
    if kind == "mlflow-app":
        target = f"create-presigned-mlflow-app-url --arn {tracking_server_arn}"
    else:
        target = f"create-presigned-mlflow-tracking-server-url --tracking-server-name {name}"
    return f"aws sagemaker {target} --region {region} --query AuthorizedUrl --output text"


def tracking_server_arn(
    tracking: TrackingSettings,
    project: str,
    *,
    partition: str = "${AWS::Partition}",
    region: str = "${AWS::Region}",
    account: str = "${AWS::AccountId}",
) -> str:
    """The ARN the pipeline's Track step logs to in sagemaker mode.

    `tracking.uri` when set; else the server the CDK creates, with CloudFormation pseudo
    parameters (Fn::Sub fills them) unless concrete values are given.
    """
    if tracking.mode == "sagemaker" and tracking.uri:
        return tracking.uri
    name = tracking.tracking_server_name(project)
    return f"arn:{partition}:sagemaker:{region}:{account}:mlflow-tracking-server/{name}"


__all__ = [
    "NOT_LOGGED",
    "BuildRun",
    "TrackingError",
    "TrackingOutcome",
    "link_model_package",
    "local_store_uri",
    "log_build",
    "record_build",
    "resolve_tracking_uri",
    "runs_for_model_package",
    "sagemaker_ui_command",
    "tracking_server_arn",
    "ui_command",
]
