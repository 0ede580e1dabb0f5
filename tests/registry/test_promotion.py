"""Promotion: the gate and the manifest, recording what serves, deployment history with
ModelLifeCycle, rollback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from finmlops.config import parse_portfolio
from finmlops.contracts import AuditAction, DeploymentManifest, Meta
from finmlops.registry.approval import approve, reject
from finmlops.registry.errors import InvalidInputError, RefusedError
from finmlops.registry.promotion import DeploymentHistory, record_deployment, resolve, rollback
from finmlops.registry.retirement import decommission, removal_problems, serving_groups
from finmlops.registry.versions import Lifecycle, describe_version, update_version


def _approved(world: Any, register: Any, pipeline: Any, **kw: Any) -> str:
    """Approved by Bob, and the approval event delivered to the handler (which records the
    approver SageMaker recorded, the record the gate takes the approver from)."""
    arn = register(**kw)
    bob = world.bob
    approve(
        bob.client("sagemaker"),
        bob.client("sts"),
        world.audit(),
        arn=arn,
        reason="validated by MRM",
        gates=world.gates,
    )
    assert world.deliver(arn, pipeline).result == "started"
    return arn


def _resolve(world: Any, arn: str, environment: str = "stage") -> DeploymentManifest:
    return resolve(
        world.sm,
        world.s3,
        world.audit(),
        world.history(),
        arn=arn,
        environment=environment,
        actor="pipeline",
        gates=world.gates,
    )


def _record(world: Any, manifest: DeploymentManifest, **kw: Any) -> Any:
    return record_deployment(
        world.sm,
        world.audit(),
        world.history(),
        manifest=manifest,
        actor="pipeline",
        serving=world.sm,
        endpoint_name=kw.pop("endpoint_name", _endpoint(world, manifest.environment)),
        **kw,
    )


def _endpoint(world: Any, environment: str) -> str:
    from finmlops.naming import names

    return str(names(world.config, environment).endpoint_name)


def _deploy(world: Any, arn: str, environment: str) -> Any:
    manifest = _resolve(world, arn, environment)
    world.serve(environment, arn)
    return _record(world, manifest)


def _rollback(world: Any, reason: str = "alarm", actor: str = "ops") -> Any:
    return rollback(
        world.sm, world.audit(), world.history(), environment="prod", actor=actor, reason=reason
    )


def _lifecycle(world: Any, arn: str) -> Lifecycle | None:
    """Stage and status of the version (the description carries a timestamp)."""
    shown = describe_version(world.sm, arn).lifecycle
    return Lifecycle(shown.stage, shown.status) if shown else None


def test_resolve_turns_the_approved_version_into_a_reproducible_manifest(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    version = describe_version(world.sm, arn)

    manifest = _resolve(world, arn, "stage")

    assert manifest.model_package_arn == arn
    assert (manifest.model_package_group, manifest.version) == (world.group, 1)
    assert manifest.image_uri == version.image_uri
    assert manifest.model_data_url == version.model_data_url
    assert manifest.data_fingerprint == "sha256:4f2c0d"
    assert manifest.environment == "stage"
    # The approver SageMaker recorded, as the handler observed it; never metadata.
    assert world.bob.name in manifest.approval.approved_by
    assert world.bob.arn in manifest.approval.approved_by
    assert manifest.approval.approved_at.startswith(str(version.last_modified_at.year))
    assert "validated by MRM" in manifest.approval.reason
    assert manifest.extra[Meta.GIT_COMMIT] == "0123abc"
    assert DeploymentManifest.from_json(manifest.to_json()) == manifest
    assert world.audit_actions()[-1] == AuditAction.PROMOTION_RESOLVED


def test_the_manifest_carries_the_auc_the_gate_read_from_the_recorded_evaluation(
    world, register, pipeline
):
    """The quality monitor judges production against the version's validated AUC: the value
    the promotion gate re-read from the evaluation the version registered (gate min-auc), with
    no argument through which the caller could name another."""
    arn = _approved(world, register, pipeline, auc=0.7734)

    manifest = _resolve(world, arn, "prod")

    assert manifest.validated_auc == pytest.approx(0.7734)
    assert DeploymentManifest.from_json(manifest.to_json()).validated_auc == manifest.validated_auc


def test_gate_refuses_a_version_that_is_not_approved(world, register, pipeline):
    arn = register()
    with pytest.raises(RefusedError) as refused:
        _resolve(world, arn)
    assert "status: PendingManualApproval, not Approved" in refused.value.problems
    assert world.audit_actions() == [AuditAction.PROMOTION_REFUSED]


def test_gate_refuses_a_version_approved_by_its_author_outside_the_cli(world, register, pipeline):
    arn = register()
    world.console_approve(arn, world.alice)
    assert world.deliver(arn, pipeline).result == "refused"  # the handler observed no approval
    with pytest.raises(RefusedError) as refused:
        _resolve(world, arn, "prod")
    assert refused.value.problems[0].startswith("approval: no approval-observed audit record")
    record = world.audit().records()[-1]
    assert (record.action, record.environment) == (AuditAction.PROMOTION_REFUSED, "prod")
    assert record.details["approval_record"] == "none"


def test_gate_refuses_an_approval_observed_before_a_rejection(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    bob = world.bob
    reject(bob.client("sagemaker"), bob.client("sts"), world.audit(), arn=arn, reason="bias")
    world.console_approve(arn, world.bob)  # the console lets a rejected version be approved
    assert world.deliver(arn, pipeline, event_id="evt-2").result == "duplicate"

    with pytest.raises(RefusedError) as refused:
        _resolve(world, arn, "stage")

    assert "followed by a rejection" in refused.value.problems[0]


def test_gate_refuses_an_approved_version_whose_evidence_was_removed(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    update_version(world.sm, arn, remove_metadata=(Meta.MODEL_ID, Meta.OWNER))
    with pytest.raises(RefusedError) as refused:
        _resolve(world, arn)
    assert refused.value.problems == (
        "inventory: metadata 'model-id' is missing",
        "inventory: metadata 'owner' is missing",
    )


def test_gate_refuses_a_version_whose_artifacts_changed_after_approval(world, register, pipeline):
    """UpdateModelPackage can replace the inference specification, and IAM cannot tell that part
    of a request apart (ADR 0008): the gate compares with the approval's audit record."""
    arn = _approved(world, register, pipeline)
    (approval,) = [r for r in world.audit().records() if r.action == AuditAction.APPROVE]
    swapped = dict(world.describe(arn)["InferenceSpecification"])
    swapped["Containers"] = [{**swapped["Containers"][0], "Image": "attacker/image:latest"}]
    world.sm.update_model_package(ModelPackageArn=arn, InferenceSpecification=swapped)

    with pytest.raises(RefusedError) as refused:
        _resolve(world, arn, "prod")

    (problem,) = refused.value.problems
    assert problem.startswith("InferenceSpecification.Image: attacker/image:latest is not ")
    assert approval.record_id in problem
    refusal = world.audit().records()[-1]
    assert refusal.action == AuditAction.PROMOTION_REFUSED
    assert refusal.details["artifacts_checked_against"] == approval.record_id


