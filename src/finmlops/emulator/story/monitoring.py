"""The story's monitoring: prod's synthesized monitoring pipeline, started as its schedule starts
it, run step by step by the executor; the drift alarm; late labels and model quality.

Everything a monitoring job reads comes from the monitoring template of the stage it monitors,
synthesized with the deployment manifest of the version that stage serves: the baseline (the
manifest's `drift_baseline_uri`), the capture and ground-truth prefixes, the look-back of each
step, the thresholds and the expected version, the image and its entry point, the subnets. The
window ends at `Execution.StartDateTime`, the time the execution started (ADR 0013).

What the story still hands over (docs/emulator.md, monitoring):
- the clock: the scheduled time each execution starts at. EventBridge Scheduler starts the
  pipeline at the schedule's times; moto runs no scheduler, so the story starts the execution
  itself (StartPipelineExecution, as the schedule's target does) and gives the executor that
  time, checked against the template's schedule (hourly, on the hour, no flexible window);
- the traffic: the captures the local endpoints wrote for the story's requests, and the labels
  the story writes where the template's quality step reads them.

`monitoring.mode: model_monitor` (Model Monitor schedules) is not in the demo: moto implements
no monitoring schedules, and the default is `pipeline`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmlops.alerts.chat import loopback_transport, notify
from finmlops.emulator.aws.alarms import evaluate_alarms
from finmlops.emulator.aws.executor import Execution, Network, PipelineExecutor
from finmlops.emulator.story.seams import (
    MonitoringPipeline,
    monitoring_pipeline,
    network_of,
)
from finmlops.emulator.story.traffic import BATCH
from finmlops.iam.cloudformation import Assembly
from finmlops.monitoring.jobs import schedule_window_hours

if TYPE_CHECKING:
    from finmlops.emulator.story.lifecycle import Lifecycle

MONITORED = "prod"  # the stage whose monitoring the story runs
DRIFT_STEP, QUALITY_STEP, EXPLANATION_STEP = "DataDrift", "ModelQuality", "ExplanationDrift"
# The quality run's violations about the AUC: below the floor, or dropped from the validated.
AUC_VIOLATIONS = frozenset({"auc", "auc_drop"})
RESULTS_OUTPUT = "results"


@dataclass(frozen=True)
class ScheduledRun:
    """One execution of the monitoring pipeline and the results each step wrote."""

    at: datetime
    execution: Execution
    results: dict[str, Path]  # step -> the folder of its `results` output


@dataclass
class MonitoringStory:
    """The monitoring stages of one story: `drift`, `alarm`, `late_labels`."""

    story: Lifecycle
    _read: dict[Path, tuple[MonitoringPipeline, Network]] = field(default_factory=dict)
    runs: list[ScheduledRun] = field(default_factory=list)

    # ------------------------------------------------------------------ the template
    def serving_assembly(self) -> Path:
        """The cloud assembly of the monitored stage, synthesized with the manifest of the
        version it serves (the world's, from its latest promotion or rollback)."""
        return self.story.w.assembly[MONITORED]

    def pipeline(self) -> tuple[MonitoringPipeline, Network]:
        """The monitored stage's monitoring pipeline and network, from its assembly."""
        folder = self.serving_assembly()
        if folder not in self._read:
            assembly = Assembly.load(folder)
            own = self.story.w.names[MONITORED].stack("monitoring")
            self._read[folder] = (
                monitoring_pipeline(assembly, MONITORED, own),
                network_of(assembly, MONITORED),
            )
        return self._read[folder]

    # ------------------------------------------------------------------ one scheduled run
    def run(self, window_start: datetime, at: datetime | None = None) -> ScheduledRun:
        """The execution the schedule starts after the hour from `window_start` (or at `at`,
        a time the caller checked against the schedule), run to the end.

        The execution is started through the SageMaker API, as the schedule's target starts
        the pipeline the world deployed from the template; the executor runs the definition
        SageMaker recorded for the execution, each job with the pipeline's role."""
        pipeline, network = self.pipeline()
        at = at or scheduled_time(pipeline, window_start)
        story = self.story
        sm = story.client("sagemaker")
        # The pipeline as the world deployed it from the same template (CloudFormation).
        arn = sm.describe_pipeline(PipelineName=pipeline.name)["PipelineArn"]
        started = sm.start_pipeline_execution(PipelineName=pipeline.name)
        execution_arn = started["PipelineExecutionArn"]
        recorded = sm.describe_pipeline_definition_for_execution(
            PipelineExecutionArn=execution_arn
        )["PipelineDefinition"]
        # Each job runs with the pipeline's role, as SageMaker runs it: its S3 reads and writes
        # and its metric calls are decided by that role's synthesized policies.
        role = story._service(
            "sagemaker", pipeline.role_arn.rsplit("/", 1)[-1], execution_arn.rsplit("/", 1)[-1]
        )
        executor = PipelineExecutor(
            recorded,
            s3=story.client("s3", role),
            sagemaker=story.client("sagemaker", role),
            work_dir=story.work_dir / "monitoring",
            progress=lambda m: story.progress(f"  {m}"),
            image_entrypoints=pipeline.image_entrypoints,
            job_environment=story._job_environment(role.session),
            network=network,
        )
        execution = executor.run(execution_arn.rsplit("/", 1)[-1], pipeline_arn=arn, started_at=at)
        if execution.status != "Succeeded":
            raise RuntimeError(
                f"monitoring execution of {pipeline.name} at {at:%H:%M} failed: "
                f"{execution.failure_reason}"
            )
        results = {
            step.name: executor.output_dir(execution, step.name, RESULTS_OUTPUT)
            for step in execution.steps
            if step.status == "Succeeded" and step.type == "Processing"
        }
        scheduled = ScheduledRun(at, execution, results)
        self.runs.append(scheduled)
        return scheduled

    def alarm_arn(self, arn: str) -> str:
        """The ARN a monitored stage's alarm has on AWS: in that stage's account (moto holds
        every environment's resources in its one account, docs/emulator.md, One account)."""
        account = getattr(self.story.config.environments, MONITORED).account
        return re.sub(r"^(arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:)\d{12}:", rf"\g<1>{account}:", arn)

    # ------------------------------------------------------------------ the stages
    def drift(self) -> str:
        """The runs after the reference-like hour and after the shifted one: data drift and
        explanation drift (the template's ExplanationDrift step, docs/decisions/0028)."""
        story = self.story
        lines = []
        for window in (0, 1):
            run = self.run(story.hours[window])
            results = run.results[DRIFT_STEP]
            report = json.loads((results / "drift_report.json").read_text())
            dataset = report["dataset"]
            drifted = [f["name"] for f in report["features"] if f["drifted"]]
            story.summary.drift[f"window-{window}"] = {
                "dataset": dataset,
                "drifted": drifted,
                "results": results,
                "window_end": run.at,
            }
            verdict = "DRIFT" if dataset["drifted"] else "no drift"
            explained = json.loads(
                (run.results[EXPLANATION_STEP] / "explanation_report.json").read_text()
            )
            story.summary.drift[f"window-{window}"]["explanation"] = explained
            lines.append(
                f"run at {run.at:%H:%M}: {verdict} ({dataset['drift_share']:.2f} of features; "
                f"{', '.join(drifted) or 'none'}); "
                + (
                    f"{'EXPLANATION DRIFT' if explained['drifted'] else 'no explanation drift'} "
                    f"(NDCG {explained['ndcg']:.4f}, attribution shift "
                    f"{explained['attribution_shift']:.3f})"
                    if explained["evaluated"]
                    else f"explanation not evaluated ({explained['reason']})"
                )
            )
            story.summary.paths["drift report"] = next(results.glob("*.html"))
            story.summary.paths["explanation report"] = (
                run.results[EXPLANATION_STEP] / "explanation_report.html"
            )
        return "; ".join(lines)

    def alarm(self) -> str:
        story = self.story
        changes = evaluate_alarms(
            story.client("cloudwatch"), story.client("sns"),
            now=story.hours[1] + timedelta(hours=1, minutes=5),
            names=[story.w.names[MONITORED].drift_alarm], alarm_arn=self.alarm_arn,
        )  # fmt: skip
        story.summary.alarm = changes[-1] if changes else None
        messages = (
            story.client("sqs")
            .receive_message(QueueUrl=story.w.queue_url, MaxNumberOfMessages=10)
            .get("Messages", [])
        )
        envelopes = [json.loads(m["Body"]) for m in messages]
        story.summary.alert_messages = [json.loads(e["Message"]) for e in envelopes]
        if not story.summary.alarm:
            return "no alarm state change"
        received = [m["NewStateValue"] for m in story.summary.alert_messages]
        change = story.summary.alarm
        line = f"{change.alarm}: {change.old} -> {change.new}; SQS subscriber received {received}"
        parameter = story.config.notifications.chat_webhook_parameter
        if story.w.webhook is not None and parameter:
            # SNS would invoke the chat notifier with these envelopes (moto runs no Lambda).
            event = {"Records": [{"EventSource": "aws:sns", "Sns": e} for e in envelopes]}
            notify(
                event,
                ssm=story.client("ssm"),
                parameter=parameter,
                environment=MONITORED,
                transport=loopback_transport(),  # the webhook is on 127.0.0.1
            )
            story.summary.chat_posts = [str(p.get("text", "")) for p in story.w.webhook.posts]
            line += f"; chat notifier posted {len(story.summary.chat_posts)}"
        return line

    def late_labels(self) -> str:
        """Ground truth for both production hours arrives an hour after the shifted one (the
        real outcomes of the rows each request carried); the next scheduled run scores the
        predictions whose labels are in, and the quality alarm judges each labelled hour."""
        story = self.story
        data = story.production()
        arrived = story.hours[2]
        pipeline, _ = self.pipeline()
        truth = ground_truth_source(pipeline)
        # One ground-truth record per request (inference id), its labels in the request's row
        # order, in the hour folder of its arrival, under the prefix the quality step reads.
        lines = []
        for hour, rows in enumerate(data.windows):
            labels = data.labels(rows)
            lines += [
                json.dumps({
                    "groundTruthData": {"data": "\n".join(str(int(v)) for v in labels[start : start + BATCH]), "encoding": "CSV"},
                    "eventMetadata": {"eventId": f"w{hour}-{number}"},
                    "eventVersion": "0",
                })
                for number, start in enumerate(range(0, len(labels), BATCH))
            ]  # fmt: skip
        bucket, _, prefix = truth.removeprefix("s3://").partition("/")
        story.client("s3").put_object(
            Bucket=bucket,
            Key=f"{prefix.rstrip('/')}/{arrived:%Y/%m/%d/%H}/labels.jsonl",
            Body="\n".join(lines).encode(),
        )
        run = self.run(arrived)
        results = run.results[QUALITY_STEP]
        report: dict[str, Any] = json.loads((results / "model_quality.json").read_text())
        story.summary.quality = report
        story.summary.paths["model quality"] = results / "model_quality.json"
        # The run judges each hour against the floor and against the deployed version's
        # validated AUC (a drop beyond the tolerance and beyond sampling noise); the quality
        # alarm watches the run's violation count, stamped with the run's time.
        threshold = story.config.monitoring.min_auc
        violations = [
            v for v in report.get("violations", []) if v.get("metric_name") in AUC_VIOLATIONS
        ]
        rule = report.get("auc_drop_rule") or {}
        hours = []
        for start in story.hours[:2]:
            window = _window(report, start)
            found = {
                v["metric_name"]
                for v in violations
                if f"window {start.isoformat()} " in v["description"]
            }
            story.summary.quality_verdicts[start.isoformat()] = "violation" if found else "ok"
            metrics = window["metrics"]
            auc = metrics.get("auc")
            if auc is None:
                hours.append(f"{start:%H}:00 no AUC")
                continue
            text = f"{start:%H}:00 AUC {auc:.4f} on {window['labelled']} labelled"
            if "auc" in found:
                text += f", below the floor {threshold}"
            if rule and metrics.get("auc_drop_lower_bound") is not None:
                text += (
                    f", {rule['validated_auc'] - auc:+.4f} against the validated "
                    f"{rule['validated_auc']:.4f}"
                    + (
                        f" (at {rule['confidence']:.0%} at least "
                        f"{metrics['auc_drop_lower_bound']:.4f} > {rule['max_drop']:g}: violation)"
                        if "auc_drop" in found
                        else " (within tolerance and noise)"
                    )
                )
            hours.append(text)
        alarm = story.w.names[MONITORED].quality_alarm
        story.summary.quality_alarms += evaluate_alarms(
            story.client("cloudwatch"), story.client("sns"),
            now=run.at + timedelta(minutes=5), names=[alarm], alarm_arn=self.alarm_arn,
        )  # fmt: skip
        state = story.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0][
            "StateValue"
        ]
        story.summary.quality_alarm_state = state
        return (
            f"{sum(len(w) for w in data.windows)} labels joined by inference id; run at "
            f"{run.at:%H:%M}: {'; '.join(hours)}; {len(violations)} AUC violation(s) -> "
            f"{alarm} {state}"
        )


