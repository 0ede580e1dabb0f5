"""Insiders against segregation of duties, the gates and promotion (issue 12, items 1, 4, 5).

Each test names the insider, the one legitimate role they hold, what they try, and what stops
it. Before ADR 0014 each attempt succeeded: authorship came from metadata or a pipeline
parameter, the console approver from metadata, the gate thresholds from the run, a second
rollback moved prod forward, a rejected version served unflagged, and a late event for an older
version was promoted after a newer one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from finmlops import fairness
from finmlops.buildrun import record_build_started
from finmlops.contracts import Approval, AuditAction, Meta, Promotion
from finmlops.emulator.aws import identity as emulated_sts
from finmlops.registry.approval import approve, reject
from finmlops.registry.errors import RefusedError
from finmlops.registry.identity import Identity
from finmlops.registry.promotion import record_deployment, resolve, rollback


def _approve(world: Any, person: Any, arn: str) -> Any:
    return approve(
        person.client("sagemaker"), person.client("sts"), world.audit(),
        arn=arn, reason="looks good", gates=world.gates,
    )  # fmt: skip


def _resolve(world: Any, arn: str, environment: str = "prod") -> Any:
    return resolve(
        world.sm, world.s3, world.audit(), world.history(),
        arn=arn, environment=environment, actor="promotion-build", gates=world.gates,
    )  # fmt: skip


def _deploy(world: Any, arn: str, environment: str = "prod") -> Any:
    manifest = _resolve(world, arn, environment)
    endpoint = world.serve(environment, arn)
    return record_deployment(
        world.sm, world.audit(), world.history(), manifest=manifest, actor="promotion-build",
        serving=world.sm, endpoint_name=endpoint,
    )  # fmt: skip


def _rollback(world: Any) -> Any:
    return rollback(
        world.sm, world.audit(), world.history(),
        environment="prod", actor="operator", reason="alarm",
    )  # fmt: skip


def _approved_and_observed(world: Any, pipeline: Any, arn: str, event_id: str = "evt") -> None:
    _approve(world, world.approver(), arn)
    assert world.deliver(arn, pipeline, event_id=event_id).result == "started"


# --------------------------------------------------------------------------- who is the author


def test_an_author_who_names_someone_else_in_created_by_is_still_the_author(world, register):
    """Alice (data scientist) registers a version whose metadata says `created-by: carol`, then
    approves it through the approver role under her own name. SageMaker recorded her as the
    creator; metadata is not a record."""
    arn = register(metadata={"created-by": "arn:aws:iam::123456789012:user/carol"})

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(world.alice), arn)

    assert refused.value.problems[0].startswith("segregation of duties:")
    assert "DescribeModelPackage.CreatedBy" in refused.value.problems[0]
    assert world.describe(arn)["ModelApprovalStatus"] == Approval.PENDING
    assert [r.action for r in world.audit().records()] == [AuditAction.APPROVAL_REFUSED]


def test_a_pipeline_parameter_cannot_name_the_author(world, build, synthesized_definition):
    """The ModelAuthor parameter is gone: the person is the execution's starter, as AWS recorded
    it (DescribePipelineExecution.CreatedBy). Alice starts the build; she cannot approve it."""
    parameters = {p["Name"] for p in json.loads(synthesized_definition)["Parameters"]}
    assert "ModelAuthor" not in parameters
    built = build(starter=world.alice)

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(world.alice), built.package_arn)

    assert "DescribePipelineExecution.CreatedBy" in refused.value.problems[0]


def test_a_version_claiming_another_persons_pipeline_execution_is_not_believed(
    world, build, register
):
    """Alice creates a version directly and writes Bob's build execution into GeneratedBy, so
    that its starter would pass for the author. The execution's steps, as SageMaker recorded
    them, registered another version: the claim is refused."""
    bobs = build(starter=world.bob)
    forged = register(extra={"MetadataProperties": {"GeneratedBy": bobs.execution_arn}})
    carol = world.person("carol-validator")

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(carol), forged)

    assert any("ran no RegisterModel step that created" in p for p in refused.value.problems)


def test_a_build_started_by_automation_is_authored_by_the_people_git_recorded(world, build):
    """The platform pipeline starts builds through dev's build-starter role: AWS records the role,
    nobody. Without the fixed start step's build-started record the author is unknown; with it,
    the commit's author and its merger are authors, and the merger (Bob) cannot approve."""
    robot = world.alice.assume(world.starter_role, "codebuild-start-build")
    built = build(starter=robot)
    carol = world.person("carol-validator")
    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(carol), built.package_arn)
    assert refused.value.problems[0].startswith("authorship:")
    assert "names no person" in refused.value.problems[0]

    people = [
        Identity("git", "merged commit author", name="Alice", email="alice-author@bank.com"),
        Identity("git", "commit author", name="Bob", email="bob-validator@bank.com"),
    ]
    record_build_started(
        world.audit(), execution_arn=built.execution_arn, git_commit="0123abc",
        group=world.group, starter_arn=robot.arn, people=people,
    )  # fmt: skip
    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(world.bob), built.package_arn)
    assert refused.value.problems[0].startswith("segregation of duties: bob-validator")
    assert "Git commit author" in refused.value.problems[0]

    _approve(world, world.approver(carol), built.package_arn)  # independent of both: approved
    assert world.describe(built.package_arn)["ModelApprovalStatus"] == Approval.APPROVED


