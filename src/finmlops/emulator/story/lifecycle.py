"""The demo's story: the whole lifecycle against the embedded AWS, stage by stage.

Every stage uses the platform's own pieces, the way they run on AWS: the pipeline definition as
synthesized for the dev stage, the step code, the registry commands, the approval-event handler,
the promotion gate, the monitoring engine as a processing job, the alarms. The world the story
runs in is `emulator.world`; what AWS would do by itself (emit the registry's state-change event,
run the containers, evaluate alarms) is `emulator.aws`, and each stage's line says when it ran.
This is what `make demo` runs and `tests/emulator/test_lifecycle_e2e.py` asserts.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from finmlops.buildrun import start_build
from finmlops.config import Config, Portfolio, dataset_path
from finmlops.contracts import DeploymentManifest, Param
from finmlops.emulator.aws.alarms import Transition
from finmlops.emulator.aws.events import deliver, state_change_event
from finmlops.emulator.aws.executor import Execution, Network, PipelineExecutor
from finmlops.emulator.aws.server import EmbeddedAws
from finmlops.emulator.story.monitoring import MonitoringStory
from finmlops.emulator.story.production import (
    Model,
    ProductionData,
    comparison,
    matches_held_out,
)
from finmlops.emulator.story.production import (
    to_json as json_text,
)
from finmlops.emulator.story.seams import network_of
from finmlops.emulator.story.traffic import BATCH, csv_body, plan_shift
from finmlops.emulator.world.people import Person
from finmlops.emulator.world.provision import (
    PROJECT_ENTRYPOINT,
    PROJECT_IMAGE,
    World,
    alerts_inbox,
    deploy,
    describe,
    provision,
)
from finmlops.emulator.world.templates import synthesize
from finmlops.gates import platform_gates
from finmlops.iam.cloudformation import Assembly
from finmlops.naming import Role
from finmlops.registry.approval import approve, reject
from finmlops.registry.audit import AuditTrail, to_csv, to_json
from finmlops.registry.audit_verify import verify_trail
from finmlops.registry.errors import RefusedError
from finmlops.registry.evidence import EvidencePolicy
from finmlops.registry.gatecheck import PlatformGate
from finmlops.registry.handler import HandlerSettings, Outcome, handle_state_change
from finmlops.registry.promotion import DeploymentHistory, record_deployment, resolve, rollback
from finmlops.registry.report import decided_card, decided_report
from finmlops.registry.signoff import Finding, open_revalidations, submit_signoff
from finmlops.registry.versions import describe_version
from finmlops.steps.evaluate import CHAMPION_SECTION, champion_line
from finmlops.steps.preprocess import ENCODERS_FILE, read_table
from finmlops.tracking.runs import link_model_package, local_store_uri

CAPTURE_PREFIX = "capture"
TOLERANCE = 0.02  # AUC v2 may lose against v1 on the reference-like rows and be recommended


def _comparison_text(found: dict[str, Any]) -> str:
    """The comparison in one line: each window's rows and both AUCs."""
    names = ("reference-like", "shifted")
    parts = []
    for window in found["windows"]:
        auc = window["auc"]
        values = ", ".join(
            f"{label} {value:.3f}" if value is not None else f"{label} -"
            for label, value in auc.items()
        )
        parts.append(f"{names[window['window']]} {window['rows']} rows: AUC {values}")
    return "v2 against v1 on the same labelled production rows neither trained on: " + "; ".join(
        parts
    )


class BuildFailedError(RuntimeError):
    """The build pipeline's execution failed (a gate's Fail step, or a step)."""


@dataclass
class StageResult:
    name: str
    line: str
    seconds: float


@dataclass
class Summary:
    stages: list[StageResult] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    deployed: dict[str, str] = field(default_factory=dict)
    refused_self_approval: str = ""
    # The author in the approver role under the approver's name: refused by STS (the role's
    # synthesized trust policy requires the session name to be the user name).
    refused_disguise: str = ""
    handler_outcomes: list[str] = field(default_factory=list)
    # label -> the validator's sign-off as the handler recorded it (ADR 0030)
    signoffs: dict[str, dict[str, str]] = field(default_factory=dict)
    revalidation: dict[str, str] = field(default_factory=dict)  # the record the alarm opened
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarm: Transition | None = None
    alert_messages: list[dict[str, Any]] = field(default_factory=list)
    chat_posts: list[str] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    quality_alarms: list[Transition] = field(default_factory=list)
    quality_verdicts: dict[str, str] = field(default_factory=dict)  # hour -> violation/ok
    quality_alarm_state: str = ""  # the quality alarm after the run with both labelled hours
    shift: dict[str, Any] = field(default_factory=dict)  # the plan of traffic.plan_shift
    retraining: dict[str, Any] = field(default_factory=dict)  # why (not), on what data
    comparison: dict[str, Any] = field(default_factory=dict)  # v2 against v1, same rows
    # label -> the build's champion comparison (evaluation.json `champion`, ADR 0029)
    champions: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)  # label -> Approved/Rejected
    rollback: dict[str, str] = field(default_factory=dict)
    audit_actions: list[str] = field(default_factory=list)
    audit_verified: str = ""  # what `finmlops audit verify` says of the trail
    paths: dict[str, Path] = field(default_factory=dict)


def git_commit(default: str = "demo") -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return default
    return done.stdout.strip() or default


