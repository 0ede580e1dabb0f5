"""One Stage per environment, built from the config: dev, stage and prod differ only in values.

| environment | stacks                                   |
|-------------|------------------------------------------|
| tooling     | data, promotion                          |
| dev         | network, data (+ registry), model-build  |
| stage, prod | network, data, endpoint, monitoring      |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_cdk import Environment as CdkEnvironment
from aws_cdk import Stack, Stage
from constructs import Construct
from finmlops_cdk.compliance import enforce_inventory_tags
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.endpoint import EndpointStack
from finmlops_cdk.model_build import ModelBuildStack, PipelineDefinitionLike
from finmlops_cdk.monitoring import MonitoringStack
from finmlops_cdk.network import Network
from finmlops_cdk.promotion import PromotionStack, SourceSettings

from finmlops.config import SERVING_ENVIRONMENTS, Config
from finmlops.contracts import DeploymentManifest
from finmlops.naming import names

DefinitionFactory = Callable[[Config], PipelineDefinitionLike]


class NetworkStack(Stack):
    """The environment's VPC endpoints and security groups. Attribute: `network`."""

    def __init__(
        self, scope: Construct, id_: str, *, config: Config, environment: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.network = Network(
            self,
            "Network",
            environment=config.environments.by_name(environment),
            name=environment,
            # The Track step of the dev build logs to SageMaker managed MLflow from the VPC.
            mlflow=environment == "dev" and config.tracking.mode == "sagemaker",
        )


class PlatformStage(Stage):
    """All stacks of one environment, in its account and region.

    Attributes: `data`, and by role `network`, `model_build`, `endpoint`, `monitoring`,
    `promotion` (None where the environment has no such stack).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: Config,
        environment: str,
        manifest: DeploymentManifest,
        definition: DefinitionFactory,
        source: SourceSettings,
        root: Path,
        retrain_schedule: str | None = None,
    ) -> None:
        env = config.environments.by_name(environment)
        super().__init__(scope, id_, env=CdkEnvironment(account=env.account, region=env.region))
        n = names(config, environment)
        self.environment = environment
        stateful = environment in SERVING_ENVIRONMENTS
        tags = config.inventory_tags() | {"environment": environment, "project": config.project}
        enforce_inventory_tags(self, tags)

        self.data = DataStack(
            self,
            "Data",
            config=config,
            environment=environment,
            root=root,
            stack_name=n.stack("data"),
            description=f"{config.project} {environment}: keys, buckets, registry, alerts",
            termination_protection=stateful,
        )
        self.network: NetworkStack | None = None
        self.model_build: ModelBuildStack | None = None
        self.endpoint: EndpointStack | None = None
        self.monitoring: MonitoringStack | None = None
        self.promotion: PromotionStack | None = None

        if environment == "tooling":
            self.promotion = PromotionStack(
                self,
                "Promotion",
                config=config,
                data=self.data,
                source=source,
                root=root,
                stack_name=n.stack("promotion"),
                description=f"{config.project}: platform and model promotion pipelines",
            )
            return

        self.network = NetworkStack(
            self,
            "Network",
            config=config,
            environment=environment,
            stack_name=n.stack("network"),
            description=f"{config.project} {environment}: VPC endpoints, security groups",
        )
        network = self.network.network

        if environment == "dev":
            self.model_build = ModelBuildStack(
                self,
                "ModelBuild",
                config=config,
                data=self.data,
                network=network,
                definition=definition(config),
                root=root,
                alerts=self.data.alerts,
                retrain_schedule=retrain_schedule,
                stack_name=n.stack("model-build"),
                description=f"{config.project} dev: model-build pipeline and registry roles",
            )
            return

        self.endpoint = EndpointStack(
            self,
            "Endpoint",
            config=config,
            environment=environment,
            data=self.data,
            network=network,
            manifest=manifest,
            stack_name=n.stack("endpoint"),
            description=f"{config.project} {environment}: endpoint of version {manifest.version}",
        )
        self.monitoring = MonitoringStack(
            self,
            "Monitoring",
            config=config,
            environment=environment,
            data=self.data,
            network=network,
            manifest=manifest,
            root=root,
            endpoint=self.endpoint.endpoint.endpoint,
            rollback_alarms=self.endpoint.endpoint.rollback.alarms,
            stack_name=n.stack("monitoring"),
            description=f"{config.project} {environment}: drift and model-quality monitoring",
        )