# --------------------------------------------------------------------------- who approved


def test_the_author_in_the_approver_role_under_another_session_name_never_reaches_production(
    world, register, pipeline
):
    """Alice assumes the approver role as session `bob-validator`. On AWS the role's trust policy
    requires session name and source identity to equal her user name, and STS refuses; that is
    the first test below (the trust rule plugged into the emulated STS). Without it, the CLI sees
    only the session name and lets the status change through, but SageMaker records her source
    identity, which STS keeps for the session: the handler and the promotion gate refuse."""
    arn = register()

    def trust_policy(_caller: str, _role: str, context: Any) -> bool:
        user = context.get("aws:username", "")
        return context.get("sts:RoleSessionName") == user == context.get("sts:SourceIdentity")

    emulated_sts.set_trust_evaluator(trust_policy)
    try:
        with pytest.raises(ClientError, match="AccessDenied"):
            world.alice.assume(world.approver_role, world.bob.name, world.alice.name)
    finally:
        emulated_sts.set_trust_evaluator(None)

    disguised = world.alice.assume(world.approver_role, world.bob.name, world.alice.name)
    _approve(world, disguised, arn)  # what the CLI cannot see: the source identity
    recorded = world.describe(arn)["LastModifiedBy"]["IamIdentity"]
    assert (recorded["SourceIdentity"], recorded["Arn"].rsplit("/", 1)[-1]) == (
        world.alice.name, world.bob.name,
    )  # fmt: skip

    outcome = world.deliver(arn, pipeline)
    assert outcome.result == "refused"
    assert outcome.reason.startswith(f"segregation of duties: {world.alice.name} (source identity")
    assert pipeline.executions() == []
    with pytest.raises(RefusedError):
        _resolve(world, arn)


def test_a_pre_seeded_approved_by_names_no_approver(world, register, pipeline):
    """Alice writes `approved-by: bob` into her version's metadata and flips its status herself
    (the console path, through the approver role under her own name). The approver is who
    SageMaker recorded for the change: Alice."""
    arn = register(metadata={Meta.APPROVED_BY: world.bob.arn, Meta.APPROVED_AT: "2026-11-28"})
    world.console_approve(arn, world.approver(world.alice))

    outcome = world.deliver(arn, pipeline)

    assert outcome.result == "refused"
    assert outcome.reason.startswith(f"segregation of duties: {world.alice.name}")
    with pytest.raises(RefusedError) as refused:
        _resolve(world, arn)
    assert refused.value.problems[0].startswith("approval: no approval-observed audit record")