def scheduled_time(pipeline: MonitoringPipeline, window_start: datetime) -> datetime:
    """When the schedule starts the run that judges the hour from `window_start`: the next
    hour. The story's traffic comes in whole hours, so it needs an hourly schedule on the hour
    with no flexible window (EventBridge Scheduler then invokes the target at the scheduled
    time); any other schedule is refused, naming it."""
    expression = pipeline.schedule_expression
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    hourly = (
        expression.startswith("cron(")
        and schedule_window_hours(expression) == 1.0
        and fields[0] == "0"
    )
    if not hourly or pipeline.flexible_window != "OFF":
        raise RuntimeError(
            f"{pipeline.source}: schedule {expression} (flexible window "
            f"{pipeline.flexible_window or 'unset'}): the story replays whole hours and needs "
            "cron(0 * ...) with FlexibleTimeWindow OFF"
        )
    return window_start + timedelta(hours=1)


def next_daily_run(expression: str, after: datetime, source: str) -> datetime:
    """When a daily schedule `cron(M H * * ? *)` (EventBridge Scheduler's six fields; day of
    month or day of week `?`, the other `*`) next starts after `after`: EventBridge Scheduler
    invokes the target at the scheduled time when FlexibleTimeWindow is OFF (Scheduler User
    Guide, "Schedule types": cron-based schedules). Any other expression is refused, naming it
    (the story replays one night; it needs a fixed daily time)."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    daily = (
        expression.startswith("cron(")
        and len(fields) == 6
        and fields[0].isdigit()
        and fields[1].isdigit()
        and {fields[2], fields[4]} == {"*", "?"}
        and fields[3] == "*"
        and fields[5] == "*"
    )
    if not daily:
        raise RuntimeError(
            f"{source}: schedule {expression}: the story replays one night and needs a daily "
            "cron(M H * * ? *)"
        )
    at = after.replace(hour=int(fields[1]), minute=int(fields[0]), second=0, microsecond=0)
    return at if at > after else at + timedelta(days=1)


def ground_truth_source(pipeline: MonitoringPipeline) -> str:
    """Where the template's model-quality step reads ground truth (its `ground_truth_source`)."""
    for step in json.loads(pipeline.definition)["Steps"]:
        if step["Name"] == QUALITY_STEP:
            source = step["Arguments"].get("Environment", {}).get("ground_truth_source", "")
            if str(source).startswith("s3://"):
                return str(source)
    raise LookupError(f"{pipeline.source}: step {QUALITY_STEP} reads no s3:// ground truth")


def _window(report: dict[str, Any], start: datetime) -> dict[str, Any]:
    """The quality report's window that starts at `start` (one per hour, `--window 1h`)."""
    for window in report["windows"]:
        if window["start"] == start.isoformat():
            return dict(window)
    raise LookupError(f"the quality report has no window starting {start.isoformat()}")
