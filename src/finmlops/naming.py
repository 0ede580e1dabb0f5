"""Physical names that cross an account boundary, derived from the config in one place.

The CDK stacks create resources under these names and the runtime (CLI, emulator) finds them by
the same names. Most resources get generated names. The few below are referenced from another environment
(a role trusted by another account, a bucket read cross-account, an endpoint that alarms and
schedules name), so both sides compute them here from the same config and never look them up.
"""

from __future__ import annotations

from dataclasses import dataclass

from finmlops.config import Config, Environment
from finmlops.contracts import Promotion, bucket_name

# The default qualifier of `cdk bootstrap`: the deploy roles in each account carry it.
BOOTSTRAP_QUALIFIER = "hnb659fds"
VARIANT_NAME = "AllTraffic"


class Role:
    """Purposes of the roles other environments name (see `Names.role`)."""

    BUILD = "sagemaker-build"  # dev: the model-build pipeline and its jobs
    DATA_SCIENTIST = "data-scientist"  # dev: people who change step code and run pipelines
    VALIDATOR = "validator"  # dev: people who sign off a version's validation (ADR 0030)
    # stage/prod: forwards the alarms that open a re-validation to tooling's handler (ADR 0030)
    REVALIDATION_FORWARDER = "revalidation-forwarder"
    MODEL = "model"  # stage/prod: the endpoint's model (reads the registry's artifacts)
    MONITORING = "monitoring"  # stage/prod: monitoring jobs (read baselines in the registry)
    SMOKE_TEST = "smoke-test"  # stage/prod: assumed by the promotion pipeline's smoke test
    BUILD_STARTER = "build-starter"  # dev: assumed by the platform pipeline to start a build
    # dev: assumed by the promotion pipeline to set a version's ModelLifeCycle, and nothing else
    REGISTRY_LIFECYCLE = "registry-lifecycle"
    # dev: assumed by tooling's promotion gate (the approval handler, `promote resolve`) to read
    # what the gate reads there (pipeline executions, evidence JSON), and nothing that writes
    EVIDENCE_READER = "evidence-reader"
    EVENT_FORWARDER = "event-forwarder"  # puts events on another account's bus
    RESOLVER = "promotion-handler"  # tooling: the approval-event Lambda
    # tooling: one CodeBuild role per deploy target, so the role that runs the repository's code
    # for one environment can reach no other (ADR 0012)
    DEPLOY_DEV = "deploy-dev"  # cdk deploy of dev: dev's bootstrap roles only
    START_BUILD = "start-build"  # one model build of a commit (no repository code): dev's starter
    PROMOTE_STAGE = "promote-stage"  # resolve, cdk deploy stage, smoke test, record
    PROMOTE_PROD = "promote-prod"  # resolve, cdk deploy prod, record
    OPERATOR = "operator"  # tooling: people who run promote rollback/status and audit export

    @staticmethod
    def promote(environment: str) -> str:
        """The tooling role that promotes a version into a serving environment."""
        return {"stage": Role.PROMOTE_STAGE, "prod": Role.PROMOTE_PROD}[environment]


@dataclass(frozen=True)
class Names:
    """The names of one environment's resources (pure: no constructs, no AWS)."""

    config: Config
    environment: str

    @property
    def env(self) -> Environment:
        env: Environment = self.config.environments.by_name(self.environment)
        return env

    @property
    def project(self) -> str:
        return str(self.config.project)

    def stack(self, component: str) -> str:
        return f"{self.project}-{self.environment}-{component}"

    def bucket(self, purpose: str) -> str:
        return bucket_name(self.project, purpose, self.env.account, self.env.region)

    @property
    def artifact_bucket(self) -> str:
        return self.bucket("artifacts")

    @property
    def audit_bucket(self) -> str:
        return str(Promotion.audit_bucket_name(self.project, self.env.account, self.env.region))

    @property
    def state_bucket(self) -> str:
        return str(Promotion.state_bucket_name(self.project, self.env.account, self.env.region))

    @property
    def pipeline_artifact_bucket(self) -> str:
        return self.bucket("pipeline")

    @property
    def source_bucket(self) -> str:
        return self.bucket("source")

    def role(self, purpose: str) -> str:
        name = f"{self.project}-{self.environment}-{purpose}"
        if len(name) > 64:
            raise ValueError(f"role name {name!r} is longer than 64 characters: shorten `project`")
        return name

    def role_arn(self, purpose: str) -> str:
        return f"arn:{self.partition}:iam::{self.env.account}:role/{self.role(purpose)}"

    @property
    def partition(self) -> str:
        if self.env.region.startswith("cn-"):
            return "aws-cn"
        if self.env.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def endpoint_name(self) -> str:
        return f"{self.config.model.name}-{self.environment}"

    @property
    def drift_alarm(self) -> str:
        return f"{self.project}-{self.environment}-data-drift"

    @property
    def quality_alarm(self) -> str:
        return f"{self.project}-{self.environment}-model-quality"

    @property
    def data_key_alias(self) -> str:
        return f"alias/{self.project}-{self.environment}-data"

    def bootstrap_role_arn(self, kind: str) -> str:
        """A role `cdk bootstrap` created (kind: deploy, file-publishing, image-publishing, ...)."""
        account, region = self.env.account, self.env.region
        return (
            f"arn:{self.partition}:iam::{account}:role/"
            f"cdk-{BOOTSTRAP_QUALIFIER}-{kind}-role-{account}-{region}"
        )

    # The model registry lives in the dev account: its ARNs, for readers in other accounts.
    @property
    def registry_env(self) -> Environment:
        return self.config.environments.dev

    # SageMaker ARNs carry resource names in lower case.
    @property
    def model_package_group_arn(self) -> str:
        dev = self.registry_env
        return (
            f"arn:{self.partition}:sagemaker:{dev.region}:{dev.account}:"
            f"model-package-group/{self.config.model.package_group.lower()}"
        )

    @property
    def model_packages_arn(self) -> str:
        """Every version of the group (model packages are named `<group>/<version>`)."""
        dev = self.registry_env
        return (
            f"arn:{self.partition}:sagemaker:{dev.region}:{dev.account}:"
            f"model-package/{self.config.model.package_group.lower()}/*"
        )

    @property
    def registry_artifact_bucket(self) -> str:
        dev = self.registry_env
        return bucket_name(self.project, "artifacts", dev.account, dev.region)


def names(config: Config, environment: str) -> Names:
    return Names(config=config, environment=environment)


def revalidation_alarms(config: Config) -> dict[str, dict[str, str]]:
    """The serving alarms whose firing opens a re-validation record, as the handler reads them
    (`contracts.Validation.ENV_REVALIDATION_ALARMS`): the kinds the risk tier names
    (governance.tiers.<tier>.revalidate_on), in stage and prod."""
    found: dict[str, dict[str, str]] = {}
    for environment in ("stage", "prod"):
        n = names(config, environment)
        for kind in config.governance.tier.revalidate_on:
            alarm = n.drift_alarm if kind == "drift" else n.quality_alarm
            found[alarm] = {"environment": environment, "kind": kind}
    return found