def test_a_version_born_approved_is_approved_by_nobody(world, register, pipeline):
    """The build (or a data scientist) creates a version with ModelApprovalStatus=Approved and
    a pre-seeded approved-by. The IAM deny is another control; here: no one's approval of it was
    ever observed, so neither the handler nor the gate lets it through."""
    arn = register(metadata={Meta.APPROVED_BY: world.bob.arn})
    born = register(
        metadata={Meta.APPROVED_BY: world.bob.arn},
        extra={"ModelApprovalStatus": Approval.APPROVED},
    )
    assert arn != born

    outcome = world.deliver(born, pipeline)

    assert outcome.result == "refused"
    assert "SageMaker records no one for the status change" in outcome.reason
    assert pipeline.executions() == []
    with pytest.raises(RefusedError) as refused:
        _resolve(world, born)
    assert refused.value.problems[0].startswith("approval: no approval-observed audit record")
    refusals = [r for r in world.audit().records() if r.action == AuditAction.PROMOTION_REFUSED]
    assert len(refusals) == 2  # one record per refusal


# --------------------------------------------------------------------------- the gates


def test_a_build_with_a_lowered_gate_in_its_definition_is_refused(
    world, build, pipeline, synthesized_definition
):
    """Alice edits the pipeline definition (repository code) so that Gate-min-auc compares with
    0.5, and her model's AUC of 0.6 passes the build. What AWS recorded of the execution (its
    definition) shows the weaker gate, and the recorded AUC is below the platform's."""
    weaker = synthesized_definition.replace('"RightValue":0.65,', '"RightValue":0.5,')
    assert weaker != synthesized_definition
    built = build(starter=world.alice, definition=weaker, auc=0.6)

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(), built.package_arn)

    assert set(refused.value.problems) == {
        "gate min-auc: the version's area under the ROC curve on the test split is 0.6; the "
        "platform requires >= 0.65",
        "gate min-auc: the version was built with the weaker gate >= 0.5; the platform requires "
        ">= 0.65",
    }
    assert world.describe(built.package_arn)["ModelApprovalStatus"] == Approval.PENDING


def test_a_run_started_with_a_lower_gate_parameter_is_refused(world, build, synthesized_definition):
    """A definition from before ADR 0014 made MinKs a run-time parameter; a run started with
    MinKs=0.05 registered a version whose KS (0.21) passes even the platform's 0.2. The build
    still ran under a gate the platform did not set: refused, naming the gate and both values."""
    old = json.loads(synthesized_definition)
    old["Parameters"].append({"Name": "MinKs", "Type": "Float", "DefaultValue": 0.2})

    def parameterize(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if step["Name"] == "Gate-min-ks":
                step["Arguments"]["Conditions"][0]["RightValue"] = {"Get": "Parameters.MinKs"}
            for branch in ("IfSteps", "ElseSteps"):
                parameterize(step.get("Arguments", {}).get(branch, []))

    parameterize(old["Steps"])
    built = build(
        starter=world.alice, definition=json.dumps(old), parameters={"MinKs": "0.05"}, ks=0.21
    )

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(), built.package_arn)

    assert refused.value.problems == (
        "gate min-ks: the version was built with the weaker gate >= 0.05; the platform requires "
        ">= 0.2",
    )


def _edit_gate(definition: str, gate: str, edit: Any) -> str:
    """The definition with `edit(condition)` applied to the named gate's condition."""
    document = json.loads(definition)

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if step["Name"] == f"Gate-{gate}":
                edit(step["Arguments"]["Conditions"][0])
            for branch in ("IfSteps", "ElseSteps"):
                walk(step.get("Arguments", {}).get(branch, []))

    walk(document["Steps"])
    return json.dumps(document)