def test_a_console_approval_is_bound_by_the_handlers_record_before_the_pipeline_starts(
    world, register, pipeline
):
    """A console approval has no approve record: until the approval event reaches the handler,
    nothing says who approved or what, and the gate refuses. The handler writes its
    approval-observed record before it starts the pipeline, and the gate checks against it."""
    arn = register()
    world.console_approve(arn, world.approver())
    with pytest.raises(RefusedError) as refused:
        _resolve(world, arn, "stage")
    assert refused.value.problems[0].startswith("approval: no approval-observed audit record")

    assert world.deliver(arn, pipeline).result == "started"
    actions = world.audit_actions()
    observed = actions.index(AuditAction.APPROVAL_OBSERVED)
    assert observed < actions.index(AuditAction.PROMOTION_STARTED)
    (record,) = [r for r in world.audit().records() if r.action == AuditAction.APPROVAL_OBSERVED]

    manifest = _resolve(world, arn, "stage")
    resolved = world.audit().records()[-1]
    assert resolved.details["artifacts_checked_against"] == record.record_id
    assert resolved.details["approval_record"] == record.record_id
    assert manifest.extra["approval-record"] == record.record_id


def test_resolve_refuses_a_version_older_than_the_one_the_environment_runs(
    world, register, pipeline
):
    older, newer = _approved(world, register, pipeline), _approved(world, register, pipeline)
    _deploy(world, newer, "prod")

    with pytest.raises(RefusedError) as refused:
        _resolve(world, older, "prod")

    assert refused.value.problems == (
        "ordering: prod runs version 2, newer than version 1; go back with "
        "`finmlops promote rollback`",
    )
    assert world.audit().records()[-1].details["rules"] == "ordering"
    _resolve(world, older, "stage")  # stage runs nothing newer


