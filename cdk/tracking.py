"""The platform's experiment tracking: one SageMaker managed MLflow server in dev, shared by every
model's build (config.tracking, mode "sagemaker", no uri); each build logs its runs under its own
experiment. Created in dev's data stack: it keeps the platform's run history."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.security import (
    kms_access,
    managed_policy,
    object_ack,
    s3_access,
    service_in_this_account,
)

from finmlops.naming import Names

MLFLOW_ACTIONS: tuple[str, ...] = (
    "sagemaker-mlflow:AccessUI",
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:GetExperiment",
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:SearchExperiments",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:UpdateRun",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:SearchRuns",
    "sagemaker-mlflow:LogMetric",
    "sagemaker-mlflow:LogParam",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:LogInputs",
    "sagemaker-mlflow:LogModel",
    "sagemaker-mlflow:SetTag",
    "sagemaker-mlflow:GetMetricHistory",
    "sagemaker-mlflow:ListArtifacts",
)
MLFLOW_PREFIX = "mlflow/"


class TrackingServer(Construct):
    """The SageMaker managed MLflow tracking server of the build (config.tracking, mode
    "sagemaker", no uri): artifacts in the artifact bucket under mlflow/.

    Attributes: `server`, `arn`, `role`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        size: str,
        mlflow_version: str,
        n: Names,
        data_key: kms.IKey,
    ) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=service_in_this_account(self, "sagemaker"),
            description="MLflow tracking server: its artifact store only",
        )
        policy = managed_policy(
            self,
            "Permissions",
            role=self.role,
            statements=[
                *s3_access(
                    sid="ArtifactStore",
                    partition=n.partition,
                    bucket=n.artifact_bucket,
                    prefix=MLFLOW_PREFIX,
                    read=True,
                    write=True,
                    list_objects=True,
                ),
                kms_access(sid="ArtifactKey", key_arn=data_key.key_arn, decrypt=True, encrypt=True),
            ],
        )
        acknowledge(
            policy,
            object_ack(
                n.partition,
                n.artifact_bucket,
                MLFLOW_PREFIX,
                "MLflow's artifact store: run artifacts under mlflow/<experiment>/<run>/.",
            ),
        )
        self.server = sagemaker.CfnMlflowTrackingServer(
            self,
            "Server",
            tracking_server_name=name,
            tracking_server_size=size,
            artifact_store_uri=f"s3://{n.artifact_bucket}/{MLFLOW_PREFIX.rstrip('/')}",
            role_arn=self.role.role_arn,
            automatic_model_registration=False,  # the pipeline registers, with its evidence
            # The line of the MLflow client the Track step runs (config.tracking).
            mlflow_version=mlflow_version,
        )
        self.server.node.add_dependency(policy)
        self.arn = self.server.attr_tracking_server_arn