def test_a_build_with_a_weaker_fairness_gate_in_its_definition_is_refused(
    world, build, synthesized_definition
):
    """Alice lowers the four-fifths gate to 0.5 in the definition; her model's worst protected
    group has a disparate impact of 0.6, which her build lets through. Approval refuses it on
    both counts, naming the group."""
    weaker = _edit_gate(
        synthesized_definition, "min-disparate-impact", lambda c: c.update(RightValue=0.5)
    )
    built = build(starter=world.alice, definition=weaker, disparate_impact=0.6)

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(), built.package_arn)

    assert set(refused.value.problems) == {
        "gate min-disparate-impact: the version's disparate impact ratio of the worst protected "
        'group (four-fifths rule) is 0.6 (protected group "emp_length"); the platform requires '
        ">= 0.8",
        "gate min-disparate-impact: the version was built with the weaker gate >= 0.5; the "
        "platform requires >= 0.8",
    }
    assert world.describe(built.package_arn)["ModelApprovalStatus"] == Approval.PENDING


def test_a_build_that_measured_a_narrower_protected_group_is_refused(
    world, build, synthesized_definition
):
    """Alice ships her own fairness spec: only `emp_unk` counts as protected, a group her model
    treats well, and she points the fairness gates at what that spec measured. Every number
    passes the platform's thresholds, but none was measured on the platform's protected groups:
    the recorded evaluation has no value where the platform's gates look, and the build's gates
    compared other paths. Refused, and nothing changes."""
    model = world.config.model
    (attribute,) = model.fairness.protected_attributes
    narrower = model.model_copy(
        update={
            "fairness": model.fairness.model_copy(
                update={
                    "protected_attributes": (attribute.model_copy(update={"values": ("emp_unk",)}),)
                }
            )
        }
    )
    theirs = {m: fairness.gate_path(narrower, m) for m in ("disparate_impact", "parity_difference")}
    ours = {m: fairness.gate_path(model, m) for m in ("disparate_impact", "parity_difference")}
    edited = synthesized_definition
    for gate, metric in (("min-disparate-impact", "disparate_impact"),
                         ("max-fairness-disparity", "parity_difference")):  # fmt: skip
        edited = _edit_gate(
            edited, gate, lambda c, m=metric: c["LeftValue"]["Std:JsonGet"].update(Path=theirs[m])
        )
    built = build(starter=world.alice, definition=edited, measured=narrower)

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(), built.package_arn)

    problems = refused.value.problems
    assert len(problems) == 4
    for gate, metric in (("min-disparate-impact", "disparate_impact"),
                         ("max-fairness-disparity", "parity_difference")):  # fmt: skip
        (missing,) = [p for p in problems if p.startswith(f"gate {gate}: s3://")]
        assert missing.endswith(
            f"has no number at {ours[metric]}: the version's evaluation measured "
            f"{theirs[metric].split('.')[1]} fairness spec, not the platform's protected groups "
            "and cut-off"
        )
        assert (
            f"gate {gate}: the build did not apply the platform's gate (Gate-{gate} does not "
            f"compare {ours[metric]}" in " ".join(problems)
        )
    assert world.describe(built.package_arn)["ModelApprovalStatus"] == Approval.PENDING


def test_an_approval_records_every_protected_groups_result(world, register):
    """The approval record carries each protected group's recorded figures, not only the
    worst: what the examiner reads beside the gates."""
    arn = register(by=world.alice, disparate_impact=0.91, parity=0.03)
    _approve(world, world.approver(), arn)
    (record,) = [r for r in world.audit().records() if r.action == AuditAction.APPROVE]
    assert record.details["fairness_groups"] == (
        '"emp_length": disparate impact 0.91, parity difference 0.03 (300 vs 1700 rows)'
    )


def test_a_build_whose_definition_skips_a_gate_is_refused(world, build, synthesized_definition):
    """Alice renames the data-quality gate's step so that nothing guards registration with it."""
    skipped = synthesized_definition.replace('"Gate-min-rows"', '"Check-min-rows"')
    built = build(starter=world.alice, definition=skipped)

    with pytest.raises(RefusedError) as refused:
        _approve(world, world.approver(), built.package_arn)

    assert refused.value.problems == (
        "gate min-rows: the build did not apply the platform's gate (no condition step "
        "Gate-min-rows guards RegisterModel in the build)",
    )