def test_record_refuses_an_endpoint_that_serves_another_package_and_changes_nothing(
    world, register, pipeline
):
    """CloudFormation may report success while SageMaker's automatic rollback left the endpoint
    on its previous config: only what the endpoint serves counts."""
    first, second = _approved(world, register, pipeline), _approved(world, register, pipeline)
    _deploy(world, first, "prod")
    manifest = _resolve(world, second, "prod")  # deployed... but the endpoint still serves first
    history_before = world.history().entries("prod")

    with pytest.raises(RefusedError) as refused:
        _record(world, manifest)

    (problem,) = refused.value.problems
    assert problem == (
        f"serving: endpoint {_endpoint(world, 'prod')} serves {first}, not {second} of the manifest"
    )
    assert world.history().entries("prod") == history_before
    assert _lifecycle(world, second) is None
    record = world.audit().records()[-1]
    assert (record.action, record.actor, record.details["rules"]) == (
        AuditAction.DEPLOY_REFUSED, "pipeline", "serving",
    )  # fmt: skip


def test_record_refuses_when_the_endpoint_does_not_exist(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "stage")
    with pytest.raises(RefusedError) as refused:
        _record(world, manifest)
    assert refused.value.problems == (
        f"serving: endpoint {_endpoint(world, 'stage')} does not exist",
    )
    assert world.history().entries("stage") == []


def test_unknown_environment_is_named(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    with pytest.raises(InvalidInputError, match="environment: 'qa'"):
        _resolve(world, arn, "qa")


def test_deploying_to_stage_then_prod_moves_the_version_through_the_lifecycle(
    world, register, pipeline
):
    arn = _approved(world, register, pipeline)

    _deploy(world, arn, "stage")
    assert _lifecycle(world, arn) == Lifecycle("Staging", "Deployed")
    _deploy(world, arn, "prod")
    assert _lifecycle(world, arn) == Lifecycle("Production", "Deployed")

    history = world.history()
    assert [e.manifest.model_package_arn for e in history.entries("stage")] == [arn]
    assert history.current("prod").manifest.environment == "prod"
    deploys = [r for r in world.audit().records() if r.action == AuditAction.DEPLOY]
    assert [(r.environment, r.previous_state["deployed"]) for r in deploys] == [
        ("stage", "none"),
        ("prod", "none"),
    ]


def test_a_new_version_in_stage_replaces_the_old_one_there_but_not_in_prod(
    world, register, pipeline
):
    first = _approved(world, register, pipeline)
    _deploy(world, first, "stage")
    second = _approved(world, register, pipeline)
    _deploy(world, second, "stage")
    assert _lifecycle(world, first) == Lifecycle("Staging", "Replaced")

    _deploy(world, second, "prod")
    third = _approved(world, register, pipeline)
    _deploy(world, third, "stage")

    assert _lifecycle(world, second) == Lifecycle("Production", "Deployed")
    assert _lifecycle(world, third) == Lifecycle("Staging", "Deployed")
    assert world.history().current("stage").replaces == second


def test_recording_the_same_deployment_twice_adds_one_entry(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "stage")
    world.serve("stage", arn)
    for _ in range(2):
        _record(world, manifest)
    assert len(world.history().entries("stage")) == 1
    assert world.audit_actions().count(AuditAction.DEPLOY) == 1


def test_each_models_history_holds_only_its_own_deployments(world, register, pipeline):
    """Every model of a portfolio serves in the same environments: one model's deployment is
    not another's current version, and a history refuses a record of another group."""
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "stage")
    world.serve("stage", arn)
    _record(world, manifest)
    other = DeploymentHistory(world.s3, world.state_bucket, group="another-group")
    assert other.current("stage") is None
    assert world.history().current("stage").manifest.model_package_arn == arn
    with pytest.raises(ValueError, match="in the history of 'another-group'"):
        other.append(manifest, "deploy", "ci")
    assert len(world.history().entries("stage")) == 1


def test_a_caller_without_registry_rights_records_history_and_audit_only(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "stage")
    world.serve("stage", arn)
    before = _lifecycle(world, arn)
    entry = _record(world, manifest, lifecycle=False)
    assert world.history().current("stage") == entry
    assert _lifecycle(world, arn) == before
    deploy = [r for r in world.audit().records() if r.action == AuditAction.DEPLOY]
    assert deploy[-1].details["registry_lifecycle"] == "not updated by this caller"


