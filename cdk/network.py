"""The environment's network: the configured VPC (imported, never looked up), the security group
of SageMaker jobs and models, and the VPC endpoints that let them reach AWS without the internet.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct
from finmlops_cdk.compliance import acknowledge

from finmlops.config import ConfigError, Environment

# SageMaker managed MLflow: the sagemaker-mlflow client calls
# https://<region>.experiments.sagemaker.aws (sagemaker_mlflow.mlflow_sagemaker_helpers), which
# the interface endpoint service aws.sagemaker.<region>.experiments serves inside the VPC (docs
# pages mlflow-interface-endpoint-create and mlflow-private-link-policy).
MLFLOW_ENDPOINT = ("SageMakerMlflow", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_EXPERIMENTS)

INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
}


def import_vpc(scope: Construct, id_: str, *, environment: Environment, name: str) -> ec2.IVpc:
    """The VPC from its configured ids: no context lookup, so synth never calls AWS."""
    vpc = environment.vpc
    if vpc is None:
        raise ConfigError(
            "<config>",
            [(f"environments.{name}.vpc", "required: SageMaker jobs and models run in the VPC")],
        )
    zones = list(vpc.availability_zones)
    if len(zones) != len(vpc.subnet_ids):
        raise ConfigError(
            "<config>",
            [
                (
                    f"environments.{name}.vpc.availability_zones",
                    f"give one zone per subnet ({len(vpc.subnet_ids)} subnets, {len(zones)} zones)",
                )
            ],
        )
    route_tables: tuple[str, ...] = vpc.route_table_ids
    attributes: dict[str, Any] = {
        "vpc_id": vpc.vpc_id,
        "availability_zones": zones,
        "private_subnet_ids": list(vpc.subnet_ids),
    }
    if route_tables:
        attributes["private_subnet_route_table_ids"] = list(route_tables)
    imported = ec2.Vpc.from_vpc_attributes(scope, id_, **attributes)
    if not route_tables:
        for subnet in imported.private_subnets:
            Annotations.of(subnet).acknowledge_warning(
                "@aws-cdk/aws-ec2:noSubnetRouteTableId",
                "No construct here reads the subnets' route tables; the S3 gateway endpoint "
                "takes route table ids from the config when given (docs/cdk.md).",
            )
    return imported


class Network(Construct):
    """Security groups and VPC endpoints in the imported VPC.

    Attributes: `vpc`, `subnets` (the configured subnet ids), `job_security_group` (SageMaker
    jobs, models and monitoring), `endpoint_security_group` (the interface endpoints).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        environment: Environment,
        name: str,
        mlflow: bool = False,
    ) -> None:
        """`mlflow`: jobs in this VPC log to SageMaker managed MLflow (dev, tracking.mode
        "sagemaker"), so the VPC gets an interface endpoint for it, its policy limited to the
        logging actions on this account's tracking servers and MLflow Apps."""
        super().__init__(scope, id_)
        self.vpc = import_vpc(self, "Vpc", environment=environment, name=name)
        assert environment.vpc is not None  # checked by import_vpc
        self.subnet_ids: list[str] = list(environment.vpc.subnet_ids)
        self.route_table_ids: list[str] = list(
            getattr(environment.vpc, "route_table_ids", ()) or ()
        )

        self.job_security_group = ec2.SecurityGroup(
            self,
            "JobSecurityGroup",
            vpc=self.vpc,
            description="SageMaker processing, training, monitoring jobs and models",
            allow_all_outbound=False,
        )
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from SageMaker jobs and models only",
            allow_all_outbound=False,
        )
        https = ec2.Port.tcp(443)
        self.endpoint_security_group.add_ingress_rule(
            self.job_security_group, https, "HTTPS from SageMaker jobs and models"
        )
        self.job_security_group.add_egress_rule(
            self.endpoint_security_group, https, "HTTPS to the interface endpoints"
        )
        # S3 through the gateway endpoint: its prefix list is regional, so allow HTTPS out; the
        # subnets have no internet route (the VPC is the platform team's, see docs/cdk.md).
        self.job_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), https, "HTTPS to S3 through the gateway endpoint"
        )
        # Distributed training and processing: traffic between the job's own instances.
        self.job_security_group.add_ingress_rule(
            self.job_security_group, ec2.Port.all_traffic(), "Between instances of one job"
        )
        self.job_security_group.add_egress_rule(
            self.job_security_group, ec2.Port.all_traffic(), "Between instances of one job"
        )
        self_ingress = (
            "Ingress from this same security group only: the instances of one distributed job "
            "exchange data on ports the framework chooses; nothing else may connect."
        )
        for child in self.job_security_group.node.children:
            if child.node.id.startswith("from ") and child.node.id.endswith("ALL TRAFFIC"):
                acknowledge(
                    child,
                    {
                        "NIST.800.53.R5-EC2RestrictedCommonPorts": self_ingress,
                        "PCI.DSS.321-EC2RestrictedCommonPorts": self_ingress,
                    },
                )

        subnets = ec2.SubnetSelection(subnets=self.vpc.private_subnets)
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        services = dict(INTERFACE_ENDPOINTS)
        if mlflow:
            services[MLFLOW_ENDPOINT[0]] = MLFLOW_ENDPOINT[1]
        for endpoint_id, service in services.items():
            self.interface_endpoints[endpoint_id] = ec2.InterfaceVpcEndpoint(
                self,
                endpoint_id,
                vpc=self.vpc,
                service=service,
                subnets=subnets,
                private_dns_enabled=True,
                open=False,
                security_groups=[self.endpoint_security_group],
            )
        stack = Stack.of(self)
        if mlflow:
            # The actions the Track step's role holds, on this account's servers and apps only.
            from finmlops_cdk.model_build import MLFLOW_ACTIONS

            own = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
            self.interface_endpoints[MLFLOW_ENDPOINT[0]].add_to_policy(
                iam.PolicyStatement(
                    sid="OwnMlflowOnly",
                    principals=[iam.AnyPrincipal()],
                    actions=list(MLFLOW_ACTIONS),
                    resources=[f"{own}:mlflow-tracking-server/*", f"{own}:mlflow-app/*"],
                    conditions={"StringEquals": {"aws:PrincipalAccount": stack.account}},
                )
            )
        self.s3_gateway = ec2.CfnVPCEndpoint(
            self,
            "S3Gateway",
            vpc_id=self.vpc.vpc_id,
            service_name=f"com.amazonaws.{stack.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=self.route_table_ids or None,
        )
