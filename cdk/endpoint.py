"""Serving (stage and prod): the approved version behind a real-time endpoint.

The version arrives as a `DeploymentManifest` prop. Updates are blue/green with canary or linear
traffic shifting and roll back automatically on alarms defined in this same stack; requests and
responses are captured, encrypted, to the capture bucket; capacity scales between the configured
counts (prod never below two instances).
"""

from __future__ import annotations

import math
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from finmlops_cdk.compliance import acknowledge
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.network import Network
from finmlops_cdk.sagemaker_roles import SageMakerExecutionRole, sagemaker_arn
from finmlops_cdk.security import iam5_resource, object_ack, object_arn, s3_access

from finmlops.config import Config, ConfigError, Deployment, Instances, deployment_problems
from finmlops.contracts import DeploymentManifest
from finmlops.naming import VARIANT_NAME, Names, Role, names

CAPTURE_PREFIX = "capture"
INVOCATIONS_PER_INSTANCE_TARGET = 200
MAX_EXECUTION_TIMEOUT_SECONDS = 28800  # SageMaker's upper bound for a guarded deployment


def traffic_routing(
    deployment: Deployment, instances: Instances, environment: str
) -> sagemaker.CfnEndpoint.TrafficRoutingConfigProperty:
    """CANARY or LINEAR shifting in whole instances, with the configured baking time.

    SageMaker refuses a canary above 50 % and a linear step outside 10-50 % of the variant's
    instances (API TrafficRoutingConfig; docs page deployment-guardrails-blue-green-canary), so
    a one-instance variant can have neither: the config loader refuses it, and so does this.
    """
    problems = deployment_problems(deployment, environment, instances)
    if problems:
        raise ConfigError("<config>", problems)
    size = sagemaker.CfnEndpoint.CapacitySizeProperty(
        type="INSTANCE_COUNT", value=deployment.step_instances(instances)
    )
    bake = deployment.baking_minutes * 60
    if deployment.strategy == "canary":
        return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type="CANARY", canary_size=size, wait_interval_in_seconds=bake
        )
    return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
        type="LINEAR", linear_step_size=size, wait_interval_in_seconds=bake
    )


def execution_timeout(deployment: Deployment, instances: Instances) -> int:
    """Long enough for every baking step over the largest fleet plus the wait before the old
    fleet goes."""
    step = deployment.step_instances(instances)
    steps = 1 if deployment.strategy == "canary" else math.ceil(instances.endpoint_max_count / step)
    seconds: int = (steps * deployment.baking_minutes + deployment.wait_minutes + 60) * 60
    return min(max(seconds, 600), MAX_EXECUTION_TIMEOUT_SECONDS)


