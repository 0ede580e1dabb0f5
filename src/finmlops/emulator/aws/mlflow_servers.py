"""SageMaker's MLflow tracking servers in the emulator: what the API keeps about a server.

moto (5.2.x) has no MLflow tracking server operations. The dev stage creates one
(`AWS::SageMaker::MlflowTrackingServer`) when `tracking.mode` is `sagemaker`, and `finmlops
verify` reads its status. `install()` adds CreateMlflowTrackingServer, DescribeMlflowTrackingServer,
ListMlflowTrackingServers, StartMlflowTrackingServer, StopMlflowTrackingServer and
DeleteMlflowTrackingServer with the fields and statuses of the SageMaker API reference
(TrackingServerStatus, IsActive, TrackingServerUrl; ResourceNotFound for an unknown name;
ConflictException for a name in use). A new server is `Created` at once, as moto's endpoints are
`InService` at once: on AWS creation takes minutes. No MLflow runs here; the offline runs log to
a local store (docs/tracking.md). tests/emulator/test_mlflow_servers.py pins each answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_INSTALLED = "_finmlops_mlflow_servers"
_SIZES = frozenset({"Small", "Medium", "Large"})


def _servers(backend: Any) -> dict[str, dict[str, Any]]:
    servers: dict[str, dict[str, Any]] | None = getattr(backend, "finmlops_mlflow_servers", None)
    if servers is None:
        servers = {}
        backend.finmlops_mlflow_servers = servers
    return servers


def install() -> None:
    """Patch moto in this process (idempotent), for `mock_aws` and the embedded server alike."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ConflictException, ResourceNotFound, ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    if getattr(SageMakerResponse, _INSTALLED, False):
        return

    def server(self: Any) -> dict[str, Any]:
        name = self._get_param("TrackingServerName")
        found = _servers(self.sagemaker_backend).get(name)
        if found is None:
            raise ResourceNotFound(f"Tracking server {name} does not exist.")
        return found

    def create_mlflow_tracking_server(self: Any) -> Any:
        backend = self.sagemaker_backend
        name = self._get_param("TrackingServerName")
        if name in _servers(backend):
            raise ConflictException(f"Tracking server {name} already exists.")
        for field in ("ArtifactStoreUri", "RoleArn"):
            if not self._get_param(field):
                raise ValidationError(f"{field} is required")
        size = self._get_param("TrackingServerSize") or "Small"
        if size not in _SIZES:
            raise ValidationError(f"TrackingServerSize {size!r} is not one of {sorted(_SIZES)}")
        arn = (
            f"arn:{backend.partition}:sagemaker:{backend.region_name}:{backend.account_id}:"
            f"mlflow-tracking-server/{name}"
        )
        now = datetime.now(UTC)
        _servers(backend)[name] = {
            "TrackingServerArn": arn,
            "TrackingServerName": name,
            "ArtifactStoreUri": self._get_param("ArtifactStoreUri"),
            "TrackingServerSize": size,
            "MlflowVersion": self._get_param("MlflowVersion") or "3.0",
            "RoleArn": self._get_param("RoleArn"),
            "TrackingServerStatus": "Created",
            "IsActive": "Active",
            "TrackingServerUrl": f"https://{name}.{backend.region_name}.experiments.sagemaker.aws",
            "WeeklyMaintenanceWindowStart": self._get_param("WeeklyMaintenanceWindowStart")
            or "Tue:03:30",
            "AutomaticModelRegistration": bool(self._get_param("AutomaticModelRegistration")),
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        return ActionResult({"TrackingServerArn": arn})

    def describe_mlflow_tracking_server(self: Any) -> Any:
        return ActionResult(dict(server(self)))

    def list_mlflow_tracking_servers(self: Any) -> Any:
        keys = ("TrackingServerArn", "TrackingServerName", "CreationTime", "LastModifiedTime",
                "TrackingServerStatus", "IsActive", "MlflowVersion")  # fmt: skip
        summaries = [{k: s[k] for k in keys} for s in _servers(self.sagemaker_backend).values()]
        return ActionResult({"TrackingServerSummaries": summaries})

    def _transition(status: str, active: str) -> Any:
        def handler(self: Any) -> Any:
            found = server(self)
            found.update(
                TrackingServerStatus=status, IsActive=active, LastModifiedTime=datetime.now(UTC)
            )
            return ActionResult({"TrackingServerArn": found["TrackingServerArn"]})

        return handler

    def delete_mlflow_tracking_server(self: Any) -> Any:
        found = server(self)
        del _servers(self.sagemaker_backend)[found["TrackingServerName"]]
        return ActionResult({"TrackingServerArn": found["TrackingServerArn"]})

    handlers = {
        "create_mlflow_tracking_server": create_mlflow_tracking_server,
        "describe_mlflow_tracking_server": describe_mlflow_tracking_server,
        "list_mlflow_tracking_servers": list_mlflow_tracking_servers,
        "start_mlflow_tracking_server": _transition("Started", "Active"),
        "stop_mlflow_tracking_server": _transition("Stopped", "Inactive"),
        "delete_mlflow_tracking_server": delete_mlflow_tracking_server,
    }
    for name, handler in handlers.items():
        setattr(SageMakerResponse, name, handler)
    setattr(SageMakerResponse, _INSTALLED, True)
