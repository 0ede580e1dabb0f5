"""Physical names that cross an account boundary, derived from the config in one place.

The CDK stacks create resources under these names and the runtime (CLI, emulator) finds them by
the same names. Most resources get generated names. The few below are referenced from another environment
(a role trusted by another account, a bucket read cross-account, an endpoint that alarms and
schedules name), so both sides compute them here from the same config and never look them up.

A platform serves a portfolio of models (`finmlops.config.Portfolio`): what the platform shares
(buckets, keys, the promotion machinery's roles) is named `<project>-<environment>-...`; what is
one model's own (its stacks, its roles, its alarms, its build pipeline) is named the same way
with `<project>-<model>` for `<project>`, or with the project's name alone for the model that
has the project's name, so a one-model platform keeps the names it had (docs/decisions/0033).
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
    def per_model(purpose: str) -> bool:
        """Whether the role is one model's own (created in that model's stacks, scoped to its
        registry group, pipeline and endpoint) rather than the platform's."""
        return purpose in PER_MODEL_ROLES

    @staticmethod
    def promote(environment: str) -> str:
        """The tooling role that promotes a version into a serving environment."""
        return {"stage": Role.PROMOTE_STAGE, "prod": Role.PROMOTE_PROD}[environment]


# Roles created in a model's own stacks (model build in dev; endpoint and monitoring in stage
# and prod): each model has its own, named after it.
PER_MODEL_ROLES = frozenset(
    {
        Role.BUILD,
        Role.DATA_SCIENTIST,
        Role.VALIDATOR,
        Role.REVALIDATION_FORWARDER,
        Role.MODEL,
        Role.MONITORING,
        Role.SMOKE_TEST,
        Role.BUILD_STARTER,
        Role.REGISTRY_LIFECYCLE,
        Role.EVIDENCE_READER,
        Role.EVENT_FORWARDER,
        # tooling: each model's promotion (its pipeline, handler and operators)
        Role.RESOLVER,
        Role.PROMOTE_STAGE,
        Role.PROMOTE_PROD,
        Role.OPERATOR,
    }
)
# A model's own stacks (finmlops_cdk.stages); the others are the platform's, one per environment.
PER_MODEL_STACKS = frozenset({"model-build", "endpoint", "monitoring", "batch", "model-promotion"})
# IAM role names are at most 64 characters (IAM User Guide, "IAM and AWS STS quotas": role
# name 64 characters; CreateRole API reference, RoleName length constraints 1-64).
ROLE_NAME_MAX = 64


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

    @property
    def model(self) -> str:
        return str(self.config.model.name)

    @property
    def model_prefix(self) -> str:
        """What a model's own names start with: `<project>-<model>`, or the project's name for
        the model named after the project (a one-model platform keeps its names)."""
        return self.project if self.model == self.project else f"{self.project}-{self.model}"

    @property
    def model_scope(self) -> str:
        """`<model prefix>-<environment>`: the start of a model's own names in this environment."""
        return f"{self.model_prefix}-{self.environment}"

    def stack(self, component: str) -> str:
        if component in PER_MODEL_STACKS:
            return f"{self.model_scope}-{component}"
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
        if Role.per_model(purpose):
            name = f"{self.model_scope}-{purpose}"
            shorten = f"`project` or the model's name (models.{self.model})"
        else:
            name = f"{self.project}-{self.environment}-{purpose}"
            shorten = "`project`"
        if len(name) > ROLE_NAME_MAX:
            raise ValueError(
                f"role name {name!r} is {len(name)} characters, IAM allows {ROLE_NAME_MAX}: "
                f"shorten {shorten}"
            )
        return name

    def roles(self) -> dict[str, str]:
        """Every role name this environment's stacks give (purpose -> name); ValueError naming
        what to shorten when one is too long."""
        purposes = {
            "tooling": (
                Role.RESOLVER,
                Role.DEPLOY_DEV,
                Role.START_BUILD,
                Role.PROMOTE_STAGE,
                Role.PROMOTE_PROD,
                Role.OPERATOR,
            ),
            "dev": (
                Role.BUILD,
                Role.DATA_SCIENTIST,
                Role.VALIDATOR,
                Role.BUILD_STARTER,
                Role.REGISTRY_LIFECYCLE,
                Role.EVIDENCE_READER,
                Role.EVENT_FORWARDER,
            ),
        }.get(
            self.environment,
            (
                Role.MODEL,
                Role.MONITORING,
                Role.SMOKE_TEST,
                Role.EVENT_FORWARDER,
                Role.REVALIDATION_FORWARDER,
            ),
        )
        return {purpose: self.role(purpose) for purpose in purposes}

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

    def alarm(self, kind: str) -> str:
        """One of the model's monitoring alarms in this environment (data-drift, ...)."""
        return f"{self.model_scope}-{kind}"

    @property
    def drift_alarm(self) -> str:
        return self.alarm("data-drift")

    @property
    def quality_alarm(self) -> str:
        return self.alarm("model-quality")

    @property
    def promotion_pipeline(self) -> str:
        """The model's promotion pipeline (CodePipeline, in tooling)."""
        return f"{self.model_prefix}-model-promotion"

    @property
    def build_pipeline(self) -> str:
        """The model's build pipeline (SageMaker Pipelines, in dev)."""
        return f"{self.model_prefix}-model-build"

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