class RollbackAlarms(Construct):
    """The alarms a guarded deployment watches: 5xx, model latency, model invocation errors.

    Attribute: `alarms` (name -> Alarm).
    """

    def __init__(
        self, scope: Construct, id_: str, *, endpoint_name: str, max_latency_ms: int
    ) -> None:
        super().__init__(scope, id_)
        dims = {"EndpointName": endpoint_name, "VariantName": VARIANT_NAME}

        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name=name,
                dimensions_map=dims,
                statistic=statistic,
                period=Duration.minutes(1),
            )

        self.alarms = {
            "Errors5xx": cloudwatch.Alarm(
                self,
                "Errors5xx",
                alarm_name=f"{endpoint_name}-rollback-errors5xx",
                alarm_description=f"{endpoint_name}: the endpoint answers 5xx",
                metric=metric("Invocation5XXErrors", "Sum"),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=2,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "ModelLatency": cloudwatch.Alarm(
                self,
                "ModelLatency",
                alarm_name=f"{endpoint_name}-rollback-modellatency",
                alarm_description=f"{endpoint_name}: p99 model latency above {max_latency_ms} ms",
                # ModelLatency is reported in microseconds.
                metric=metric("ModelLatency", "p99"),
                threshold=max_latency_ms * 1000,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "ModelErrors": cloudwatch.Alarm(
                self,
                "ModelErrors",
                alarm_name=f"{endpoint_name}-rollback-modelerrors",
                alarm_description=f"{endpoint_name}: the model container fails invocations",
                metric=metric("InvocationModelErrors", "Sum"),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=2,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        }
        self.names = [f"{endpoint_name}-rollback-{key.lower()}" for key in self.alarms]


class ModelEndpoint(Construct):
    """Model (network-isolated, in the VPC), endpoint config (KMS, data capture) and the endpoint
    with a guarded blue/green deployment.

    Attributes: `model`, `endpoint_config`, `endpoint`, `endpoint_name`, `rollback` (alarms),
    `scaling` (ScalableTarget, None when `instances.endpoint_autoscaling` is off).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        endpoint_name: str,
        manifest: DeploymentManifest,
        role: iam.IRole,
        network: Network,
        instances: Instances,
        deployment: Deployment,
        key_arn: str,
        capture_uri: str,
        environment: str,
    ) -> None:
        super().__init__(scope, id_)
        self.endpoint_name = endpoint_name
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=manifest.model_package_arn
            ),
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                subnets=network.subnet_ids,
                security_group_ids=[network.job_security_group.security_group_id],
            ),
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    model_name=self.model.attr_model_name,
                    initial_instance_count=instances.endpoint_count,
                    instance_type=instances.endpoint,
                    initial_variant_weight=1.0,
                )
            ],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True,
                initial_sampling_percentage=100,
                destination_s3_uri=capture_uri,
                kms_key_id=key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    csv_content_types=["text/csv"], json_content_types=["application/json"]
                ),
            ),
        )
        self.rollback = RollbackAlarms(
            self, "Rollback", endpoint_name=endpoint_name, max_latency_ms=deployment.max_latency_ms
        )
        autoscaled = instances.endpoint_autoscaling
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            # Each promotion creates a new endpoint config; without this its InitialInstanceCount
            # would replace the count autoscaling reached (UpdateEndpoint
            # RetainAllVariantProperties: the variant keeps DescribeEndpoint's
            # DesiredInstanceCount). Without autoscaling, the config's count is the count.
            retain_all_variant_properties=autoscaled,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=traffic_routing(
                        deployment, instances, environment
                    ),
                    termination_wait_in_seconds=deployment.wait_minutes * 60,
                    maximum_execution_timeout_in_seconds=execution_timeout(deployment, instances),
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[
                        sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name)
                        for alarm in self.rollback.alarms.values()
                    ]
                ),
            ),
        )
        Tags.of(self.endpoint).add("model-package-version", str(manifest.version))
        Tags.of(self.model).add("model-package-version", str(manifest.version))

        self.scaling: autoscaling.ScalableTarget | None = None
        if not autoscaled:
            return
        # Registered after the endpoint exists and after each update of it (the dependency), so a
        # deployment that turns autoscaling back on with a new instance type updates the
        # endpoint first and registers the variant afterwards (docs page endpoint-scaling-update).
        self.scaling = autoscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=instances.endpoint_count,
            max_capacity=instances.endpoint_max_count,
        )
        self.scaling.node.add_dependency(self.endpoint)
        self.scaling.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=INVOCATIONS_PER_INSTANCE_TARGET,
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=Duration.minutes(10),
            scale_out_cooldown=Duration.minutes(2),
        )


def grant_registry_read(role: iam.Role, scope: Construct, n: Names) -> iam.ManagedPolicy:
    """Read model artifacts and baselines the dev account built (its bucket policy agrees)."""
    policy = iam.ManagedPolicy(
        scope,
        "RegistryRead",
        description="Read model build outputs in the registry (dev) account",
        roles=[role],
    )
    dev = n.registry_env
    dev_keys = f"arn:{n.partition}:kms:{dev.region}:{dev.account}:key/*"
    policy.add_statements(
        iam.PolicyStatement(
            sid="ReadModelBuildOutputs",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[object_arn(n.partition, n.registry_artifact_bucket, "model-build/")],
        ),
        # Processing inputs and the engine's baseline fetch list the prefix first.
        iam.PolicyStatement(
            sid="ListModelBuildOutputs",
            actions=["s3:ListBucket"],
            resources=[f"arn:{n.partition}:s3:::{n.registry_artifact_bucket}"],
            conditions={"StringLike": {"s3:prefix": ["model-build/*"]}},
        ),
        iam.PolicyStatement(
            sid="DecryptModelBuildOutputs",
            actions=["kms:Decrypt", "kms:DescribeKey"],
            resources=[dev_keys],
            conditions={
                "ForAnyValue:StringEquals": {
                    "kms:ResourceAliases": names(n.config, "dev").data_key_alias
                },
                "StringEquals": {"kms:ViaService": f"s3.{dev.region}.amazonaws.com"},
            },
        ),
        iam.PolicyStatement(
            sid="ReadModelVersions",
            actions=["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
            resources=[n.model_package_group_arn, n.model_packages_arn],
        ),
    )
    acknowledge(
        policy,
        {
            iam5_resource(object_arn(n.partition, n.registry_artifact_bucket, "model-build/")): (
                "Objects under model-build/ of the registry's artifact bucket: model artifacts "
                "and drift baselines, keyed by pipeline execution."
            ),
            iam5_resource(dev_keys): "The dev data key's id is generated; the "
            "kms:ResourceAliases condition pins it to the one key behind the data alias.",
            iam5_resource(n.model_packages_arn): "Every version of this model group: which "
            "version is live is decided by the approved manifest.",
        },
    )
    return policy


def smoke_test_role(scope: Construct, n: Names, description: str) -> iam.Role:
    """The environment's smoke-test role (`Role.SMOKE_TEST`, construct id `Role`), trusted by
    this environment's promote role in tooling alone (ADR 0012: one tooling role per target);
    the caller grants what it may read."""
    tooling = names(n.config, "tooling")
    return iam.Role(
        scope,
        "Role",
        role_name=n.role(Role.SMOKE_TEST),
        description=description,
        assumed_by=iam.ArnPrincipal(tooling.role_arn(Role.promote(n.environment))),
        max_session_duration=Duration.hours(1),
    )


class SmokeTestRole(Construct):
    """Assumed by the promotion pipeline (tooling account) to check the endpoint after deploy."""

    def __init__(
        self, scope: Construct, id_: str, *, n: Names, endpoint_name: str, alarm_names: list[str]
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.role = smoke_test_role(
            self, n, "Promotion smoke test: invoke and describe this endpoint only"
        )
        endpoint_arn = sagemaker_arn(stack, f"endpoint/{endpoint_name.lower()}")
        configs = sagemaker_arn(stack, "endpoint-config/*")
        models = sagemaker_arn(stack, "model/*")
        iam.ManagedPolicy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="InvokeAndDescribe",
                    actions=[
                        "sagemaker:InvokeEndpoint",
                        "sagemaker:DescribeEndpoint",
                        "sagemaker:ListTags",
                    ],
                    resources=[endpoint_arn],
                ),
                iam.PolicyStatement(
                    sid="DescribeDeployedConfig",
                    actions=["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                    resources=[configs, models],
                ),
                iam.PolicyStatement(
                    sid="RollbackAlarmsAreQuiet",
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=[
                        f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:{a}"
                        for a in alarm_names
                    ],
                ),
            ],
        )
        acknowledge(
            self.node.find_child("Policy"),
            {
                iam5_resource(configs): "Endpoint configs get generated names on each "
                "deployment; read-only Describe to check which version serves.",
                iam5_resource(models): "Models get generated names on each deployment; "
                "read-only Describe to check which version serves.",
            },
        )


class EndpointStack(Stack):
    """Stage or prod: the endpoint of the approved version, its rollback alarms and scaling.

    Attributes: `model_role`, `endpoint` (ModelEndpoint), `smoke_test`, `manifest`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        environment: str,
        data: DataStack,
        network: Network,
        manifest: DeploymentManifest,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        n = names(config, environment)
        if data.capture is None:
            raise ValueError(
                f"{environment} has no capture bucket: it is not a serving environment"
            )
        self.manifest = manifest
        execution = SageMakerExecutionRole(
            self,
            "ModelRole",
            role_name=n.role(Role.MODEL),
            description="The endpoint's model: reads its artifacts, nothing else",
            model_package_group_arn=n.model_package_group_arn,
            model_packages_arn=n.model_packages_arn,
            volume_key=data.data_key,
        )
        self.model_role = execution.role
        grant_registry_read(self.model_role, execution, n)

        self.endpoint = ModelEndpoint(
            self,
            "Serving",
            endpoint_name=n.endpoint_name,
            manifest=manifest,
            role=self.model_role,
            network=network,
            instances=n.env.instances,
            deployment=config.deployment,
            key_arn=data.data_key.key_arn,
            capture_uri=f"s3://{data.capture.bucket_name}/{CAPTURE_PREFIX}",
            environment=environment,
        )
        # The model is created once its role can read the artifacts and write capture.
        self.endpoint.model.node.add_dependency(execution.policy, execution.permissions)
        for alarm in self.endpoint.rollback.alarms.values():
            alarm.add_alarm_action(cw_actions.SnsAction(data.alerts))
        # Data capture is written with the model's role, encrypted with the data key.
        execution.allow(
            *s3_access(
                sid="WriteCapture",
                partition=n.partition,
                bucket=n.bucket("capture"),
                prefix=f"{CAPTURE_PREFIX}/",
                write=True,
            )
        )
        execution.acknowledge(
            object_ack(
                n.partition,
                n.bucket("capture"),
                f"{CAPTURE_PREFIX}/",
                "SageMaker writes captured requests under capture/<endpoint>/<variant>/<date>/.",
            )
        )
        self.smoke_test = SmokeTestRole(
            self,
            "SmokeTest",
            n=n,
            endpoint_name=n.endpoint_name,
            alarm_names=self.endpoint.rollback.names,
        )
        CfnOutput(self, "EndpointName", value=n.endpoint_name)
        CfnOutput(self, "ModelPackageArn", value=manifest.model_package_arn)