# --------------------------------------------------------------------------- promotion


def test_a_second_rollback_never_moves_prod_forward_onto_the_version_just_rolled_back(
    world, register, pipeline
):
    """An operator rolls prod back from v2 to v1, then runs the same command again. It used to
    redeploy v2; there is no good version before v1, so it refuses and changes nothing."""
    arns = []
    for number in range(2):
        arns.append(arn := register())  # built while its predecessor serves (ADR 0029)
        _approved_and_observed(world, pipeline, arn, f"evt-{number}")
        _deploy(world, arn)
    assert _rollback(world).manifest.model_package_arn == arns[0]
    history = world.history().entries("prod")

    with pytest.raises(RefusedError) as refused:
        _rollback(world)

    assert refused.value.problems[-1] == "version 2 was rolled back in prod"
    assert world.history().entries("prod") == history
    assert world.audit().records()[-1].action == AuditAction.ROLLBACK_REFUSED


def test_a_rejected_version_that_keeps_serving_is_flagged_and_rolled_back_in_one_command(
    world, register, pipeline
):
    """A validator rejects the version prod serves. The handler records it, still serving, and
    raises the metric the alarm watches; `promote rollback` takes prod back to the last good one."""
    arns = []
    for number in range(2):
        arns.append(arn := register())  # built while its predecessor serves (ADR 0029)
        _approved_and_observed(world, pipeline, arn, f"evt-{number}")
        _deploy(world, arn)
    first, second = arns
    carol = world.person("carol-validator")
    reject(carol.client("sagemaker"), carol.client("sts"), world.audit(), arn=second,
           reason="disparate impact on the holdout")  # fmt: skip

    outcome = world.deliver(second, pipeline, event_id="evt-rejected")

    assert outcome.reason == "rejection recorded; still serving in prod"
    metrics = world.client("cloudwatch").list_metrics(Namespace=Promotion.METRIC_NAMESPACE)
    assert [m["MetricName"] for m in metrics["Metrics"]] == [Promotion.METRIC_REJECTED_SERVING]
    assert _rollback(world).manifest.model_package_arn == first


def test_a_late_event_for_an_older_version_never_replaces_a_newer_approved_one(
    world, register, pipeline
):
    """Two approvals, v1 then v2; EventBridge delivers v2's event first, v1's late. The late
    event starts nothing, and `promote resolve` of v1 is refused once prod runs v2."""
    first, second = register(), register()
    _approve(world, world.approver(), first)
    _approve(world, world.approver(), second)

    assert world.deliver(second, pipeline, event_id="evt-2").result == "started"
    late = world.deliver(first, pipeline, event_id="evt-1")

    assert late.result == "refused" and late.reason.startswith("ordering:")
    assert pipeline.executions() == [{Promotion.ARN_VARIABLE: second}]
    _deploy(world, second)
    with pytest.raises(RefusedError) as refused:
        _resolve(world, first)
    assert refused.value.problems[-1].startswith("ordering: prod runs version 2")


def test_prod_is_not_recorded_as_deployed_when_the_endpoint_serves_another_package(
    world, register, pipeline
):
    """CloudFormation reports the deploy done, but SageMaker's automatic rollback returned the
    endpoint to v1's config: `promote record` of v2 is refused, and history still says v1."""
    first, second = register(), register()
    for number, arn in enumerate((first, second)):
        _approved_and_observed(world, pipeline, arn, f"evt-{number}")
    _deploy(world, first)
    manifest = _resolve(world, second)

    with pytest.raises(RefusedError) as refused:
        record_deployment(
            world.sm, world.audit(), world.history(), manifest=manifest, actor="promotion-build",
            serving=world.sm, endpoint_name=world.serve("prod", first),
        )  # fmt: skip

    assert refused.value.problems[0].startswith("serving: endpoint")
    assert world.history().current("prod").manifest.model_package_arn == first
    assert world.audit().records()[-1].action == AuditAction.DEPLOY_REFUSED