class Lifecycle:
    """The story's stages, each a method returning the one line the demo prints."""

    def __init__(
        self,
        config: Config,
        aws: EmbeddedAws,
        work_dir: Path,
        *,
        progress: Callable[[str], None] = lambda _m: None,
        clock_start: datetime | None = None,
        portfolio: Portfolio | None = None,
    ) -> None:
        self.config = config
        # Every model of the platform (the world deploys them all); None: this model alone.
        self.portfolio = portfolio
        # The local MLflow store the build pipelines log to (the world's first story's).
        self.tracking_dir = work_dir
        self.aws = aws
        self.work_dir = work_dir
        self.progress = progress
        self.summary = Summary()
        # Traffic is stamped in whole past hours so each window is its own capture hour.
        base = (clock_start or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
        self.hours = [
            base - timedelta(hours=3),
            base - timedelta(hours=2),
            base - timedelta(hours=1),
        ]
        self._clock = self.hours[0]
        self.world: World | None = None
        self.executions: list[Execution] = []
        self.manifests: dict[str, DeploymentManifest] = {}  # what each environment runs
        self._held_out: pd.DataFrame | None = None
        self._production: ProductionData | None = None
        self.monitoring = MonitoringStory(self)

    # ------------------------------------------------------------------ helpers
    def stage(self, name: str, run: Callable[[], str]) -> str:
        self.progress(f"{name} ...")
        start = time.perf_counter()
        line = run()
        result = StageResult(name, line, time.perf_counter() - start)
        self.summary.stages.append(result)
        self.progress(f"{name}: {line}")
        return line

    @property
    def w(self) -> World:
        if self.world is None:
            raise RuntimeError("provision() first")
        return self.world

    def client(self, service: str, person: Person | None = None) -> Any:
        return self.aws.client(service, person.session if person else None)

    def audit(self, person: Person | None = None) -> AuditTrail:
        return AuditTrail(self.client("s3", person), self.w.names["tooling"].audit_bucket)

    def history(self, person: Person | None = None) -> DeploymentHistory:
        return DeploymentHistory(
            self.client("s3", person),
            self.w.names["tooling"].state_bucket,
            group=self.config.model.package_group,
        )

    @property
    def gates(self) -> tuple[PlatformGate, ...]:
        return platform_gates(self.config)

    def in_approver_role(self, person: Person, session_name: str | None = None) -> Person:
        """`person` in the approver role, as people work on AWS: an MFA session, then the role
        with their user name as source identity (which STS keeps for the session and SageMaker
        records for everything it does) and, unless an insider chooses another, as session
        name. STS decides with the role's synthesized trust policy."""
        return self.w.as_role(person, self.config.governance.approver_role, session_name)

    def _service(self, service: str, role: str, session_name: str) -> Person:
        """A service's session of the role a template gives it, as a Person to call with."""
        session = self.w.service_session(service, role, session_name)
        arn = self.aws.client("sts", session).get_caller_identity()["Arn"]
        return Person(f"{service} as {role}", self.w.template_arn(arn), session)

    # ------------------------------------------------------------------ provision
    def provision(self, cdk_out: Path) -> str:
        """Deploy tooling and dev from their synthesized assembly (`cdk.out`)."""
        self.world = provision(
            self.portfolio or self.config,
            self.aws,
            cdk_out,
            self.work_dir,
            clock=lambda: self._clock,
        ).for_model(self.config)
        return describe(self.world)

    # ------------------------------------------------------------------ build
    def build(self, label: str, input_uri: str = "") -> str:
        """Start the pipeline as the author in the data scientists' role (SageMaker API), then
        run it step by step as SageMaker would: each step with the pipeline's execution role
        (the template's), so its registration is decided by that role's policies."""
        author = self.w.as_role(self.w.author, self.w.names["dev"].role(Role.DATA_SCIENTIST))
        sm = self.client("sagemaker", author)
        commit = git_commit()
        # `finmlops build start`: the champion is read from the registry (what serves in prod),
        # and who starts it is what SageMaker records (CreatedBy): no parameter names the author.
        arn, _ = start_build(
            sm, self.w.pipeline.pipeline_name, git_commit=commit,
            group=self.config.model.package_group,
            overrides={Param.INPUT_DATA_URI: input_uri} if input_uri else None,
        )  # fmt: skip
        described = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)
        parameters = {
            p["Name"]: p["Value"]
            for p in sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)[
                "PipelineParameters"
            ]
        }
        pipeline_role = self._service(
            "sagemaker", self.w.names["dev"].role(Role.BUILD), arn.rsplit("/", 1)[-1]
        )
        executor = PipelineExecutor(
            described["PipelineDefinition"],
            s3=self.client("s3", pipeline_role),
            sagemaker=self.client("sagemaker", pipeline_role),
            work_dir=self.work_dir / "executions",
            progress=lambda m: self.progress(f"  {m}"),
            image_entrypoints={
                PROJECT_IMAGE: PROJECT_ENTRYPOINT,
                self.w.project_image: PROJECT_ENTRYPOINT,
            },
            job_environment=self._job_environment(pipeline_role.session),
            network=self.network("dev"),
        )
        execution = executor.run(
            arn.rsplit("/", 1)[-1], parameters, pipeline_arn=arn.split("/execution/")[0]
        )
        self.executions.append(execution)
        (self.work_dir / "executions" / f"{execution.execution_id}.json").write_text(
            execution.to_json()
        )
        if execution.status != "Succeeded":
            raise BuildFailedError(f"pipeline execution failed: {execution.failure_reason}")
        package = execution.step("RegisterModel").outcome or ""
        self.summary.versions[label] = package
        run_id = self._link_run(package)
        steps = sum(1 for s in execution.steps if s.status == "Succeeded")
        version = package.rsplit("/", 1)[-1]
        tracked = f", MLflow run {run_id[:8]}" if run_id else ""
        evaluation = execution.properties["Evaluate"]["PropertyFiles"]["Evaluation"]
        metrics, fairness = evaluation["binary_classification_metrics"], evaluation["fairness"]
        self.summary.champions[label] = evaluation[CHAMPION_SECTION]
        gates = [
            s for s in execution.steps if s.name.startswith("Gate-") and s.status == "Succeeded"
        ]
        passed = sum(s.outcome == "true" for s in gates)
        return (
            f"{steps} steps succeeded in {sum(s.seconds for s in execution.steps):.1f}s: "
            f"AUC {metrics['auc']['value']:.4f}, KS {metrics['ks']['value']:.4f}, "
            f"disparate impact {fairness['disparate_impact']:.3f}, parity difference "
            f"{fairness['statistical_parity_difference_abs']:.3f}; "
            f"{champion_line(evaluation[CHAMPION_SECTION])}; {passed}/{len(gates)} gates passed "
            f"-> version {version} PendingManualApproval{tracked}"
        )

    def _link_run(self, package: str) -> str:
        """The run carries the version's ARN, as the version carries the run id (both ways)."""
        metadata = self.client("sagemaker").describe_model_package(ModelPackageName=package)
        run_id = metadata.get("CustomerMetadataProperties", {}).get("mlflow-run-id", "")
        if run_id and run_id != "not-logged":
            settings = self.config.tracking.model_copy(
                update={"mode": "local", "uri": local_store_uri(self.tracking_dir)}
            )
            link_model_package(settings, run_id, package, work_dir=self.tracking_dir)
        return str(run_id)

    def network(self, environment: str) -> Network:
        """The VPCs of the environment's synthesized network template (its jobs run in them)."""
        return network_of(Assembly.load(self.w.assembly[environment]), environment)

    def _job_environment(self, session: Any = None) -> dict[str, str]:
        """A job container's environment: the emulator's endpoint and the credentials of the
        job's role (a processing job on AWS gets its role's), or the emulator's own keys."""
        credentials: dict[str, str] = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        if session is not None:
            frozen = session.get_credentials().get_frozen_credentials()
            credentials = {
                "AWS_ACCESS_KEY_ID": frozen.access_key,
                "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
                "AWS_SESSION_TOKEN": frozen.token or "",
            }
        return {
            "AWS_ENDPOINT_URL": self.aws.endpoint_url,
            **credentials,
            "AWS_DEFAULT_REGION": self.aws.region,
            "AWS_REGION": self.aws.region,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }

    # ------------------------------------------------------------------ approval
    @property
    def policy(self) -> EvidencePolicy:
        """What the config's risk tier requires of an approval (governance.tiers)."""
        tier = self.config.governance.tier
        return EvidencePolicy(
            require_drift_baselines=tier.require_drift_baselines,
            require_signoff=tier.validator_signoff,
        )

    def _approve(self, person: Person, arn: str, reason: str) -> Any:
        return approve(
            self.client("sagemaker", person), self.client("sts", person), self.audit(person),
            arn=arn, reason=reason, gates=self.gates, policy=self.policy,
        )  # fmt: skip

    # ------------------------------------------------------------------ validation
    def sign_off(self, label: str, summary: str, closes: tuple[str, ...] = ()) -> str:
        """The validator, in dev's validator role as themselves, runs `registry validate`: the
        findings go to the audit trail, the sign-off to the version's ModelLifeCycle, which
        SageMaker attributes to them. SageMaker's state-change event for it reaches the
        handler (delivered twice), which binds the person it recorded."""
        person = self.w.as_role(self.w.validator, self.w.names["dev"].role(Role.VALIDATOR))
        arn = self.summary.versions[label]
        findings = (
            Finding("medium", "thin-file applicants are few in the test split; watch the segment"),
        )
        submitted = submit_signoff(
            self.client("sagemaker", person), self.client("sts", person), self.audit(person),
            arn=arn, summary=summary, findings=findings, closes=closes,
        )  # fmt: skip
        outcomes = self._deliver(arn)
        if outcomes[0].result != "recorded":
            raise RuntimeError(f"the handler did not record the sign-off: {outcomes[0].reason}")
        self.summary.signoffs[label] = {
            "validator": submitted.actor,
            "status": submitted.status,
            "audit_record": submitted.record.record_id,
            "closes": " ".join(closes),
        }
        closing = f", closes {', '.join(closes)}" if closes else ""
        return (
            f"{submitted.status} by {submitted.actor.rsplit('/', 1)[-1]} with "
            f"{len(findings)} finding(s){closing} (audit {submitted.record.record_id}); handler: "
            f"{', '.join(o.result for o in outcomes)}"
        )

    def revalidation(self) -> str:
        """The drift alarm's state change, as CloudWatch emits it and prod's revalidation
        forwarder sends it to tooling, to the handler the synthesized rule invokes: a
        re-validation record opens, which v2's approval must close (SR 26-2 re-review)."""
        change = self.summary.alarm
        if change is None or change.new != "ALARM":
            return "the drift alarm did not fire: no re-validation"
        rule = self._revalidation_rule()
        if rule is None or change.alarm not in rule["detail"]["alarmName"]:
            return f"the risk tier names no re-validation for {change.alarm}"
        event = {
            "version": "0",
            "id": f"emulated-{change.alarm}-ALARM",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": self.config.environments.prod.account,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.aws.region,
            "resources": [],
            "detail": {
                "alarmName": change.alarm,
                "state": {"value": change.new, "reason": change.reason},
                "previousState": {"value": change.old},
            },
        }
        outcomes = self._invoke_handler(event)
        opened = open_revalidations(self.audit(), self.config.model.package_group)
        if not opened:
            raise RuntimeError(f"the alarm opened no re-validation: {outcomes[0].reason}")
        self.summary.revalidation = {
            "record": opened[-1].record_id,
            "alarm": change.alarm,
            "environment": opened[-1].environment,
        }
        return (
            f"{change.alarm} -> handler (delivered twice: "
            f"{', '.join(o.result for o in outcomes)}): re-validation {opened[-1].record_id} "
            "open until an approval closes it"
        )

    def _revalidation_rule(self) -> dict[str, Any] | None:
        """The tooling rule that routes serving alarms to the handler, as synthesized (its
        pattern's alarm names are what EventBridge would match; moto cannot match patterns)."""
        for declared in self.w.templates.resources("tooling", "AWS::Events::Rule"):
            pattern = declared.properties.get("EventPattern") or {}
            if pattern.get("source") == ["aws.cloudwatch"] and "alarmName" in pattern.get(
                "detail", {}
            ):
                found: dict[str, Any] = pattern
                return found
        return None

    def sign_off_v2(self) -> str:
        if "v2" not in self.summary.versions:
            return "no retrained version: nothing to validate"
        record = self.summary.revalidation.get("record", "")
        return self.sign_off(
            "v2",
            "Re-validation after the drift alarm: retrained on the labelled production windows; "
            "conceptually sound, outcomes to be re-checked once the labels mature",
            closes=(record,) if record else (),
        )

    def approve_as_author(self, label: str) -> str:
        person = self.in_approver_role(self.w.author)
        try:
            self._approve(person, self.summary.versions[label], "I trained it and it looks good")
        except RefusedError as exc:
            self.summary.refused_self_approval = exc.problems[0] if exc.problems else str(exc)
            return f"refused, as it must be: {exc.problems[0] if exc.problems else exc}"
        raise RuntimeError("the author approved their own model: segregation of duties is broken")

    def approve_as_approver(self, label: str, reason: str) -> str:
        person = self.in_approver_role(self.w.approver)
        decision = self._approve(person, self.summary.versions[label], reason)
        return f"{decision.status} by {decision.actor.rsplit('/', 1)[-1]}: {reason!r} (audit {decision.record.record_id})"

    def approve_in_disguise(self) -> str:
        """The author takes the approver role under the approver's name. STS refuses: the
        role's synthesized trust policy requires the session name and the source identity to
        be the caller's own user name, and an MFA session (finmlops.iam decides, as IAM
        would). Had it let her in, SageMaker would still record her source identity for the
        status change, and the handler would refuse the promotion
        (tests/registry/test_handler.py)."""
        alice, bob = self.w.author, self.w.approver
        try:
            self.in_approver_role(alice, session_name=bob.name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "AccessDenied":
                raise
            refused = self.w.rules.refused()[-1]
            self.summary.refused_disguise = (
                f"sts:AssumeRole refused by the trust policy of {refused.resource}: "
                f"{refused.reason}"
            )
            return f"{alice.name} as session {bob.name!r}: {self.summary.refused_disguise}"
        raise RuntimeError(
            "STS let the author into the approver role under another session name: the "
            "trust policy is not enforced"
        )

    def approval_event(self, label: str) -> str:
        """SageMaker emits the state-change event on AWS; the emulator builds the same event and
        delivers it twice, as EventBridge may, to the handler the rule invokes."""
        outcomes = self._deliver(self.summary.versions[label])
        self.summary.handler_outcomes.extend(o.result for o in outcomes)
        return f"delivered twice -> {', '.join(o.result for o in outcomes)} (one promotion)"

    def _deliver(self, arn: str, times: int = 2) -> list[Outcome]:
        """The event to the approval handler, called as Lambda would call it: its settings
        from the function's deployed environment (`HandlerSettings.from_env`), its clients
        with the function's role (moto runs no Lambda: the handler is called directly)."""
        event = state_change_event(
            self.client("sagemaker"),
            arn,
            account=self.config.environments.dev.account,
            region=self.aws.region,
        )
        return self._invoke_handler(event, times)

    def _invoke_handler(self, event: dict[str, Any], times: int = 2) -> list[Outcome]:
        """The handler as Lambda would run it for `event`: settings from the function's
        deployed environment, clients with the function's role (and dev's evidence reader)."""
        environment = self.w.handler_environment()
        settings = HandlerSettings.from_env(environment)
        function = self.aws.client("lambda").get_function_configuration(
            FunctionName=environment["AWS_LAMBDA_FUNCTION_NAME"]
        )
        role = str(function["Role"]).rsplit("/", 1)[-1]
        handler = self._service("lambda", role, environment["AWS_LAMBDA_FUNCTION_NAME"])
        # The registry, the executions and the evidence as dev's evidence reader when the
        # function names one (`handler()` assumes it the same way, from its own role).
        reader = handler
        if settings.evidence_role_arn:
            reader = Person(
                "evidence reader",
                settings.evidence_role_arn,
                self.w.chained(
                    handler.session,
                    settings.evidence_role_arn.rsplit("/", 1)[-1],
                    settings.actor[:64],
                ),
            )
        return deliver(
            event,
            lambda e: handle_state_change(
                e,
                sagemaker=self.client("sagemaker", reader),
                s3=self.client("s3", handler),
                codepipeline=self.client("codepipeline", handler),
                cloudwatch=self.client("cloudwatch", handler),
                settings=settings,
                evidence_s3=self.client("s3", reader),
            ),
            times,
        )

    # ------------------------------------------------------------------ promotion
    def _synthesize_and_deploy(self, manifest: DeploymentManifest) -> str:
        """What the promotion's build does with the resolved manifest: synthesize the
        environment from it (`python -m finmlops_cdk.app --environment E --manifest M`) and
        `cdk deploy` it; the world deploys the templates into moto. The environment is
        synthesized for every model of the portfolio, each other model with the manifest it
        serves there now, and deployed as the model's promotion deploys it: the platform's
        stacks and this model's own. Returns the endpoint."""
        environment = manifest.environment
        out = (
            self.work_dir
            / "promotions"
            / f"{environment}-v{manifest.version}-{len(self.summary.stages)}"
        )
        manifest_path = out.parent / f"{out.name}.manifest.json"
        out.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(manifest.to_json())
        synthesize(
            self.w.models,
            out / "cdk.out",
            [environment],
            manifest,
            manifests=self.w.current_manifests(environment, self.config.model.name),
        )
        first = environment not in self.w.deployed
        deploy(self.w, environment, out / "cdk.out", self.config)
        self.w.serving.setdefault(environment, {})[self.config.model.name] = manifest
        if first and environment == "prod":
            alerts_inbox(self.w, "prod")
        return str(self.w.names[environment].endpoint_name)

    def _promoter(self, environment: str) -> Person:
        """The promotion project's CodeBuild role for the environment (tooling)."""
        return self._service(
            "codebuild",
            self.w.names["tooling"].role(Role.promote(environment)),
            f"promote-{environment}",
        )

    def _deploy(
        self, manifest: DeploymentManifest, promoter: Person, actor: str, reason: str = ""
    ) -> None:
        endpoint = self._synthesize_and_deploy(manifest)
        # `promote record`: recorded only once SageMaker says the endpoint serves the package;
        # the registry's lifecycle through dev's registry-lifecycle role (`--registry-role-arn`).
        lifecycle = self.w.chained(
            promoter.session, self.w.names["dev"].role(Role.REGISTRY_LIFECYCLE), "promotion-record"
        )
        # What serves, read as the environment's smoke-test role (`--serving-role-arn`).
        serving = self.w.chained(
            promoter.session,
            self.w.names[manifest.environment].role(Role.SMOKE_TEST),
            "promotion-record",
        )
        record_deployment(
            self.aws.client("sagemaker", lifecycle),
            self.audit(promoter),
            self.history(promoter),
            manifest=manifest,
            actor=actor,
            serving=self.aws.client("sagemaker", serving),
            endpoint_name=endpoint,
            reason=reason,
        )
        self.summary.deployed[manifest.environment] = manifest.model_package_arn
        self.manifests[manifest.environment] = manifest
        manifest_path = (
            self.work_dir / "manifests" / f"{manifest.environment}-v{manifest.version}.json"
        )
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(manifest.to_json())

    def close(self) -> None:
        """Stop the local servers (endpoints, chat webhook) and the access rules."""
        if self.world is not None:
            self.world.close()

    def _smoke_test(self, environment: str) -> int:
        rows = self.test_rows().head(20)
        body = csv_body(rows.to_numpy())
        runtime = self.aws.session().client("sagemaker-runtime", endpoint_url=self.w.endpoints.url)
        # The smoke test's calls would be captured like any other: keep them out of the windows.
        answer = (
            runtime.invoke_endpoint(
                EndpointName=self.w.names[environment].endpoint_name,
                ContentType="text/csv",
                Body=body,
            )["Body"]
            .read()
            .decode()
        )
        scores = [float(v) for v in answer.split()]
        if len(scores) != len(rows) or not all(0.0 <= s <= 1.0 for s in scores):
            raise RuntimeError(f"smoke test of {environment} failed: {answer[:200]}")
        return len(scores)

    def _resolve(
        self, arn: str, environment: str, promoter: Person, actor: str
    ) -> DeploymentManifest:
        """`promote resolve` in the promotion's build: the promotion gate (the approver the
        handler observed, the platform's gates), then the manifest; the registry, the build's
        execution and the evidence read as dev's evidence reader (`--evidence-role-arn`)."""
        reader = self.w.chained(
            promoter.session, self.w.names["dev"].role(Role.EVIDENCE_READER), "evidence"
        )
        return resolve(
            self.aws.client("sagemaker", reader), self.aws.client("s3", reader), self.audit(promoter),
            self.history(promoter), arn=arn, environment=environment, actor=actor, gates=self.gates,
            policy=self.policy,
        )  # fmt: skip

    def promote(self, label: str) -> str:
        actor = f"codepipeline/{self.w.promotion_pipeline}"
        arn = self.summary.versions[label]
        promoter = self._promoter("stage")
        stage = self._resolve(arn, "stage", promoter, actor)
        self._deploy(stage, promoter, actor)
        smoke = self._smoke_test("stage")
        # CodePipeline's manual approval before prod (PutApprovalResult: not in moto, recorded here).
        gate = f"manual approval by {self.w.approver.name}"
        promoter = self._promoter("prod")
        prod = self._resolve(arn, "prod", promoter, actor)
        self._deploy(prod, promoter, actor, reason=gate)
        return f"v{stage.version}: stage synthesized and deployed, smoke test {smoke} scores ok, {gate}, prod synthesized and deployed (canary on AWS)"

    # ------------------------------------------------------------------ traffic
    def _preprocess_output(self, execution: Execution, name: str, file: str) -> bytes:
        """A file the build's preprocess step wrote to S3 (its output `name`)."""
        uri = execution.properties["Preprocess"][
            f"ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        ]
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        body: bytes = (
            self.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/{file}")["Body"].read()
        )
        return body

    def test_rows(self) -> pd.DataFrame:
        """Held-out rows as the endpoint receives them (encoded features, no label), read once
        from the first build's preprocess outputs in S3; labels and encoders in `attrs`."""
        if self._held_out is None:
            first = self.executions[0]
            test = pd.read_csv(
                io.BytesIO(self._preprocess_output(first, "test", "test.csv")), header=None
            )
            encoders = json.loads(self._preprocess_output(first, "artifacts", ENCODERS_FILE))
            features = test.iloc[:, 1:]
            features.columns = encoders["features"]
            features.attrs["labels"] = test.iloc[:, 0].to_numpy()
            features.attrs["encoders"] = encoders
            self._held_out = features
        return self._held_out

    def model(self, label: str) -> Model:
        """A version as its model artefact in the registry holds it, with the encoders its
        build's preprocess step wrote."""
        arn = self.summary.versions[label]
        described = self.client("sagemaker").describe_model_package(ModelPackageName=arn)
        url = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        bucket, _, key = url.removeprefix("s3://").partition("/")
        archive = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        execution = self.executions[list(self.summary.versions).index(label)]
        encoders = json.loads(self._preprocess_output(execution, "artifacts", ENCODERS_FILE))
        return Model.from_archive(archive, encoders)

    def production(self) -> ProductionData:
        """The data set as records, split as v1's preprocess split it: checked against the
        held-out rows the pipeline wrote, so the story's windows are the rows v1 never saw."""
        if self._production is None:
            table = read_table(dataset_path(self.config))
            data = ProductionData.split(self.config, table)
            if not matches_held_out(
                self.model("v1").encode(data.held_out_rows()), self.test_rows()
            ):
                raise RuntimeError(
                    f"{self.config.model.dataset.uri}: the held-out rows split here are not the "
                    "test rows v1's preprocess step wrote: the story cannot tell which rows v1 "
                    "never trained on"
                )
            self._production = data
        return self._production

    def replay(self, window: int, rows: pd.DataFrame, environment: str = "prod") -> int:
        """Requests of BATCH rows each (CSV, one row per line), as a scoring service sends them."""
        self._clock = self.hours[window]
        runtime = self.aws.session().client("sagemaker-runtime", endpoint_url=self.w.endpoints.url)
        name = self.w.names[environment].endpoint_name
        values = rows.to_numpy()
        for number, start in enumerate(range(0, len(values), BATCH)):
            runtime.invoke_endpoint(
                EndpointName=name,
                ContentType="text/csv",
                Body=csv_body(values[start : start + BATCH]),
                InferenceId=f"w{window}-{number}",
            )
        self.w.endpoints.flush()
        return len(values)

    def traffic(self) -> str:
        """The held-out rows as they are, then the shifted window of `traffic.plan_shift`:
        derived from the data, the config and v1's own importances (docs/emulator.md)."""
        data = self.production()
        v1 = self.model("v1")
        held = data.held_out_rows()
        model = self.config.model
        plan = plan_shift(
            held, v1.score, gains=v1.gains(), numeric=model.numeric_features,
            categorical=model.categorical_features,
            drift_share=self.config.monitoring.dataset_drift_share, data=data.table,
        )  # fmt: skip
        shifted = plan.apply(held, v1.score(held))
        data.windows = [held, shifted]
        self.summary.shift = plan.as_dict() | {"rows": len(shifted)}
        path = self.work_dir / "evidence" / "production-shift.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json_text(self.summary.shift))
        self.summary.paths["production shift"] = path
        reference = self.replay(0, self.test_rows())
        moved = self.replay(1, pd.DataFrame(v1.encode(shifted)))
        return (
            f"{reference} reference-like requests ({self.hours[0]:%H}:00), then {moved} shifted "
            f"({self.hours[1]:%H}:00): {plan.describe()}"
        )

    # ------------------------------------------------------------------ monitoring
    # The monitoring stages run prod's synthesized monitoring pipeline (story.monitoring).
    def monitor_drift(self) -> str:
        return self.monitoring.drift()

    def alarm(self) -> str:
        return self.monitoring.alarm()

    def late_labels(self) -> str:
        return self.monitoring.late_labels()

    # ------------------------------------------------------------------ retraining
    @property
    def drift_fired(self) -> bool:
        return self.summary.alarm is not None and self.summary.alarm.new == "ALARM"

    def retrain(self) -> str:
        """Retraining only when the drift alarm fired, on v1's training rows plus the labelled
        production windows (less the comparison rows), through the same build pipeline: the
        story puts the table in the artifact bucket and the data scientist starts the pipeline
        with it as `InputDataUri`. The upload is the data platform's job, outside the
        platform's roles (a data scientist may not write the bucket): the story's own hand, as
        for the ground truth."""
        if not self.drift_fired:
            self.summary.retraining = {"ran": False, "why": "the drift alarm did not fire"}
            return "the drift alarm did not fire: no retraining, prod stays on v1"
        data = self.production()
        table = data.retraining_table()
        bucket = self.w.names["dev"].artifact_bucket
        key = f"data/retraining/{self.config.model.name}-{self.hours[2]:%Y%m%dT%H}00Z.csv"
        self.client("s3").put_object(
            Bucket=bucket, Key=key, Body=table.to_csv(index=False).encode()
        )
        uri = f"s3://{bucket}/{key}"
        production = len(table) - len(data.train)
        kept = sum(len(rows) for rows in data.comparison_rows())
        self.summary.retraining = {
            "ran": True,
            "why": f"drift alarm {self.summary.alarm.alarm if self.summary.alarm else ''}",
            "input": uri,
            "rows": len(table),
            "v1_training_rows": len(data.train),
            "labelled_production_rows": production,
            "comparison_rows_kept_back": kept,
        }
        try:
            line = self.build("v2", input_uri=uri)
        except BuildFailedError as failed:
            # A gate of the build refused the retrained model: nothing to compare or approve.
            self.summary.retraining["failed"] = str(failed)
            return f"after the drift alarm, on {len(table)} rows from {uri}: {failed}; no v2"
        return (
            f"after the drift alarm, on {len(table)} rows ({len(data.train)} v1 training + "
            f"{production} labelled production rows; {kept} kept back for the comparison) "
            f"from {uri}: {line}"
        )

    def compare(self) -> str:
        """v2 against v1 on the same labelled production rows, neither trained on them. The
        challenger is recommended when it scores a higher AUC on the shifted window's rows and
        loses no more than TOLERANCE on the reference-like ones."""
        if "v2" not in self.summary.versions:
            return "no retrained version: nothing to compare"
        found = comparison(self.production(), self.model("v1"), self.model("v2"), ("v1", "v2"))
        reference, shifted = (w["auc"] for w in found["windows"])
        better = (shifted["v2"] or 0.0) > (shifted["v1"] or 0.0)
        kept = (reference["v2"] or 0.0) >= (reference["v1"] or 0.0) - TOLERANCE
        found["rule"] = (
            f"v2 recommended when its AUC on the shifted rows is higher than v1's and on the "
            f"reference-like rows at most {TOLERANCE} lower"
        )
        found["recommended"] = better and kept
        self.summary.comparison = found
        path = self.work_dir / "evidence" / "comparison-v2-v1.json"
        path.write_text(json_text(found))
        self.summary.paths["comparison"] = path
        build = champion_line(self.summary.champions.get("v2", {}))
        verdict = "v2 recommended" if found["recommended"] else "v2 NOT recommended"
        return f"the build on its test rows: {build}; {_comparison_text(found)}: {verdict}"

    def decide_v2(self) -> str:
        """The approver decides on v2 with the comparison in the reason (the audit trail and
        the registry record it): approves a recommended v2, rejects the other."""
        if "v2" not in self.summary.versions:
            return "no retrained version: nothing to decide"
        found = self.summary.comparison
        evidence = _comparison_text(found)
        if found.get("recommended"):
            reason = (
                f"Retrained after the drift alarm on the labelled production windows; {evidence}. "
                f"Approved pending re-validation once the labels mature "
                f"({self.config.monitoring.label_delay_hours} h label delay)"
            )
            self.summary.decisions["v2"] = "Approved"
            return self.approve_as_approver("v2", reason)
        person = self.in_approver_role(self.w.approver)
        reason = f"Retrained after the drift alarm but not better than v1 in production: {evidence}"
        decision = reject(
            self.client("sagemaker", person), self.client("sts", person), self.audit(person),
            arn=self.summary.versions["v2"], reason=reason,
        )  # fmt: skip
        self.summary.decisions["v2"] = "Rejected"
        return f"{decision.status} by {decision.actor.rsplit('/', 1)[-1]}: {reason!r} (audit {decision.record.record_id})"

    def approval_event_v2(self) -> str:
        if self.summary.decisions.get("v2") != "Approved":
            return "v2 not approved: no approval event, no promotion"
        return self.approval_event("v2")

    def promote_v2(self) -> str:
        if self.summary.decisions.get("v2") != "Approved":
            return "v2 not approved: prod stays on v1"
        return self.promote("v2")

    # ------------------------------------------------------------------ rollback and evidence
    def rollback_reason(self) -> str:
        """Why prod leaves v2, or "" when it has no reason to. The scenario's reason: v2
        learned from outcomes younger than the label delay the config sets for them to mature
        (a late payment may still cure), so the model-risk policy returns prod to the last
        version validated on matured outcomes until v2 is re-validated."""
        delay = self.config.monitoring.label_delay_hours
        ages = [int((self.hours[2] - hour).total_seconds() // 3600) for hour in self.hours[:2]]
        if (
            self.summary.deployed.get("prod") != self.summary.versions.get("v2")
            or max(ages) >= delay
        ):
            return ""
        shifted = self.summary.comparison["windows"][1]["auc"]
        return (
            f"v2 learned from outcomes {min(ages)}-{max(ages)} h old, younger than the "
            f"{delay} h label delay set for them to mature; policy: prod returns to v1, the last "
            f"version validated on matured outcomes, until v2 is re-validated on them. v1's lower "
            f"AUC on the shifted population ({shifted['v1']:.3f} against v2's "
            f"{shifted['v2']:.3f}) is accepted meanwhile and its quality alarm stays armed"
        )

    def rollback(self) -> str:
        """`finmlops promote rollback` by the operator (tooling's operator role, as herself),
        the registry's lifecycle through dev's registry-lifecycle role, then the redeploy of
        prod from the rollback's manifest; only with a stated reason."""
        reason = self.rollback_reason()
        if not reason:
            return f"no reason to roll back: prod stays on v{self.summary.deployed['prod'].rsplit('/', 1)[-1]}"
        operator = self.w.as_role(self.w.operator, self.w.names["tooling"].role(Role.OPERATOR))
        lifecycle = self.w.chained(
            operator.session,
            self.w.names["dev"].role(Role.REGISTRY_LIFECYCLE),
            self.w.operator.name,
        )
        deployment = rollback(
            self.aws.client("sagemaker", lifecycle), self.audit(operator), self.history(operator),
            environment="prod", actor=operator.arn, reason=reason,
        )  # fmt: skip
        manifest = deployment.manifest
        self._synthesize_and_deploy(manifest)  # the redeploy the rollback's manifest starts
        self.summary.rollback = {
            "from": deployment.replaces,
            "to": manifest.model_package_arn,
            "reason": reason,
        }
        self.manifests["prod"] = manifest
        self.summary.deployed["prod"] = manifest.model_package_arn
        return (
            f"prod back on v{manifest.version} from v{deployment.replaces.rsplit('/', 1)[-1]} "
            f"by {self.w.operator.name}, audited with the reason: {reason}"
        )

    def evidence(self) -> str:
        # The examiner's copy: the report v1's evidence step stored, with its approval filled in
        # from the registry and the audit trail (`finmlops registry report`).
        version = describe_version(self.client("sagemaker"), self.summary.versions["v1"])
        decided = decided_report(self.client("s3"), self.audit(), version)
        report = self.work_dir / "evidence" / "validation_report_v1.html"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(decided.html, encoding="utf-8")
        # The model card as a document, stored beside the report, with the same approval record.
        card = report.with_name("model_card_v1.html")
        card.write_text(decided_card(self.client("s3"), version, decided), encoding="utf-8")
        if "v2" in self.summary.versions:
            # v2's, with its champion-and-challenger section (v1 scored on v2's test rows).
            version_v2 = describe_version(self.client("sagemaker"), self.summary.versions["v2"])
            report_v2 = report.with_name("validation_report_v2.html")
            report_v2.write_text(
                decided_report(self.client("s3"), self.audit(), version_v2).html, encoding="utf-8"
            )
            self.summary.paths["validation report v2"] = report_v2
        # The examiner's export carries each record's version id and retention; `audit verify`
        # checks the chains, the versions and the retention of the whole trail.
        records = self.audit().stored(retention=True)
        self.summary.audit_actions = [r.record.action for r in records]
        (self.work_dir / "audit.csv").write_text(to_csv(records))
        (self.work_dir / "audit.json").write_text(to_json(records))
        verified = verify_trail(self.client("s3"), self.w.names["tooling"].audit_bucket)
        first = verified.first_broken
        self.summary.audit_verified = (
            f"intact: {verified.records} records in {len(verified.chains)} "
            f"chain{'s' if len(verified.chains) != 1 else ''}"
            if verified.ok
            else f"broken: {first.text() if first else '?'}"
        )
        self.summary.paths.update(
            {
                "validation report": report,
                "model card": card,
                "audit export (CSV)": self.work_dir / "audit.csv",
                "audit export (JSON)": self.work_dir / "audit.json",
            }
        )
        return (
            f"{len(records)} audit records exported, trail {self.summary.audit_verified}; "
            f"validation report of v1 from its registry entry, with the approval record "
            f"{decided.audit_record}"
        )


STORY: tuple[tuple[str, str], ...] = (
    ("provision", "deploy tooling and dev from their synthesized templates"),
    ("build v1", "run the model-build pipeline on the real data"),
    ("self-approval", "the author tries to approve"),
    ("sign-off", "the validator signs off, with findings; the handler binds who AWS recorded"),
    ("approval", "the approver approves, with a reason"),
    ("approval event", "the state-change event reaches the handler"),
    ("promotion v1", "stage, smoke test, manual gate, prod"),
    (
        "production traffic",
        "held-out rows, then a shift derived from the data and v1's importances",
    ),
    ("drift monitoring", "the monitoring job on each captured window"),
    ("alarm", "CloudWatch drift alarm and SNS alert"),
    ("re-validation", "the alarm opens a re-validation record the next approval must close"),
    ("late labels", "ground truth for both windows; model quality and its alarm"),
    ("build v2", "retraining, only if the drift alarm fired, with the labelled windows"),
    ("comparison", "v2 against v1 on the same labelled production rows"),
    ("sign-off v2", "the validator re-validates v2 and closes the re-validation record"),
    ("approval v2", "the approver decides on v2 with the comparison"),
    ("approval event v2", "the handler starts its promotion"),
    ("promotion v2", "stage, smoke test, manual gate, prod"),
    ("rollback", "prod back to the previous approved version, with a stated reason"),
    (
        "disguised self-approval",
        "the author asks STS for the approver role under the approver's name",
    ),
    ("evidence", "validation report, audit export and audit verify"),
)


def run_story(lifecycle: Lifecycle, cdk_out: Path) -> Summary:
    """Every stage of the demo, in order, in the world deployed from the tooling and dev
    assembly in `cdk_out`; a stage that fails raises with its reason."""
    actions: dict[str, Callable[[], str]] = {
        "provision": lambda: lifecycle.provision(cdk_out),
        "build v1": lambda: lifecycle.build("v1"),
        "self-approval": lambda: lifecycle.approve_as_author("v1"),
        "sign-off": lambda: lifecycle.sign_off(
            "v1",
            "Validation MRM-2026-114: data, method and evidence reviewed; discrimination, "
            "calibration and fairness within policy",
        ),
        "approval": lambda: lifecycle.approve_as_approver(
            "v1",
            "Evidence reviewed: AUC and KS above the gates, fairness within limits, card complete",
        ),
        "approval event": lambda: lifecycle.approval_event("v1"),
        "promotion v1": lambda: lifecycle.promote("v1"),
        "production traffic": lifecycle.traffic,
        "drift monitoring": lifecycle.monitor_drift,
        "alarm": lifecycle.alarm,
        "re-validation": lifecycle.revalidation,
        "late labels": lifecycle.late_labels,
        "build v2": lifecycle.retrain,
        "comparison": lifecycle.compare,
        "sign-off v2": lifecycle.sign_off_v2,
        "approval v2": lifecycle.decide_v2,
        "approval event v2": lifecycle.approval_event_v2,
        "promotion v2": lifecycle.promote_v2,
        "rollback": lifecycle.rollback,
        "disguised self-approval": lifecycle.approve_in_disguise,
        "evidence": lifecycle.evidence,
    }
    for name, _ in STORY:
        lifecycle.stage(name, actions[name])
    return lifecycle.summary
