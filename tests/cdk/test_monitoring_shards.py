"""The monitoring pipeline spreads a drift run over `instances.monitoring_count` instances
(docs/decisions/0027), asserted on the synthesized templates of every serving environment.

The shipped config runs stage on one instance and prod on two, so both shapes are checked. What
SageMaker requires of the definition is checked here as a validator would: every step reference
names a step that runs before it (a data dependency orders steps), a condition's branches do not
read each other, property files are declared by the step that writes them, and the only
functions used are `Get`, `Std:Join` and `Std:JsonGet`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from synth_fixtures import pipeline_steps

from finmlops.emulator.aws.executor import step_references
from finmlops.iam import Platform
from finmlops.naming import Role, names

SERVING = ("stage", "prod")


def _shards(config: Any, env: str) -> int:
    count: int = config.environments.by_name(env).instances.monitoring_count
    return count


def test_the_shipped_config_checks_both_shapes_one_instance_and_several() -> None:
    from finmlops.config import load_config

    config = load_config("config/platform.yaml", "credit-risk")
    assert _shards(config, "stage") == 1
    assert _shards(config, "prod") >= 2  # the demo's monitoring runs prod's pipeline


@pytest.mark.parametrize("env", SERVING)
def test_the_drift_run_uses_as_many_instances_as_the_config_says(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    steps = pipeline_steps(monitoring_definition(platform, env))
    count = _shards(config, env)

    def instances(name: str) -> int:
        cluster = steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
        return int(cluster["InstanceCount"])

    if count == 1:
        assert [s["Name"] for s in monitoring_definition(platform, env)["Steps"]] == [
            "DataDrift",
            "ModelQuality",
            "ExplanationDrift",
        ]
        assert instances("DataDrift") == 1
        return
    assert instances("DriftShards") == count
    # Listing, merging, the empty window and model quality stay on one instance each.
    for name in ("CaptureManifest", "DataDrift", "DataDriftEmptyWindow", "ModelQuality"):
        assert instances(name) == 1, name


@pytest.mark.parametrize("env", ["prod"])  # the serving stage the shipped config shards
def test_shards_read_the_manifest_sharded_by_key_and_the_merge_reads_their_partials(
    platform: Any, config: Any, env: str, monitoring_definition: Any
) -> None:
    assert _shards(config, env) > 1
    definition = monitoring_definition(platform, env)
    assert [s["Name"] for s in definition["Steps"]] == [
        "CaptureManifest",
        "WindowHasCaptures",
        "ModelQuality",
        "ExplanationDrift",
    ]
    steps = pipeline_steps(definition)
    manifest = steps["CaptureManifest"]
    assert manifest["Arguments"]["AppSpecification"]["ContainerArguments"] == ["manifest"]
    assert manifest["PropertyFiles"] == [
        {"PropertyFileName": "CaptureWindow", "OutputName": "results", "FilePath": "window.json"}
    ]
    manifest_env = manifest["Arguments"]["Environment"]
    assert manifest_env["dataset_source"].endswith(f"/capture/credit-risk-{env}/AllTraffic/")
    assert manifest_env["end_time"] == {"Get": "Execution.StartDateTime"}

    condition = steps["WindowHasCaptures"]["Arguments"]
    (check,) = condition["Conditions"]
    assert check["Type"] == "GreaterThan" and check["RightValue"] == 0
    assert check["LeftValue"] == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.CaptureManifest.PropertyFiles.CaptureWindow"},
            "Path": "objects",
        }
    }
    assert [s["Name"] for s in condition["IfSteps"]] == ["DriftShards", "DataDrift"]
    assert [s["Name"] for s in condition["ElseSteps"]] == ["DataDriftEmptyWindow"]

    shards = steps["DriftShards"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in shards["ProcessingInputs"]}
    captures = inputs["captures"]
    assert captures["S3DataType"] == "ManifestFile"
    assert captures["S3DataDistributionType"] == "ShardedByS3Key"
    assert captures["S3InputMode"] == "File"
    assert captures["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [
                {
                    "Get": "Steps.CaptureManifest.ProcessingOutputConfig.Outputs['results']"
                    ".S3Output.S3Uri"
                },
                "captures.manifest",
            ],
        }
    }
    assert inputs["baseline"]["S3DataDistributionType"] == "FullyReplicated"
    assert shards["AppSpecification"]["ContainerArguments"] == ["partial"]
    assert shards["Environment"]["dataset_source"] == captures["LocalPath"]

    merge = steps["DataDrift"]["Arguments"]
    arguments = merge["AppSpecification"]["ContainerArguments"]
    assert arguments[:3] == ["merge", "--expect-shards", str(_shards(config, env))]
    assert "--put-metric-data" in arguments  # the merge publishes, as the single step does
    merge_inputs = {i["InputName"]: i["S3Input"] for i in merge["ProcessingInputs"]}
    assert merge_inputs["partials"]["S3Uri"] == {
        "Get": "Steps.DriftShards.ProcessingOutputConfig.Outputs['results'].S3Output.S3Uri"
    }
    assert merge_inputs["window"]["S3Uri"] == captures["S3Uri"]["Std:Join"]["Values"][0]
    assert merge["Environment"]["partials_source"] == merge_inputs["partials"]["LocalPath"]
    assert merge["Environment"]["window_source"] == merge_inputs["window"]["LocalPath"]

    # The empty window is judged by the single step, writing where DataDrift writes.
    empty = steps["DataDriftEmptyWindow"]["Arguments"]
    assert empty["AppSpecification"]["ContainerArguments"][0] == "drift"

    def output(arguments: dict[str, Any]) -> Any:
        return arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]

    assert output(empty) == output(merge)
    assert output(merge)["Std:Join"]["Values"][0].endswith(f"/datadrift/credit-risk-{env}")


def _functions(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found |= {k for k in node if k == "Get" or ":" in k}
        for value in node.values():
            found |= _functions(value)
    elif isinstance(node, list):
        for item in node:
            found |= _functions(item)
    return found


@pytest.mark.parametrize("env", SERVING)
def test_the_monitoring_definition_is_one_sagemaker_accepts(
    platform: Any, env: str, monitoring_definition: Any
) -> None:
    """Step names are unique; every step a step reads ran before it (an earlier top-level step,
    or an earlier step of its own branch), never a step of the other branch; property files
    are read from the step that declares them; only SageMaker's expression functions are used
    (Pipelines definition schema: Get, Std:Join, Std:JsonGet)."""
    definition = monitoring_definition(platform, env)
    assert _functions(definition["Steps"]) <= {"Get", "Std:Join", "Std:JsonGet"}
    names_seen: list[str] = []

    def check(steps: list[dict[str, Any]], before: set[str]) -> None:
        earlier = set(before)
        for step in steps:
            assert step["Name"] not in names_seen, step["Name"]
            names_seen.append(step["Name"])
            refs = step_references(step.get("Arguments", {})) | set(step.get("DependsOn", []))
            assert refs <= earlier, (step["Name"], refs - earlier)
            if step["Type"] == "Condition":
                args = step["Arguments"]
                assert step_references(args["Conditions"]) <= earlier
                check(args.get("IfSteps", []), earlier | {step["Name"]})
                check(args.get("ElseSteps", []), earlier | {step["Name"]})
            earlier.add(step["Name"])

    check(definition["Steps"], set())
    declared = {
        (s["Name"], p["PropertyFileName"])
        for s in pipeline_steps(definition).values()
        for p in s.get("PropertyFiles", [])
    }
    read = set(re.findall(r"Steps\.([^.\"]+)\.PropertyFiles\.([^\"]+)\"", json.dumps(definition)))
    assert read <= declared


@pytest.fixture(scope="module")
def iam(platform: Any) -> Platform:
    return Platform.load(platform.outdir)


@pytest.mark.parametrize("env", SERVING)
def test_the_monitoring_role_reads_captures_writes_manifests_and_partials_and_nothing_more(
    iam: Platform, config: Any, env: str
) -> None:
    """The sharded run needs no new permission: the manifest and the partials are results in
    the monitoring bucket, the shards' captures are read as before. The role still cannot
    write, or delete, captured data (personal data under the capture bucket's lifecycle)."""
    n = names(config, env)
    role = iam.role(n.role(Role.MONITORING), env).session_arn("pipelines-job")
    tls = {"aws:SecureTransport": True}
    capture = f"arn:aws:s3:::{n.bucket('capture')}/capture/{n.endpoint_name}/AllTraffic"
    key = f"{capture}/2026/12/07/03/part.jsonl"
    output = f"arn:aws:s3:::{n.bucket('monitoring')}"
    assert iam.decide(role, "s3:GetObject", key, tls).allowed
    for written in (
        f"{output}/capturemanifest/{n.endpoint_name}/exec/captures.manifest",
        f"{output}/driftshards/{n.endpoint_name}/exec/partials/algo-2/partial.json",
    ):
        assert iam.decide(role, "s3:PutObject", written, tls).allowed, written
        assert iam.decide(role, "s3:GetObject", written, tls).allowed, written
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert not iam.decide(role, action, key, tls).allowed, action