def test_rollback_redeploys_the_previous_approved_version_with_an_audit_record(
    world, register, pipeline
):
    first, second = _approved(world, register, pipeline), _approved(world, register, pipeline)
    _deploy(world, first, "prod")
    _deploy(world, second, "prod")

    entry = rollback(
        world.sm,
        world.audit(),
        world.history(),
        environment="prod",
        actor=world.bob.arn,
        reason="AUC alarm on version 2",
    )

    assert entry.action == "rollback"
    assert entry.manifest.model_package_arn == first
    assert entry.manifest.extra["rolled-back-from"] == second
    assert world.history().current("prod") == entry
    assert _lifecycle(world, first) == Lifecycle("Production", "Deployed")
    assert _lifecycle(world, second) == Lifecycle("Production", "RolledBack")
    record = world.audit().records()[-1]
    assert record.action == AuditAction.ROLLBACK
    assert (record.actor, record.reason) == (world.bob.arn, "AUC alarm on version 2")
    assert record.model_package_arn == first
    assert record.previous_state == {"deployed": second, "deployed_version": "2"}
    assert entry.audit_record == record.record_id


def test_a_second_rollback_goes_further_back_never_forward(world, register, pipeline):
    first, second, third = (_approved(world, register, pipeline) for _ in range(3))
    for arn in (first, second, third):
        _deploy(world, arn, "prod")

    assert _rollback(world).manifest.model_package_arn == second
    assert _rollback(world).manifest.model_package_arn == first
    with pytest.raises(RefusedError) as refused:
        _rollback(world)

    assert refused.value.problems == (
        "rollback: no good version ran in prod before version 1 (one never rolled back there "
        "and still Approved)",
        "version 2 was rolled back in prod",
        "version 3 was rolled back in prod",
    )
    assert world.history().current("prod").manifest.model_package_arn == first


@pytest.mark.parametrize("deployments", [0, 1])
def test_rollback_without_an_earlier_version_is_refused_and_recorded(
    world, register, pipeline, deployments
):
    arn = _approved(world, register, pipeline)
    for _ in range(deployments):
        _deploy(world, arn, "prod")
    before = world.history().entries("prod")

    with pytest.raises(RefusedError) as refused:
        _rollback(world)

    assert refused.value.problems[0].startswith("rollback: no")
    assert "prod" in refused.value.problems[0]
    assert world.history().entries("prod") == before
    assert world.audit_actions()[-1] == AuditAction.ROLLBACK_REFUSED


def test_rollback_skips_versions_rejected_since_they_ran(world, register, pipeline):
    first, second = _approved(world, register, pipeline), _approved(world, register, pipeline)
    _deploy(world, first, "prod")
    _deploy(world, second, "prod")
    bob = world.bob
    reject(
        bob.client("sagemaker"),
        bob.client("sts"),
        world.audit(),
        arn=first,
        reason="data leak found",
    )

    with pytest.raises(RefusedError) as refused:
        _rollback(world)

    assert "version 1 ran before but is now Rejected" in refused.value.problems


def test_rollback_requires_a_reason(world):
    with pytest.raises(InvalidInputError, match="reason"):
        rollback(
            world.sm, world.audit(), world.history(), environment="prod", actor="ops", reason=" "
        )


# --------------------------------------------------------------------------- leaving the portfolio
# A model leaves the portfolio only after it stops serving: a portfolio without the block of a
# group that still serves is refused, naming the group, where and since when; a decommission
# record, with its reason, lets it go (finmlops.registry.retirement).


