"""Tracking on SageMaker managed MLflow from dev's VPC: the interface endpoint the Track step
needs, and the server's MLflow version."""

from __future__ import annotations

import json
from typing import Any


def _mlflow_endpoints(synth: Any, env: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for *_, r in synth.resources("AWS::EC2::VPCEndpoint", env)
        if ".experiments" in json.dumps(r["Properties"]["ServiceName"])
    ]


def test_dev_vpc_reaches_sagemaker_mlflow_through_an_interface_endpoint(platform: Any) -> None:
    """The Track step runs in dev's VPC, which has no internet route; the sagemaker-mlflow client
    calls <region>.experiments.sagemaker.aws, served in the VPC by the interface endpoint service
    aws.sagemaker.<region>.experiments with private DNS (docs page mlflow-interface-endpoint-create)."""
    (endpoint,) = _mlflow_endpoints(platform, "dev")
    assert endpoint["VpcEndpointType"] == "Interface"
    assert endpoint["PrivateDnsEnabled"] is True
    service = json.dumps(endpoint["ServiceName"])
    assert "aws.sagemaker." in service and ".experiments" in service
    assert endpoint["SecurityGroupIds"], "HTTPS from the job security group only"
    from finmlops_cdk.model_build import MLFLOW_ACTIONS

    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(MLFLOW_ACTIONS)
    resources = json.dumps(statement["Resource"])
    assert ":mlflow-tracking-server/*" in resources and ":mlflow-app/*" in resources
    assert "aws:PrincipalAccount" in statement["Condition"]["StringEquals"]


def test_no_mlflow_endpoint_where_nothing_logs_to_sagemaker_mlflow(
    platform: Any, variant: Any
) -> None:
    for env in ("stage", "prod"):
        assert _mlflow_endpoints(platform, env) == []
    assert _mlflow_endpoints(variant, "dev") == []  # the variant tracks locally


def test_tracking_server_runs_the_configured_mlflow_version(platform: Any, config: Any) -> None:
    (server,) = [r for *_, r in platform.resources("AWS::SageMaker::MlflowTrackingServer", "dev")]
    assert server["Properties"]["MlflowVersion"] == config.tracking.server_mlflow_version
