"""The `tracking:` section of the configuration: where the build's MLflow runs go.

`finmlops.config.Config` holds one `tracking: TrackingSettings` field; this module imports
nothing from finmlops so that config.py can import it without a cycle.

- `mode: local` (default): offline runs (the demo, the emulator) log to a SQLite store inside the
  run's work folder, or to `uri` when given (a SQLite file or URI, or an http(s) MLflow server of
  your own). The deployed pipeline logs nothing; no tracking server is created.
- `mode: sagemaker`: the CDK creates a SageMaker managed MLflow tracking server named
  `server_name` (default `<project>-mlflow`) of MLflow `server_mlflow_version`, or uses the
  server or MLflow App whose ARN is `uri`; the pipeline's Track step logs to it through dev's
  interface endpoint for SageMaker MLflow. Offline runs still log to the local store.
- `mode: off`: nothing is logged anywhere, and every tracking output says so.

`on_failure: fail` (default) fails the build with the reason when a run cannot be logged;
`warn` carries on and states in the output that the run was not logged, with the reason.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

# SageMaker's own patterns (botocore: TrackingServerArn, MlflowAppArn, TrackingServerName).
SAGEMAKER_MLFLOW_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:(mlflow-tracking-server|mlflow-app)/[A-Za-z0-9-]+$"
)
_SERVER_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$"
# MLflow experiment names are free text; keep them to what a URL, a tag and a shell accept as is.
_EXPERIMENT = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$"
_LOCAL_SCHEMES = ("sqlite:///", "http://", "https://")
# MlflowVersion: at most 16 characters, major.minor[.patch].
_MLFLOW_VERSION = r"^[0-9]{1,4}\.[0-9]{1,4}(\.[0-9]{1,4})?$"


class TrackingSettings(BaseModel):
    """Where the build's MLflow runs are logged, and what a logging failure does to the build."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    mode: Literal["local", "sagemaker", "off"] = "local"
    uri: Annotated[str, StringConstraints(min_length=1)] | None = None
    # Default: the model package group, so an experiment's runs are the group's candidate versions.
    experiment: Annotated[str, StringConstraints(pattern=_EXPERIMENT)] | None = None
    on_failure: Literal["fail", "warn"] = "fail"
    # Used only when the CDK creates the server (mode sagemaker, no uri).
    server_name: Annotated[str, StringConstraints(pattern=_SERVER_NAME)] | None = None
    server_size: Literal["Small", "Medium", "Large"] = "Small"
    # The MLflow version of the server the CDK creates (CreateMlflowTrackingServer MlflowVersion):
    # 3.0, the newest line AWS documents for tracking servers (docs page mlflow-track-experiments:
    # 2.13, 2.16, 3.0). AWS asks for the client of the server's line; the Track step's client is
    # the one the project image pins in docker/monitoring/tracking-client.txt, and
    # tests/tracking/test_client_pin.py fails when the two lines differ.
    server_mlflow_version: Annotated[str, StringConstraints(pattern=_MLFLOW_VERSION)] = "3.0"

    @model_validator(mode="after")
    def _uri_fits_mode(self) -> TrackingSettings:
        if self.uri is None:
            return self
        if self.mode == "sagemaker" and not SAGEMAKER_MLFLOW_ARN.match(self.uri):
            raise ValueError(
                f"uri {self.uri!r}: with mode sagemaker it is the ARN of a SageMaker "
                "MLflow tracking server or MLflow App "
                "(arn:aws:sagemaker:<region>:<account>:mlflow-tracking-server/<name>), "
                "or leave it out to have the CDK create one"
            )
        if self.mode == "local" and "://" in self.uri and not self.uri.startswith(_LOCAL_SCHEMES):
            raise ValueError(
                f"uri {self.uri!r}: with mode local it is a SQLite file path, a "
                "sqlite:/// URI, or the http(s):// address of an MLflow server"
            )
        if self.mode == "off":
            raise ValueError("uri is set but mode is off: remove one of them")
        return self

    def experiment_name(self, package_group: str) -> str:
        """The MLflow experiment: the configured one, else the model package group."""
        return self.experiment or package_group

    def tracking_server_name(self, project: str) -> str:
        """The name of the tracking server the CDK creates (mode sagemaker, no uri)."""
        return self.server_name or f"{project}-mlflow"


def mlflow_line(version: str) -> tuple[int, int]:
    """major.minor of an MLflow version: the line AWS matches a client to a server by."""
    major, minor, *_ = version.split(".")
    return int(major), int(minor)


__all__ = ["SAGEMAKER_MLFLOW_ARN", "TrackingSettings", "mlflow_line"]
