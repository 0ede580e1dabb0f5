"""One Stage per environment, built from the portfolio: dev, stage and prod differ only in values.

The platform's stacks once per environment; each model's own stacks under a construct named
after the model (`<environment>/<model>/<Stack>`), so a model is added or removed by its block
alone and no model's stack grows with the portfolio (docs/decisions/0033).

| environment | the platform's stacks                    | each model's stacks              |
|-------------|------------------------------------------|----------------------------------|
| tooling     | data, promotion (platform pipeline)      | model-promotion                  |
| dev         | network, data (+ every registry group)   | model-build                      |
| stage, prod | network, data                            | endpoint or batch, monitoring    |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Environment as CdkEnvironment
from aws_cdk import Stack, Stage
from constructs import Construct
from finmlops_cdk.batch import BatchStack
from finmlops_cdk.compliance import add_inventory_tags, enforce_inventory_tags
from finmlops_cdk.data_stack import DataStack
from finmlops_cdk.endpoint import EndpointStack
from finmlops_cdk.model_build import ModelBuildStack, PipelineDefinitionLike
from finmlops_cdk.monitoring import MonitoringStack
from finmlops_cdk.network import Network
from finmlops_cdk.promotion import ModelPromotionStack, PromotionStack, SourceSettings

from finmlops.config import SERVING_ENVIRONMENTS, Config, Portfolio
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


@dataclass
class ModelStacks:
    """One model's stacks in one environment (None where the environment has no such stack)."""

    config: Config
    promotion: ModelPromotionStack | None = None
    model_build: ModelBuildStack | None = None
    endpoint: EndpointStack | None = None
    monitoring: MonitoringStack | None = None
    serving: BatchStack | None = None  # a batch model's scoring job


class PlatformStage(Stage):
    """All stacks of one environment, in its account and region.

    Attributes: `data`, `network`, `promotion` (the platform's), `models` (model name ->
    ModelStacks), and `model_promotion`, `model_build`, `endpoint`, `monitoring` of the
    portfolio's first model (None where the environment has no such stack).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        portfolio: Portfolio,
        environment: str,
        manifests: Mapping[str, DeploymentManifest],
        definition: DefinitionFactory,
        source: SourceSettings,
        root: Path,
        retrain_schedule: str | None = None,
    ) -> None:
        config = portfolio.platform
        env = config.environments.by_name(environment)
        super().__init__(scope, id_, env=CdkEnvironment(account=env.account, region=env.region))
        n = names(config, environment)
        self.environment = environment
        stateful = environment in SERVING_ENVIRONMENTS
        tags = {"environment": environment, "project": config.project}
        # The platform's stacks carry the platform's tags; each model's carry its inventory.
        enforce_inventory_tags(self, config.inventory_tags() | tags)

        self.data = DataStack(
            self,
            "Data",
            config=config,
            models=portfolio.configs,
            environment=environment,
            root=root,
            stack_name=n.stack("data"),
            description=f"{config.project} {environment}: keys, buckets, registry, alerts",
            termination_protection=stateful,
        )
        self.network: NetworkStack | None = None
        self.promotion: PromotionStack | None = None
        self.models: dict[str, ModelStacks] = {}

        if environment == "tooling":
            self.promotion = PromotionStack(
                self,
                "Promotion",
                config=config,
                models=portfolio.configs,
                data=self.data,
                source=source,
                root=root,
                stack_name=n.stack("promotion"),
                description=f"{config.project}: the platform pipeline",
            )
            for model in portfolio.configs:
                found = ModelStacks(config=model)
                found.promotion = ModelPromotionStack(
                    self._model_scope(model, tags),
                    "ModelPromotion",
                    config=model,
                    platform=self.promotion,
                    root=root,
                    stack_name=names(model, environment).stack("model-promotion"),
                    description=f"{config.project} {model.model.name}: its promotion pipeline",
                )
                self.models[model.model.name] = found
        else:
            self.network = NetworkStack(
                self,
                "Network",
                config=config,
                environment=environment,
                stack_name=n.stack("network"),
                description=f"{config.project} {environment}: VPC endpoints, security groups",
            )
            for model in portfolio.configs:
                self.models[model.model.name] = self._model_stacks(
                    model,
                    manifest=manifests[model.model.name],
                    definition=definition,
                    root=root,
                    retrain_schedule=retrain_schedule,
                    tags=tags,
                )

        first = self.models.get(portfolio.names[0])
        self.model_promotion = first.promotion if first else None
        self.model_build = first.model_build if first else None
        self.endpoint = first.endpoint if first else None
        self.monitoring = first.monitoring if first else None

    def _model_scope(self, config: Config, tags: dict[str, str]) -> Construct:
        """The construct a model's stacks live under, named after the model, tagged with its
        inventory (the stage's aspect checks every resource carries the inventory keys)."""
        scope = Construct(self, config.model.name)
        add_inventory_tags(scope, config.inventory_tags() | tags)
        return scope

    def _model_stacks(
        self,
        config: Config,
        *,
        manifest: DeploymentManifest,
        definition: DefinitionFactory,
        root: Path,
        retrain_schedule: str | None,
        tags: dict[str, str],
    ) -> ModelStacks:
        """One model's stacks in this environment, under a construct named after the model."""
        assert self.network is not None
        environment = self.environment
        n = names(config, environment)
        scope = self._model_scope(config, tags)
        network = self.network.network
        label = f"{config.project} {environment} {config.model.name}"
        found = ModelStacks(config=config)

        if environment == "dev":
            found.model_build = ModelBuildStack(
                scope,
                "ModelBuild",
                config=config,
                data=self.data,
                network=network,
                definition=definition(config),
                root=root,
                alerts=self.data.alerts,
                retrain_schedule=retrain_schedule,
                stack_name=n.stack("model-build"),
                description=f"{label}: model-build pipeline and registry roles",
            )
            return found

        if config.serving.batch:
            # A batch model serves by a scheduled job over its input prefix, writing the capture
            # records an endpoint would (ADR 0034); its monitoring reads them, with no endpoint.
            found.serving = BatchStack(
                scope,
                "Batch",
                config=config,
                environment=environment,
                data=self.data,
                network=network,
                manifest=manifest,
                root=root,
                stack_name=n.stack("batch"),
                description=f"{label}: batch scoring with version {manifest.version}",
            )
            found.monitoring = MonitoringStack(
                scope,
                "Monitoring",
                config=config,
                environment=environment,
                data=self.data,
                network=network,
                manifest=manifest,
                root=root,
                endpoint=None,
                rollback_alarms={},
                stack_name=n.stack("monitoring"),
                description=f"{label}: drift and model-quality monitoring of the batch job",
            )
            return found

        found.endpoint = EndpointStack(
            scope,
            "Endpoint",
            config=config,
            environment=environment,
            data=self.data,
            network=network,
            manifest=manifest,
            stack_name=n.stack("endpoint"),
            description=f"{label}: endpoint of version {manifest.version}",
        )
        found.monitoring = MonitoringStack(
            scope,
            "Monitoring",
            config=config,
            environment=environment,
            data=self.data,
            network=network,
            manifest=manifest,
            root=root,
            endpoint=found.endpoint.endpoint.endpoint,
            rollback_alarms=found.endpoint.endpoint.rollback.alarms,
            stack_name=n.stack("monitoring"),
            description=f"{label}: drift and model-quality monitoring",
        )
        return found
