"""The story of the portfolio's other models, after the first model's whole story, in its world.

Each other model runs through its own pieces: its build pipeline (its own data), the validator
in its validator role, its own approver in its own approver role (the first model's approver is
refused on it), its own approval handler, its own promotion. A batch model (ADR 0034) is
promoted by synthesizing its Batch stack with the manifest (every other model keeping the
version it serves there), checked by `promote record` on the batch pipeline SageMaker holds
(its scoring step reads the manifest's archive); then prod's batch pipeline scores the held-out
rows at its scheduled time, the model's monitoring pipeline reads the batch captures (drift),
late labels arrive and the quality step joins them by inference id. Last, the model inventory
over every model (`finmlops inventory export`).

What the story hands over, as for the first model (docs/emulator.md): the clock (the night the
batch schedule starts the run, the next daily monitoring run), the input file the upstream
delivers under the batch input prefix, and the labels where the quality step reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from finmlops.config import Config
from finmlops.contracts import DeploymentManifest
from finmlops.emulator.aws.alarms import evaluate_alarms
from finmlops.emulator.story.batch import (
    BatchPipeline,
    BatchRun,
    batch_pipeline,
    put_input,
    run_batch,
)
from finmlops.emulator.story.lifecycle import Lifecycle, StageResult
from finmlops.emulator.story.monitoring import (
    DRIFT_STEP,
    MONITORED,
    QUALITY_STEP,
    ground_truth_source,
    next_daily_run,
)
from finmlops.emulator.story.seams import network_of
from finmlops.iam.cloudformation import Assembly
from finmlops.naming import Role
from finmlops.registry.errors import RefusedError
from finmlops.registry.inventory import Inventory, model_inventory, to_csv, to_json
from finmlops.registry.promotion import record_deployment
from finmlops.registry.report import decided_card, decided_report
from finmlops.registry.versions import describe_version

# The stages of each other model (each printed as "<model>: <stage>"), then the inventory.
PORTFOLIO_STORY: tuple[tuple[str, str], ...] = (
    ("build v1", "run the model's own build pipeline on its own data"),
    ("sign-off", "the validator signs off in the model's own validator role"),
    ("other approver", "another model's approver, in that model's role, tries: refused"),
    ("approval", "the model's own approver approves, in its own approver role"),
    ("approval event", "the state-change event reaches the model's own handler"),
    ("promotion v1", "stage, check, manual gate, prod: the model's serving stacks"),
    ("nightly batch", "prod's batch pipeline scores the held-out rows at its scheduled time"),
    ("drift monitoring", "the model's monitoring pipeline on the batch captures"),
    ("late labels", "ground truth by inference id; model quality and its alarm"),
    ("evidence", "the model's validation report and model card"),
)
INVENTORY_STAGE = ("inventory", "finmlops inventory export: every model of the portfolio")
BATCH_ONLY = frozenset({"nightly batch", "drift monitoring", "late labels"})
INPUT_FILE = "applications.csv"
ID_COLUMN = "application_id"


@dataclass
class ModelStory:
    """One other model's story, in the first story's world (`World.for_model`)."""

    first: Lifecycle
    config: Config
    story: Lifecycle = field(init=False)
    stages: list[StageResult] = field(default_factory=list)
    night: datetime = field(init=False)  # when the batch schedule starts the nightly run
    batch: BatchRun | None = None
    drift: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    refused_other_approver: str = ""
    paths: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        first = self.first
        work = first.work_dir / "models" / self.config.model.name
        work.mkdir(parents=True, exist_ok=True)
        self.story = Lifecycle(
            self.config,
            first.aws,
            work,
            progress=first.progress,
            clock_start=first.hours[2] + timedelta(hours=1),
            portfolio=first.portfolio,
        )
        self.story.world = first.w.for_model(self.config)
        self.story.tracking_dir = first.tracking_dir
        # The first night after the first story's last hour.
        self.night = first.hours[2]

    @property
    def name(self) -> str:
        return str(self.config.model.name)

    def stage(self, name: str, run: Callable[[], str]) -> str:
        line = self.story.stage(f"{self.name}: {name}", run)
        self.stages.append(self.story.summary.stages[-1])
        return line

    # ------------------------------------------------------------------ approval
    def approve_as_other_approver(self) -> str:
        """The first model's approver, in the first model's approver role (as themselves, with
        MFA), approves this model's version: refused, because approval is per model (each
        model's approver role may decide its own group's versions only). Nothing changes."""
        s, other = self.story, self.first
        person = other.in_approver_role(other.w.approver)
        arn = s.summary.versions["v1"]
        try:
            s._approve(person, arn, "I approve the other models too")
        except ClientError as exc:
            refused = s.w.rules.refused()
            decided = refused[-1] if refused else None
            code = exc.response["Error"]["Code"]
            why = (
                f"{decided.action} refused by the policies of "
                f"{decided.caller.rsplit(':', 1)[-1]}: {decided.reason}"
                if decided
                else f"{code}: {exc.response['Error'].get('Message', '')}"
            )
        except RefusedError as exc:
            why = exc.problems[0] if exc.problems else str(exc)
        else:
            raise RuntimeError(
                f"{other.w.approver.name} approved {arn} in {other.config.governance.approver_role}:"
                " approval is not per model"
            )
        status = describe_version(s.client("sagemaker"), arn).status
        if status != "PendingManualApproval":
            raise RuntimeError(f"a refused approval changed {arn} to {status}")
        self.refused_other_approver = why
        return (
            f"{other.w.approver.name} as {other.config.governance.approver_role} on "
            f"{self.config.model.package_group} v1: {why}; still {status}"
        )

    # ------------------------------------------------------------------ promotion
    def promote(self) -> str:
        if not self.config.serving.batch:
            return self.story.promote("v1")
        s = self.story
        actor = f"codepipeline/{s.w.promotion_pipeline}"
        arn = s.summary.versions["v1"]
        lines = []
        for environment in ("stage", "prod"):
            promoter = s._promoter(environment)
            reason = f"manual approval by {s.w.approver.name}" if environment == "prod" else ""
            manifest = s._resolve(arn, environment, promoter, actor)
            pipeline = self._deploy_batch(manifest, promoter, actor, reason)
            lines.append(f"{environment}: {pipeline.name} ({pipeline.schedule_expression})")
        archive = s.manifests["prod"].model_data_url
        return (
            f"v1 in batch: {lines[0]}, recorded; manual approval by {s.w.approver.name}; "
            f"{lines[1]}, recorded: each deployed pipeline's scoring step reads the manifest's "
            f"archive {archive} (no endpoint, no smoke test)"
        )

    def _deploy_batch(
        self, manifest: DeploymentManifest, promoter: Any, actor: str, reason: str
    ) -> BatchPipeline:
        """Synthesize and deploy the environment for this model, then `promote record
        --batch-pipeline`: recorded only once the batch pipeline SageMaker holds scores with
        the manifest's archive (registry lifecycle as dev's registry-lifecycle role)."""
        s = self.story
        s._synthesize_and_deploy(manifest)
        environment = manifest.environment
        pipeline = self.batch_pipeline(environment)
        lifecycle = s.w.chained(
            promoter.session, s.w.names["dev"].role(Role.REGISTRY_LIFECYCLE), "promotion-record"
        )
        # The batch stack has no smoke-test role: the check reads the pipeline as the promotion
        # project's role (docs/emulator.md says what AWS would need).
        record_deployment(
            s.aws.client("sagemaker", lifecycle), s.audit(promoter), s.history(promoter),
            manifest=manifest, actor=actor, serving=s.aws.client("sagemaker", promoter.session),
            batch_pipeline=pipeline.name, reason=reason,
        )  # fmt: skip
        s.summary.deployed[environment] = manifest.model_package_arn
        s.manifests[environment] = manifest
        path = s.work_dir / "manifests" / f"{environment}-v{manifest.version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(manifest.to_json())
        return pipeline

    def batch_pipeline(self, environment: str) -> BatchPipeline:
        """The model's batch pipeline as the environment's current templates declare it."""
        s = self.story
        return batch_pipeline(
            Assembly.load(s.w.assembly[environment]),
            environment,
            stack_name=s.w.names[environment].stack("batch"),
        )

    # ------------------------------------------------------------------ the night
    def held_out(self) -> pd.DataFrame:
        """The rows the model's build held out (never trained on), as the scoring service
        receives them (the build's encoding, as the endpoint of a real-time model does), with
        an application id and no outcome; the outcomes in `attrs["labels"]`."""
        rows = self.story.test_rows()
        book = rows.copy()
        book.insert(0, ID_COLUMN, [f"A{i:06d}" for i in range(len(rows))])
        book.attrs["labels"] = rows.attrs["labels"]
        return book

    def nightly_batch(self) -> str:
        """The batch schedule starts prod's pipeline at its time after the first story's last
        hour; the job scores the input file and writes scores and capture records."""
        s = self.story
        pipeline = self.batch_pipeline(MONITORED)
        self.night = next_daily_run(
            pipeline.schedule_expression, self.first.hours[2], pipeline.source
        )
        book = self.held_out()
        put_input(s.client("s3"), pipeline, {f"{self.night:%Y-%m-%d}/{INPUT_FILE}": book})
        sm = s.client("sagemaker")
        arn = sm.describe_pipeline(PipelineName=pipeline.name)["PipelineArn"]
        started = sm.start_pipeline_execution(PipelineName=pipeline.name)["PipelineExecutionArn"]
        execution_id = started.rsplit("/", 1)[-1]
        role = s._service("sagemaker", pipeline.role_arn.rsplit("/", 1)[-1], execution_id)
        run = run_batch(
            pipeline, s3=s.client("s3", role), sagemaker=s.client("sagemaker", role),
            work_dir=s.work_dir / "batch", network=network_of(Assembly.load(s.w.assembly[MONITORED]), MONITORED),
            at=self.night, execution_id=execution_id, pipeline_arn=arn,
            job_environment=s._job_environment(role.session),
            progress=lambda m: s.progress(f"  {m}"),
        )  # fmt: skip
        if run.execution.status != "Succeeded" or run.report is None:
            raise RuntimeError(f"the batch run failed: {run.execution.failure_reason}")
        self.batch = run
        version = run.report["model"].get("version", "?")
        return (
            f"{pipeline.name} started {self.night:%Y-%m-%d %H:%M} ({pipeline.schedule_expression}): "
            f"{run.report['scored']} held-out applications scored by v{version}; scores under "
            f"{run.scores_uri}, capture records under {pipeline.capture_uri}"
        )

    # ------------------------------------------------------------------ monitoring
    def monitor_drift(self) -> str:
        """The model's monitoring pipeline at its next scheduled time after the batch run: its
        drift step reads the batch job's capture records (the window since the last run)."""
        s = self.story
        pipeline, _ = s.monitoring.pipeline()
        at = next_daily_run(pipeline.schedule_expression, self.night, pipeline.source)
        run = s.monitoring.run(self.night, at=at)
        report = json.loads((run.results[DRIFT_STEP] / "drift_report.json").read_text())
        dataset = report["dataset"]
        drifted = [f["name"] for f in report["features"] if f["drifted"]]
        self.drift = {"at": at, "dataset": dataset, "drifted": drifted}
        changes = evaluate_alarms(
            s.client("cloudwatch"), s.client("sns"), now=at + timedelta(minutes=5),
            names=[s.w.names[MONITORED].drift_alarm], alarm_arn=s.monitoring.alarm_arn,
        )  # fmt: skip
        alarm = s.w.names[MONITORED].drift_alarm
        state = self._alarm_state(alarm)
        self.paths["drift report"] = next(run.results[DRIFT_STEP].glob("*.html"))
        return (
            f"run at {at:%Y-%m-%d %H:%M} ({pipeline.schedule_expression}) on the batch captures: "
            f"{'DRIFT' if dataset['drifted'] else 'no drift'} ({dataset['drift_share']:.2f} of "
            f"features; {', '.join(drifted) or 'none'}); {alarm} {state}"
            + (f" ({changes[-1].old} -> {changes[-1].new})" if changes else "")
        )

    def _alarm_state(self, alarm: str) -> str:
        found = self.story.client("cloudwatch").describe_alarms(AlarmNames=[alarm])
        return str(found["MetricAlarms"][0]["StateValue"])

    def late_labels(self) -> str:
        """The outcomes of the scored applications arrive after the label delay, one
        ground-truth record per scored row keyed by its inference id, where the quality step
        reads them; the next scheduled run joins them and judges the night's window."""
        s = self.story
        if self.batch is None:
            raise RuntimeError("no batch run to label")
        pipeline, _ = s.monitoring.pipeline()
        truth = ground_truth_source(pipeline)
        book = self.held_out()
        labels = dict(zip(book[ID_COLUMN], book.attrs["labels"], strict=True))
        scores = self._scores()
        records = [
            json.dumps(
                {
                    "groundTruthData": {
                        "data": str(int(labels[row["columns"][ID_COLUMN]])),
                        "encoding": "CSV",
                    },
                    "eventMetadata": {"eventId": row["inference_id"]},
                    "eventVersion": "0",
                }
            )
            for row in scores
        ]
        arrived = self.night + timedelta(hours=self.config.monitoring.label_delay_hours)
        bucket, _, prefix = truth.removeprefix("s3://").partition("/")
        s.client("s3").put_object(
            Bucket=bucket,
            Key=f"{prefix.rstrip('/')}/{arrived:%Y/%m/%d/%H}/labels.jsonl",
            Body="\n".join(records).encode(),
        )
        at = next_daily_run(pipeline.schedule_expression, arrived, pipeline.source)
        run = s.monitoring.run(arrived, at=at)
        results = run.results[QUALITY_STEP]
        report: dict[str, Any] = json.loads((results / "model_quality.json").read_text())
        self.quality = report
        self.paths["model quality"] = results / "model_quality.json"
        window = next((w for w in report["windows"] if w["start"] == self.night.isoformat()), None)
        if window is None or window["metrics"].get("auc") is None:
            raise RuntimeError(f"the quality run at {at:%H:%M} scored no labelled window")
        alarm = s.w.names[MONITORED].quality_alarm
        evaluate_alarms(
            s.client("cloudwatch"), s.client("sns"), now=at + timedelta(minutes=5),
            names=[alarm], alarm_arn=s.monitoring.alarm_arn,
        )  # fmt: skip
        violations = [v["metric_name"] for v in report.get("violations", [])]
        return (
            f"{len(records)} labels arrived {arrived:%Y-%m-%d %H:%M}, joined by inference id; "
            f"run at {at:%Y-%m-%d %H:%M}: the night's window AUC {window['metrics']['auc']:.4f} "
            f"on {window['labelled']} labelled (floor {self.config.monitoring.min_auc}); "
            f"{len(violations)} violation(s){': ' + ', '.join(violations) if violations else ''}"
            f" -> {alarm} {self._alarm_state(alarm)}"
        )

    def _scores(self) -> list[dict[str, Any]]:
        """The scores the night's run wrote (one JSON line per row, with its inference id and
        the input row's id column)."""
        if self.batch is None:
            return []
        s = self.story
        bucket, _, prefix = self.batch.scores_uri.removeprefix("s3://").partition("/")
        found: list[dict[str, Any]] = []
        listed = s.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
        for item in listed.get("Contents", []):
            if item["Key"].endswith(".scores.jsonl"):
                body = s.client("s3").get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found += [json.loads(line) for line in body.splitlines() if line.strip()]
        return found

    # ------------------------------------------------------------------ evidence
    def evidence(self) -> str:
        s = self.story
        version = describe_version(s.client("sagemaker"), s.summary.versions["v1"])
        decided = decided_report(s.client("s3"), s.audit(), version)
        folder = self.first.work_dir / "evidence" / self.name
        folder.mkdir(parents=True, exist_ok=True)
        report = folder / "validation_report_v1.html"
        report.write_text(decided.html, encoding="utf-8")
        card = folder / "model_card_v1.html"
        card.write_text(decided_card(s.client("s3"), version, decided), encoding="utf-8")
        self.paths.update({"validation report": report, "model card": card})
        return (
            f"validation report and model card of {self.config.model.package_group} v1 from its "
            f"registry entry, with the approval record {decided.audit_record}"
        )

    # ------------------------------------------------------------------ summary
    def print_summary(self) -> None:
        s = self.story
        print()
        print(
            f"Model {self.name} ({self.config.serving.mode}, tier {self.config.governance.risk_tier})"
        )
        arn = s.summary.versions.get("v1", "")
        if arn:
            version = describe_version(s.client("sagemaker"), arn)
            signoff = s.summary.signoffs.get("v1")
            where = version.lifecycle
            print(
                f"  v1   {arn.rsplit(':', 1)[-1]}  {version.status}, built by {s.w.author.name}, "
                f"validated by {signoff['validator'].rsplit('/', 1)[-1] if signoff else '-'}, "
                f"lifecycle {where.stage if where else '-'}/{where.status if where else '-'}"
            )
        print(
            "  deployed      "
            + ", ".join(f"{e}: v{a.rsplit('/', 1)[-1]}" for e, a in s.summary.deployed.items())
        )
        print(f"  other approver refused: {self.refused_other_approver or '-'}")
        print(f"  event handler {', '.join(s.summary.handler_outcomes)}")
        if self.batch and self.batch.report:
            print(
                f"  batch         {self.batch.report['scored']} scored at {self.night:%Y-%m-%d %H:%M}"
            )
        if self.drift:
            print(
                f"  drift         drifted={self.drift['dataset']['drifted']}, share "
                f"{self.drift['dataset']['drift_share']:.2f}"
            )
        for name, path in self.paths.items():
            print(f"  {name:<13} {path}")


# --------------------------------------------------------------------------- the inventory


def inventory(first: Lifecycle) -> tuple[Inventory, dict[str, Path]]:
    """`finmlops inventory export` over every model: the registry, the audit trail, each
    model's deployment history and the serving environments' alarms, written as JSON and CSV."""
    w = first.w
    configs = list(w.models.configs)
    cloudwatch = first.client("cloudwatch")
    found = model_inventory(
        configs, sagemaker=first.client("sagemaker"), audit=first.audit(), s3=first.client("s3"),
        state_bucket=w.names["tooling"].state_bucket,
        cloudwatch={"stage": cloudwatch, "prod": cloudwatch}, now=datetime.now(UTC),
    )  # fmt: skip
    paths = {"json": first.work_dir / "inventory.json", "csv": first.work_dir / "inventory.csv"}
    paths["json"].write_text(to_json(found), encoding="utf-8")
    paths["csv"].write_text(to_csv(found), encoding="utf-8")
    return found, paths


def inventory_table(found: Inventory) -> list[str]:
    """The inventory as a short table: one line per model."""
    rows = [
        (
            "MODEL",
            "TIER",
            "SERVING",
            "OWNER",
            "VERSIONS",
            "STAGE",
            "PROD",
            "VALIDATED",
            "OPEN FINDINGS",
            "ALARMS",
        )
    ]
    for entry in found.models:
        serving = {s.environment: s.version for s in entry.serving_now}
        last = entry.last_validation
        alarms = ", ".join(f"{a.environment} {a.kind} {a.state}" for a in entry.alarms)
        rows.append(
            (
                entry.model, entry.risk_tier, entry.serving, entry.owner, str(len(entry.versions)),
                f"v{serving['stage']}" if serving.get("stage") else "-",
                f"v{serving['prod']}" if serving.get("prod") else "-",
                f"v{last.version} by {last.validator.rsplit('/', 1)[-1]}" if last else "-",
                str(len(entry.open_findings)), alarms or "-",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def run_portfolio_story(first: Lifecycle) -> list[ModelStory]:
    """After the first model's story: every other model's stages, then the inventory."""
    stories = []
    for config in first.w.models.configs[1:]:
        story = ModelStory(first, config)
        s = story.story
        actions: dict[str, Callable[[], str]] = {
            "build v1": partial(s.build, "v1"),
            "sign-off": partial(
                s.sign_off,
                "v1",
                "Validation MRM-2026-131: data, method and evidence reviewed; discrimination, "
                "calibration and fairness within policy",
            ),
            "other approver": story.approve_as_other_approver,
            "approval": partial(
                s.approve_as_approver,
                "v1",
                "Evidence reviewed: gates passed, fairness within limits, card complete",
            ),
            "approval event": partial(s.approval_event, "v1"),
            "promotion v1": story.promote,
            "nightly batch": story.nightly_batch,
            "drift monitoring": story.monitor_drift,
            "late labels": story.late_labels,
            "evidence": story.evidence,
        }
        for name, _ in PORTFOLIO_STORY:
            if name in BATCH_ONLY and not config.serving.batch:
                continue
            story.stage(name, actions[name])
        stories.append(story)
    if stories:
        holder: dict[str, Any] = {}

        def export() -> str:
            found, paths = inventory(first)
            holder["table"] = inventory_table(found)
            for line in holder["table"]:
                first.progress(f"  {line}")
            return f"{len(found.models)} models -> {paths['json']}, {paths['csv']}"

        first.stage(INVENTORY_STAGE[0], export)
    return stories
