"""Which AWS services each workload calls, declared once: what a VPC must reach through endpoints.

A workload that runs in our VPCs (which have no internet egress) reaches an AWS service only
through a VPC endpoint of that service in its VPC. The template rule E9105
(finmlops.governance.cfn_rules.vpc_endpoints) reads this declaration and fails a stage whose
network stack lacks an endpoint a workload needs; the emulator can read the same declaration.

Each workload is named by what runs: a pipeline step by its entry point (`python -m <module>`, or
the script it runs), a job on a built-in image by that image, a Lambda by its handler. Each
service comes with why the workload calls it: the code under src/finmlops that makes the call,
or what SageMaker does inside the job's VPC on the job's behalf. Sources for the latter:
SageMaker Developer Guide "Give SageMaker processing jobs access to resources in your Amazon VPC"
(process-vpc), "... training jobs ..." (train-vpc), "... hosted endpoints ..." (host-vpc): the job's
S3 inputs and outputs and its image pull go through the job's VPC; "Connect to SageMaker AI
within your VPC" (interface-vpc-endpoint); ECR "Amazon ECR interface VPC endpoints" (an image pull
needs ecr.api, ecr.dkr and the S3 gateway for the layers); SageMaker MLflow "Create a VPC endpoint
policy for SageMaker AI MLflow" (mlflow-private-link-policy): the tracking server is reached
through its own interface endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Service(StrEnum):
    """An AWS service as its VPC endpoint names it (`com.amazonaws.<region>.<value>`)."""

    S3 = "s3"
    ECR_API = "ecr.api"
    ECR_DKR = "ecr.dkr"
    LOGS = "logs"
    METRICS = "monitoring"
    STS = "sts"
    KMS = "kms"
    SSM = "ssm"
    SAGEMAKER_API = "sagemaker.api"
    SAGEMAKER_RUNTIME = "sagemaker.runtime"
    CODEPIPELINE = "codepipeline"
    MLFLOW = "experiments"  # aws.sagemaker.<region>.experiments, see endpoint_service_name


def endpoint_service_name(service: Service, region: str) -> str:
    """The ServiceName of the VPC endpoint that serves `service` in `region`.

    SageMaker MLflow's endpoint service is `aws.sagemaker.<region>.experiments`: the
    sagemaker-mlflow plugin signs requests to `https://<region>.experiments.sagemaker.<suffix>`
    (sagemaker_mlflow/mlflow_sagemaker_helpers.py), which that endpoint's private DNS serves.
    """
    if service is Service.MLFLOW:
        return f"aws.sagemaker.{region}.experiments"
    return f"com.amazonaws.{region}.{service.value}"


@dataclass(frozen=True)
class Workload:
    """What runs, and which services it calls with the reason for each."""

    name: str
    calls: Mapping[Service, str]


_IMAGE_PULL: dict[Service, str] = {
    Service.ECR_API: "image pull: SageMaker authenticates to ECR for the job's image",
    Service.ECR_DKR: "image pull: the image manifest and layers are fetched from the registry",
    Service.S3: "image pull: ECR serves image layers from S3",
}
_JOB: dict[Service, str] = {
    **_IMAGE_PULL,
    Service.S3: "SageMaker downloads the job's inputs and uploads its outputs through its VPC",
    Service.LOGS: "the job's stdout and stderr go to CloudWatch Logs (/aws/sagemaker/...)",
}
_MONITOR: dict[Service, str] = {
    **_JOB,
    Service.S3: (
        "finmlops.monitoring.entrypoint reads captured traffic and the baseline "
        "(boto3 s3 client) and SageMaker moves the job's outputs"
    ),
    Service.METRICS: "finmlops.monitoring.cloudwatch publishes drift and quality metrics (PutMetricData)",
}

WORKLOADS: tuple[Workload, ...] = (
    # The model-build pipeline (pipelines/definition.py).
    Workload("processing:preprocess", _JOB),  # finmlops.steps.preprocess: local files only
    Workload("training:sagemaker-xgboost", _JOB),  # the built-in XGBoost algorithm container
    Workload("processing:evaluate", _JOB),  # finmlops.steps.evaluate: local files only
    Workload("processing:finmlops.monitoring.baseline_step", _JOB),  # local files only
    Workload("processing:finmlops.governance.evidence_step", _JOB),  # local files only
    Workload("processing:finmlops.serving.package_step", _JOB),  # local files only
    Workload("processing:finmlops.serving.batch", _JOB),  # batch scoring: local files only
    Workload(
        "processing:finmlops.tracking.track_step",
        {
            **_JOB,
            Service.MLFLOW: (
                "finmlops.tracking.runs logs the run to the SageMaker MLflow tracking server "
                "through the sagemaker-mlflow plugin"
            ),
            Service.S3: (
                "MLflow uploads the run's artifacts to the tracking server's artifact store "
                "(S3ArtifactRepository); SageMaker moves the job's inputs and outputs"
            ),
        },
    ),
    # The monitoring pipeline (pipeline mode) and Model Monitor schedules run the project image,
    # whose entry point is `python -m finmlops.monitoring` (docker/monitoring/Dockerfile).
    Workload("processing:finmlops.monitoring", _MONITOR),
    Workload("model-monitor:finmlops.monitoring", _MONITOR),
    # Serving: the model in the endpoint (a registered version, on the built-in XGBoost image).
    Workload(
        "model:registered-version",
        {
            **_IMAGE_PULL,
            Service.S3: "SageMaker downloads model.tar.gz and pulls image layers through the VPC",
            Service.LOGS: "the serving container's logs go to CloudWatch Logs",
        },
    ),
    # Lambdas: none runs in a VPC today; declared so that moving one into a VPC is checked.
    Workload(
        "lambda:finmlops.registry.handler.handler",
        {
            Service.SAGEMAKER_API: "finmlops.registry.handler reads and stamps model package versions",
            Service.S3: "finmlops.registry.handler writes audit and promotion records",
            Service.CODEPIPELINE: "finmlops.registry.handler starts the promotion pipeline",
        },
    ),
    Workload(
        "lambda:finmlops.alerts.chat.handler",
        {Service.SSM: "finmlops.alerts.chat reads the webhook URL parameter (GetParameter)"},
    ),
)

BY_NAME: Mapping[str, Workload] = {w.name: w for w in WORKLOADS}

# A project image built by CDK (docker/monitoring/Dockerfile): ENTRYPOINT python -m finmlops.monitoring.
PROJECT_IMAGE_ENTRYPOINT = "finmlops.monitoring"
# Step code shipped as a script: /opt/ml/processing/input/code/<module>[-<content hash>].py
_SCRIPT = re.compile(r"/([A-Za-z_][\w]*?)(?:-[0-9a-f]{8,})?\.py$")


def image_kind(image: str) -> str:
    """'project' for an image CDK built from this repository, else the image's repository name."""
    if "container-assets" in image:
        return "project"
    repository = image.rsplit("/", 1)[-1]
    return repository.split(":", 1)[0].split("@", 1)[0]


def entrypoint_name(entrypoint: Any, image: str) -> str:
    """What a container runs: the module of `python -m <module>`, the script's module, the
    project image's own entry point, or else the image (`image:<repository>`)."""
    parts = [str(p) for p in entrypoint] if isinstance(entrypoint, list) else []
    if "-m" in parts and parts.index("-m") + 1 < len(parts):
        return parts[parts.index("-m") + 1]
    for part in parts:
        script = _SCRIPT.search(part)
        if script:
            return script.group(1)
    if image_kind(image) == "project":
        return PROJECT_IMAGE_ENTRYPOINT
    return f"image:{image_kind(image)}"


def processing_workload(app_specification: Mapping[str, Any]) -> str:
    """The workload name of a processing job (CreateProcessingJob `AppSpecification`)."""
    image = str(app_specification.get("ImageUri", ""))
    return f"processing:{entrypoint_name(app_specification.get('ContainerEntrypoint'), image)}"


def training_workload(algorithm_specification: Mapping[str, Any]) -> str:
    """The workload name of a training job (CreateTrainingJob `AlgorithmSpecification`)."""
    return f"training:{image_kind(str(algorithm_specification.get('TrainingImage', '')))}"
