"""The batch stack of a batch model, in stage (default manifest) and prod (an approved version's
manifest), with the compliance packs attached: the schedule, the job's encryption and network,
the role's scope attacked with the IAM evaluator, and the model being the manifest's.

The stages here hold the data, network and batch stacks only (cdk/stages.py does not yet wire
BatchStack in): synthesized once for the module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from synth_fixtures import VARIANT_MANIFEST, Synth

from finmlops.config import Serving
from finmlops.contracts import DeploymentManifest

MODEL = "provisions"
SCHEDULE = "cron(0 2 * * ? *)"
MONITORING_SCHEDULE = "cron(0 3 * * ? *)"
PROD_ACCOUNT, STAGE_ACCOUNT, DEV_ACCOUNT = "333333333333", "222222222222", "111111111111"


def batch_config(config: Any) -> Any:
    """The default config as a batch model named `provisions`, scored nightly at 02:00 and
    monitored daily at 03:00 (as the shipped `credit-scoring` is)."""
    return config.model_copy(
        update={
            "model": config.model.model_copy(update={"name": MODEL}),
            "serving": Serving(mode="batch", schedule=SCHEDULE),
            "monitoring": config.monitoring.model_copy(update={"schedule": MONITORING_SCHEDULE}),
        }
    )


@dataclass
class BatchSynth:
    synth: Synth
    config: Any
    manifest: DeploymentManifest
    stacks: dict[str, Any]


def synthesize(config: Any, manifests: dict[str, DeploymentManifest | None], root: Path, outdir: Path,
               *, packs: bool = True, monitoring: bool = False) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    from aws_cdk import App, Stage
    from aws_cdk import Environment as CdkEnvironment
    from finmlops_cdk.batch import BatchStack
    from finmlops_cdk.compliance import attach_packs, enforce_inventory_tags
    from finmlops_cdk.data_stack import DataStack
    from finmlops_cdk.feature_flags import FEATURE_FLAGS
    from finmlops_cdk.monitoring import MonitoringStack
    from finmlops_cdk.stages import NetworkStack

    app = App(outdir=str(outdir), context=dict(FEATURE_FLAGS))
    stacks: dict[str, Any] = {}
    for environment, manifest in manifests.items():
        env = config.environments.by_name(environment)
        if manifest is None:  # dev: the registry's artifact bucket and its key, as deployed
            dev = Stage(
                app, environment, env=CdkEnvironment(account=env.account, region=env.region)
            )
            enforce_inventory_tags(dev, config.inventory_tags() | {"environment": environment})
            DataStack(dev, "Data", config=config, environment=environment, root=root)
            continue
        stage = Stage(app, environment, env=CdkEnvironment(account=env.account, region=env.region))
        enforce_inventory_tags(stage, config.inventory_tags() | {"environment": environment})
        data = DataStack(stage, "Data", config=config, environment=environment, root=root)
        network = NetworkStack(stage, "Network", config=config, environment=environment)
        stacks[environment] = BatchStack(
            stage,
            "Batch",
            config=config,
            environment=environment,
            data=data,
            network=network.network,
            manifest=manifest,
            root=root,
        )
        if monitoring:
            # No endpoint: the monitoring pipeline reads the batch job's captures.
            MonitoringStack(
                stage,
                "Monitoring",
                config=config,
                environment=environment,
                data=data,
                network=network.network,
                manifest=manifest,
                root=root,
                endpoint=None,
                rollback_alarms={},
            )
    if packs:
        attach_packs(app)
    app.synth()  # raises when any compliance pack has an open finding
    return app, stacks


@pytest.fixture(scope="module")
def batch(config: Any, root: Path, tmp_path_factory: pytest.TempPathFactory) -> BatchSynth:
    from finmlops_cdk.manifest import default_manifest

    cfg = batch_config(config)
    manifest = DeploymentManifest.from_json(json.dumps(VARIANT_MANIFEST))
    outdir = tmp_path_factory.mktemp("batch") / "cdk.out"
    app, stacks = synthesize(
        cfg,
        {"dev": None, "stage": default_manifest(cfg), "prod": manifest},
        root,
        outdir,
        monitoring=True,
    )
    from synth_fixtures import _stages

    return BatchSynth(
        Synth(app=app, outdir=outdir, stages=_stages(app)).load(), cfg, manifest, stacks
    )


def one(synth: Synth, kind: str, env: str) -> dict[str, Any]:
    (resource,) = [r for e, c, _, r in synth.resources(kind, env) if c == "Batch"]
    return resource


def step(synth: Synth, env: str) -> dict[str, Any]:
    """The processing step of the batch pipeline, its definition read from the template."""
    body = one(synth, "AWS::SageMaker::Pipeline", env)["Properties"]["PipelineDefinition"][
        "PipelineDefinitionBody"
    ]
    text = body if isinstance(body, str) else json.dumps(body)
    definition = json.loads(text) if isinstance(body, str) else None
    if definition is None:
        # Fn::Join of the definition's text and tokens: the JSON is whole once joined.
        parts = body["Fn::Join"][1]
        joined = "".join(p if isinstance(p, str) else json.dumps("TOKEN")[1:-1] for p in parts)
        definition = json.loads(joined)
    (only,) = definition["Steps"]
    return dict(only)


def test_the_schedule_starts_the_batch_pipeline_on_the_models_schedule(batch: BatchSynth) -> None:
    for env in ("stage", "prod"):
        schedule = one(batch.synth, "AWS::Scheduler::Schedule", env)["Properties"]
        assert schedule["ScheduleExpression"] == SCHEDULE
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        target = schedule["Target"]
        account = PROD_ACCOUNT if env == "prod" else STAGE_ACCOUNT
        assert (
            target["Arn"] == f"arn:aws:sagemaker:us-east-1:{account}:pipeline/{MODEL}-{env}-batch"
        )
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert "Arn" in target["DeadLetterConfig"]
        assert "KmsKeyArn" in schedule  # the schedule's own data under the ops key
        pipeline = one(batch.synth, "AWS::SageMaker::Pipeline", env)["Properties"]
        assert pipeline["PipelineName"] == f"{MODEL}-{env}-batch"


def test_a_run_that_fails_or_is_stopped_alerts_the_topic_with_retries_and_a_dead_letter_queue(
    batch: BatchSynth,
) -> None:
    for env in ("stage", "prod"):
        account = PROD_ACCOUNT if env == "prod" else STAGE_ACCOUNT
        rule = one(batch.synth, "AWS::Events::Rule", env)["Properties"]
        pipeline = f"arn:aws:sagemaker:us-east-1:{account}:pipeline/{MODEL}-{env}-batch"
        assert rule["EventPattern"] == {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
            "detail": {
                "pipelineArn": [pipeline],
                "currentPipelineExecutionStatus": ["Failed", "Stopped"],
            },
        }
        (target,) = rule["Targets"]
        assert "GetStackOutput" in json.dumps(target["Arn"])  # the Data stack's alerts topic
        assert "RoleArn" in target  # published with a role of this account, not a topic policy
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert "Arn" in target["DeadLetterConfig"]
    # No topic admits a service principal: no rule of another account can publish through it.
    for *_, policy in batch.synth.resources("AWS::SNS::TopicPolicy"):
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert {"Service": "events.amazonaws.com"} not in [s.get("Principal") for s in statements]


def test_the_job_scores_the_approved_archive_the_manifest_names(batch: BatchSynth) -> None:
    prod = step(batch.synth, "prod")["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in prod["ProcessingInputs"]}
    assert inputs["model"]["S3Uri"] == batch.manifest.model_data_url
    arguments = prod["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--model-version") + 1] == "7"
    assert arguments[arguments.index("--model-package-arn") + 1] == batch.manifest.model_package_arn
    assert prod["AppSpecification"]["ContainerEntrypoint"] == [
        "python3", "-m", "finmlops.serving.batch",
    ]  # fmt: skip
    tags = {
        t["Key"]: t["Value"]
        for t in one(batch.synth, "AWS::SageMaker::Pipeline", "prod")["Properties"]["Tags"]
    }
    assert tags["model-package-version"] == "7" and tags["model-id"] == MODEL
    # The version the promotion's smoke test compares with the one it promotes.
    assert tags["model-package-arn"] == batch.manifest.model_package_arn
    # Before any approval (stage's default manifest) the archive is under its own unwritten prefix.
    stage = {
        i["InputName"]: i["S3Input"]
        for i in step(batch.synth, "stage")["Arguments"]["ProcessingInputs"]
    }
    assert "/model-build/default-for-synth/" in stage["model"]["S3Uri"]


def test_promotion_switches_the_archive_and_nothing_else_of_the_job(
    batch: BatchSynth, root: Path, tmp_path: Path
) -> None:
    """A new approved version is a new manifest: the re-synthesized job reads its archive."""
    newer = DeploymentManifest.from_json(
        json.dumps(
            VARIANT_MANIFEST
            | {
                "model_package_arn": VARIANT_MANIFEST["model_package_arn"].replace("/7", "/8"),
                "version": 8,
                "model_data_url": VARIANT_MANIFEST["model_data_url"].replace("/x/", "/y/"),
            }
        )
    )
    app, _ = synthesize(batch.config, {"prod": newer}, root, tmp_path / "cdk.out", packs=False)
    promoted = Synth(app=app, outdir=tmp_path / "cdk.out", stages={"prod": None}).load()
    before, after = step(batch.synth, "prod"), step(promoted, "prod")
    model_after = {i["InputName"]: i["S3Input"] for i in after["Arguments"]["ProcessingInputs"]}
    assert model_after["model"]["S3Uri"] == newer.model_data_url
    changed = {
        key
        for key in before["Arguments"]
        if json.dumps(before["Arguments"][key], sort_keys=True)
        != json.dumps(after["Arguments"][key], sort_keys=True)
    }
    assert changed == {"ProcessingInputs", "AppSpecification"}  # archive; version in arguments
    # The role's read follows the archive: the new version's object, not the old one's.
    reads = [
        statement["Resource"]
        for *_, policy in promoted.resources("AWS::IAM::ManagedPolicy", "prod")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "ReadApprovedArchive"
    ]
    assert reads == [f"arn:aws:s3:::{newer.model_data_url.removeprefix('s3://')}"]


def test_volumes_outputs_and_traffic_are_encrypted_and_the_job_runs_in_the_vpc(
    batch: BatchSynth,
) -> None:
    for env in ("stage", "prod"):
        arguments = step(batch.synth, env)["Arguments"]
        cluster = arguments["ProcessingResources"]["ClusterConfig"]
        assert cluster["VolumeKmsKeyId"] and cluster["InstanceCount"] == 1
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == cluster["VolumeKmsKeyId"]
        network = arguments["NetworkConfig"]
        assert network["EnableInterContainerTrafficEncryption"] is True
        assert network["VpcConfig"]["Subnets"] and network["VpcConfig"]["SecurityGroupIds"]
        outputs = {
            o["OutputName"]: o["S3Output"] for o in arguments["ProcessingOutputConfig"]["Outputs"]
        }
        capture = (
            f"credit-risk-capture-{PROD_ACCOUNT if env == 'prod' else STAGE_ACCOUNT}-us-east-1"
        )
        # Where the monitoring pipeline reads an endpoint's captures of this model.
        assert outputs["capture"]["S3Uri"] == f"s3://{capture}/capture/{MODEL}-{env}/AllTraffic"
        assert outputs["scores"]["S3Uri"]["Std:Join"]["Values"] == [
            f"s3://{capture}/batch/{MODEL}/output",
            {"Get": "Execution.PipelineExecutionId"},
        ]
        inputs = {i["InputName"]: i["S3Input"] for i in arguments["ProcessingInputs"]}
        assert inputs["input"]["S3Uri"] == f"s3://{capture}/batch/{MODEL}/input/"


# ------------------------------------------------------------------ the role, attacked


@pytest.fixture(scope="module")
def iam(batch: BatchSynth) -> Any:
    from finmlops.iam import Platform

    return Platform.load(batch.synth.outdir)


def role_session(iam: Any, env: str) -> str:
    return iam.role(f"credit-risk-{env}-batch-{MODEL}", env).session_arn("insider")


CAPTURE = f"arn:aws:s3:::credit-risk-capture-{PROD_ACCOUNT}-us-east-1"
ARTIFACTS = "arn:aws:s3:::credit-risk-artifacts-111111111111-us-east-1"


def test_the_batch_role_reads_its_archive_and_input_and_writes_its_outputs(
    iam: Any, batch: BatchSynth
) -> None:
    who = role_session(iam, "prod")
    archive = ARTIFACTS + "/" + batch.manifest.model_data_url.split("/", 3)[3]
    allowed = [
        ("s3:GetObject", archive),
        ("s3:GetObject", f"{CAPTURE}/batch/{MODEL}/input/2026-12/book.csv"),
        ("s3:PutObject", f"{CAPTURE}/batch/{MODEL}/output/exec-1/batch_report.json"),
        ("s3:PutObject", f"{CAPTURE}/capture/{MODEL}-prod/AllTraffic/2026/12/01/02/exec-1.jsonl"),
    ]
    for action, resource in allowed:
        account = DEV_ACCOUNT if resource.startswith(ARTIFACTS) else PROD_ACCOUNT
        decision = iam.decide(who, action, resource, resource_account=account)
        assert decision.allowed, f"{action} {resource}: {decision}"


def test_an_insider_with_the_batch_role_reaches_no_other_model_version_or_prefix(
    iam: Any, batch: BatchSynth
) -> None:
    """Holding the batch role, one cannot score with an unapproved version, read another
    model's inputs, overwrite the inputs, or forge another endpoint's captures."""
    who = role_session(iam, "prod")
    other_version = ARTIFACTS + "/model-build/train/unapproved/model.tar.gz"
    refused = [
        ("s3:GetObject", other_version),
        ("s3:GetObject", f"{CAPTURE}/batch/credit-risk/input/book.csv"),
        ("s3:PutObject", f"{CAPTURE}/batch/{MODEL}/input/book.csv"),
        ("s3:DeleteObject", f"{CAPTURE}/batch/{MODEL}/input/book.csv"),
        ("s3:PutObject", f"{CAPTURE}/capture/credit-risk-prod/AllTraffic/2026/12/01/02/x.jsonl"),
        ("s3:GetObject", f"{CAPTURE}/capture/{MODEL}-prod/AllTraffic/2026/12/01/02/x.jsonl"),
        ("sagemaker:UpdateModelPackage", "arn:aws:sagemaker:us-east-1:111111111111:model-package/credit-risk-xgb/7"),
    ]  # fmt: skip
    for action, resource in refused:
        account = DEV_ACCOUNT if resource.startswith(ARTIFACTS) else PROD_ACCOUNT
        decision = iam.decide(who, action, resource, resource_account=account)
        assert not decision.allowed, f"{action} {resource}: {decision}"
    # Nor change what the pipeline runs, nor start a job outside the VPC or without the key.
    pipeline = f"arn:aws:sagemaker:us-east-1:{PROD_ACCOUNT}:pipeline/{MODEL}-prod-batch"
    assert not iam.decide(who, "sagemaker:UpdatePipeline", pipeline).allowed
    job = f"arn:aws:sagemaker:us-east-1:{PROD_ACCOUNT}:processing-job/pipelines-x-batchscore-y"
    key = f"arn:aws:kms:us-east-1:{PROD_ACCOUNT}:key/k"
    outside_vpc = iam.decide(
        who, "sagemaker:CreateProcessingJob", job, {"sagemaker:VolumeKmsKeyArn": key}
    )
    assert outside_vpc.explicitly_denied, str(outside_vpc)
    no_key = iam.decide(
        who, "sagemaker:CreateProcessingJob", job, {"sagemaker:VpcSubnets": ["subnet-1"]}
    )
    assert no_key.explicitly_denied, str(no_key)
    # Listing the registry's bucket is limited to the one archive key.
    key = batch.manifest.model_data_url.split("/", 3)[3]
    dev = {"resource_account": DEV_ACCOUNT}
    assert iam.decide(who, "s3:ListBucket", ARTIFACTS, {"s3:prefix": key}, **dev).allowed
    assert not iam.decide(
        who, "s3:ListBucket", ARTIFACTS, {"s3:prefix": "model-build/"}, **dev
    ).allowed


def test_a_realtime_model_gets_no_batch_stack(config: Any, root: Path, tmp_path: Path) -> None:
    from finmlops_cdk.manifest import default_manifest

    with pytest.raises(ValueError, match="serving mode batch"):
        synthesize(config, {"prod": default_manifest(config)}, root, tmp_path, packs=False)


def test_the_monitoring_pipeline_of_a_batch_model_reads_the_batch_jobs_captures(
    batch: BatchSynth,
) -> None:
    """cdk/monitoring.py takes endpoint=None for a batch model: its drift, quality and
    explanation steps read the prefix the batch job writes its capture records to."""
    body = one(batch.synth, "AWS::SageMaker::Pipeline", "prod")  # the batch pipeline
    assert body["Properties"]["PipelineName"] == f"{MODEL}-prod-batch"
    (monitoring,) = [
        r
        for e, c, _, r in batch.synth.resources("AWS::SageMaker::Pipeline", "prod")
        if c == "Monitoring"
    ]
    text = json.dumps(monitoring["Properties"]["PipelineDefinition"])
    written = step(batch.synth, "prod")["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    capture = next(o["S3Output"]["S3Uri"] for o in written if o["OutputName"] == "capture")
    assert text.count(capture + "/") >= 3  # DataDrift, ModelQuality, ExplanationDrift


def test_a_batch_model_is_not_monitored_by_model_monitor_schedules(
    batch: BatchSynth, root: Path, tmp_path: Path
) -> None:
    from finmlops_cdk.manifest import default_manifest

    model_monitor = batch.config.model_copy(
        update={"monitoring": batch.config.monitoring.model_copy(update={"mode": "model_monitor"})}
    )
    with pytest.raises(ValueError, match=r"monitored with monitoring\.mode pipeline"):
        synthesize(
            model_monitor,
            {"prod": default_manifest(model_monitor)},
            root,
            tmp_path,
            packs=False,
            monitoring=True,
        )


def test_the_batch_templates_break_none_of_the_projects_aws_rules(batch: BatchSynth) -> None:
    """cfn-lint rules E9101-E9106 (finmlops.governance.cfn_rules: duplicate principals, condition
    keys an action does not define, VPC endpoints the stage's workloads need, container
    environments), as `make scan` runs them, over every template of this synth."""
    from finmlops.governance.cfn_rules import RULES
    from finmlops.governance.cfn_rules.context import Stage as RuleStage

    found = []
    for path in batch.synth.template_files():
        template = json.loads(path.read_text())
        stage = RuleStage.for_template(str(path))
        for rule in RULES:
            found.extend(f"{path.name}: {rule.id} {f}" for f in rule.check(template, stage))
    assert not found, "\n".join(found)


def test_a_manifest_of_another_models_group_is_refused_by_name(
    batch: BatchSynth, root: Path, tmp_path: Path
) -> None:
    from finmlops_cdk.manifest import ManifestError

    other = DeploymentManifest.from_json(
        json.dumps(VARIANT_MANIFEST | {"model_package_group": "fraud-xgb"})
    )
    with pytest.raises(
        ManifestError, match=r"'fraud-xgb' is not models\.provisions\.package_group"
    ):
        synthesize(batch.config, {"prod": other}, root, tmp_path, packs=False)


def test_the_promotions_smoke_test_role_only_describes_this_batch_pipeline(
    batch: BatchSynth,
) -> None:
    """The role `promote record` and the stage smoke test assume for a batch model: named like an
    endpoint model's smoke-test role, trusted by this environment's promote role alone, and
    allowed to describe (and read the tags of) this pipeline, nothing else."""
    from finmlops_cdk.batch import pipeline_name
    from finmlops_cdk.buildspecs import batch_smoke_test_commands

    from finmlops.naming import Role, names

    for environment in ("stage", "prod"):
        n = names(batch.config, environment)
        roles = {
            r["Properties"].get("RoleName"): r
            for *_, r in batch.synth.resources("AWS::IAM::Role", environment)
        }
        smoke = roles[n.role(Role.SMOKE_TEST)]
        trust = smoke["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        promote = names(batch.config, "tooling").role_arn(Role.promote(environment))
        assert [t["Principal"]["AWS"] for t in trust] == [promote]
        (statement,) = [
            st
            for *_, policy in batch.synth.resources("AWS::IAM::ManagedPolicy", environment)
            for st in policy["Properties"]["PolicyDocument"]["Statement"]
            if st.get("Sid") == "DescribeBatchPipeline"
        ]
        assert statement["Action"] == ["sagemaker:DescribePipeline", "sagemaker:ListTags"]
        assert json.dumps(statement["Resource"]).count(f"pipeline/{pipeline_name(n).lower()}") == 1
    commands = "\n".join(batch_smoke_test_commands(names(batch.config, "stage")))
    assert "describe-pipeline --pipeline-name provisions-stage-batch " in commands
    assert "model-package-arn" in commands and '"$MODEL_PACKAGE_ARN"' in commands
    assert "invoke-endpoint" not in commands and "describe-endpoint" not in commands


def test_a_nightly_models_alarms_judge_a_day_and_an_hourly_models_an_hour(
    batch: BatchSynth, platform: Any
) -> None:
    """One alarm period holds one scheduled monitoring run: the daily monitor of a nightly batch
    model is judged over a day (an hour would find no run in 23 of 24 and its breaching alarms
    would stand in ALARM), the hourly real-time model over an hour; the monitor-silent alarm
    over at least six hours. PutMetricAlarm allows Period x EvaluationPeriods up to 604,800 s."""
    from finmlops_cdk.monitoring import alarm_period_minutes

    def periods(synth: Any) -> dict[str, int]:
        return {
            a["Properties"]["AlarmName"].rsplit("-prod-", 1)[1]: a["Properties"]["Period"]
            for *_, a in synth.resources("AWS::CloudWatch::Alarm", "prod")
            if a["Properties"].get("Namespace", "").startswith("finmlops/")
        }

    nightly, hourly = periods(batch.synth), periods(platform)
    assert set(nightly) >= {"data-drift", "model-quality", "monitoring-silent"}
    assert set(nightly.values()) == {86_400}
    assert hourly.pop("monitoring-silent") == 21_600
    assert set(hourly.values()) == {3_600}
    assert alarm_period_minutes("rate(15 minutes)") == 60
    assert alarm_period_minutes("cron(0 2 1 * ? *)") == 7 * 24 * 60  # monthly: the most allowed