@pytest.fixture
def portfolio_data(config_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(config_path.read_text())
    block = data["models"]["credit-risk"]
    other = copy.deepcopy(block)
    other["package_group"] = "provisions-xgb"
    data["models"]["provisions"] = other
    return data


def _without(data: dict[str, Any], name: str) -> Any:
    smaller = copy.deepcopy(data)
    del smaller["models"][name]
    return parse_portfolio(smaller)


def test_removing_a_serving_model_is_refused_naming_the_group_and_where_it_serves(
    world, register, pipeline, portfolio_data
):
    arn = _approved(world, register, pipeline)
    _deploy(world, arn, "stage")
    _deploy(world, arn, "prod")
    serving = serving_groups(world.s3, world.state_bucket)
    assert [(s.group, s.environment) for s in serving] == [
        (world.group, "stage"),
        (world.group, "prod"),
    ]
    assert removal_problems(parse_portfolio(portfolio_data), serving) == []
    # The other model never served: its block may go.
    assert removal_problems(_without(portfolio_data, "provisions"), serving) == []
    problems = removal_problems(_without(portfolio_data, "credit-risk"), serving)
    assert [field for field, _ in problems] == ["models", "models"]
    assert problems[0][1].startswith(f"model group {world.group!r} (no block in this file) serves")
    assert "finmlops promote decommission" in problems[0][1]


def test_a_decommissioned_model_may_leave_and_no_longer_serves(
    world, register, pipeline, portfolio_data
):
    arn = _approved(world, register, pipeline)
    _deploy(world, arn, "stage")
    history = world.history()
    with pytest.raises(ValueError, match="needs a reason"):
        decommission(history, world.audit(), "stage", "ops", " ")
    with pytest.raises(ValueError, match="does not serve in prod"):
        decommission(history, world.audit(), "prod", "ops", "retired")
    before = world.audit_actions()
    record = decommission(
        history, world.audit(), "stage", "ops", "replaced by the behavioural score"
    )
    assert world.audit_actions() == [*before, "decommission"]
    assert record.action == "decommission" and record.replaces == arn
    assert history.current("stage") is None
    assert serving_groups(world.s3, world.state_bucket) == []
    assert removal_problems(_without(portfolio_data, "credit-risk"), []) == []


def test_another_groups_deployment_does_not_keep_a_model_serving(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    _deploy(world, arn, "stage")
    other = DeploymentHistory(world.s3, world.state_bucket, group="provisions-xgb")
    assert other.current("stage") is None
    assert {s.group for s in serving_groups(world.s3, world.state_bucket)} == {world.group}


# ------------------------------------------------------------------ a batch model's deployment


def _batch_pipeline(world: Any, name: str, archive: str) -> str:
    """A batch pipeline as the Batch stack creates it: one processing step whose input named
    `model` is the archive it scores with (cdk/batch.py)."""
    import json

    step = {
        "Name": "BatchScore",
        "Type": "Processing",
        "Arguments": {
            "ProcessingInputs": [
                {"InputName": "model", "S3Input": {"S3Uri": archive}},
                {"InputName": "input", "S3Input": {"S3Uri": "s3://capture/batch/input/"}},
            ]
        },
    }
    world.sm.create_pipeline(
        PipelineName=name,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": [step]}),
        RoleArn="arn:aws:iam::123456789012:role/batch",
    )
    return name


def test_record_of_a_batch_model_checks_that_its_pipeline_scores_with_the_manifests_archive(
    world, register, pipeline
):
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "prod")
    name = _batch_pipeline(world, "credit-risk-prod-batch", manifest.model_data_url)
    entry = _record(world, manifest, endpoint_name="", batch_pipeline=name)
    assert entry.manifest.model_package_arn == arn
    assert [e.manifest.model_package_arn for e in world.history().entries("prod")] == [arn]
    assert world.audit().records()[-1].action == AuditAction.DEPLOY


def test_record_refuses_a_batch_pipeline_on_another_archive_and_changes_nothing(
    world, register, pipeline
):
    """The definition SageMaker holds is what the next scheduled run scores with: a pipeline
    still on the previous archive is refused, naming the pipeline and both archives."""
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "prod")
    old = "s3://artifacts/model-build/older/package/model.tar.gz"
    name = _batch_pipeline(world, "credit-risk-prod-batch", old)
    audit_before = len(world.audit().records())

    with pytest.raises(RefusedError) as refused:
        _record(world, manifest, endpoint_name="", batch_pipeline=name)

    (problem,) = refused.value.problems
    assert problem == (
        f"serving: batch pipeline {name} scores with {old}, not {manifest.model_data_url} of "
        "the manifest"
    )
    assert world.history().entries("prod") == []
    assert _lifecycle(world, arn) is None
    records = world.audit().records()
    assert len(records) == audit_before + 1
    assert (records[-1].action, records[-1].details["batch_pipeline"]) == (
        AuditAction.DEPLOY_REFUSED, name,
    )  # fmt: skip


def test_record_refuses_a_batch_pipeline_that_does_not_exist(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "stage")
    with pytest.raises(RefusedError) as refused:
        _record(world, manifest, endpoint_name="", batch_pipeline="nobodys-batch")
    assert refused.value.problems == ("serving: batch pipeline nobodys-batch does not exist",)
    assert world.history().entries("stage") == []


def test_record_names_the_endpoint_or_the_batch_pipeline_never_both(world, register, pipeline):
    arn = _approved(world, register, pipeline)
    manifest = _resolve(world, arn, "stage")
    before = len(world.audit().records())
    with pytest.raises(ValueError, match="name the endpoint or the batch pipeline"):
        _record(world, manifest, batch_pipeline="credit-risk-stage-batch")
    assert len(world.audit().records()) == before
