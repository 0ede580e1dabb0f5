"""Processing jobs of several instances in the offline executor, as SageMaker runs them.

`InstanceCount` N runs N processes, each with its own /opt/ml tree and resourceconfig.json
(algo-1..algo-N); a `ShardedByS3Key` input gives each instance a disjoint share of the objects,
together all of them; a `FullyReplicated` input gives every instance all of them; a
`ManifestFile` input downloads the objects its manifest lists (SageMaker API Reference,
ProcessingS3Input and S3DataSource). moto's S3 holds the objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from finmlops.emulator.aws.executor import PipelineExecutor, instance_objects

BUCKET = "jobs"
DATA = "data/window/"
# Records what this instance was given: its host (resourceconfig.json) and its input files.
SCRIPT = """
import json, os, sys
from pathlib import Path
root = Path(os.environ["FINMLOPS_CONTAINER_ROOT"])
config = json.loads((root / "opt/ml/config/resourceconfig.json").read_text())
data = root / "opt/ml/processing/input/data"
seen = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()) if data.exists() else None
out = root / "opt/ml/processing/output"
name = "seen.json" if sys.argv[1:] == ["collide"] else config["current_host"] + "/seen.json"
(out / name).parent.mkdir(parents=True, exist_ok=True)
(out / name).write_text(json.dumps({"config": config, "seen": seen}))
"""


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="code/record.py", Body=SCRIPT.encode())
        yield client


def _objects(s3: Any, count: int) -> list[str]:
    names = [f"2026/11/28/12/part-{i:02d}.jsonl" for i in range(count)]
    for name in names:
        s3.put_object(Bucket=BUCKET, Key=DATA + name, Body=b"{}\n")
    return names


def _manifest(s3: Any, document: Any) -> str:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    s3.put_object(Bucket=BUCKET, Key="manifests/window.manifest", Body=body)
    return f"s3://{BUCKET}/manifests/window.manifest"


def _definition(count: int, data: dict[str, Any], argument: str = "record") -> dict[str, Any]:
    step = {
        "Name": "Shards",
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/record.py"],
                "ContainerArguments": [argument],
            },
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.xlarge"}
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": f"s3://{BUCKET}/code/",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3DataDistributionType": "FullyReplicated",
                    },
                },
                {
                    "InputName": "data",
                    "S3Input": {"LocalPath": "/opt/ml/processing/input/data", **data},
                },
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "results",
                        "S3Output": {
                            "S3Uri": f"s3://{BUCKET}/results",
                            "LocalPath": "/opt/ml/processing/output",
                        },
                    }
                ]
            },
        },
    }
    return {"Version": "2020-12-01", "Parameters": [], "Steps": [step]}


def _run(s3: Any, tmp_path: Path, definition: dict[str, Any]) -> Any:
    executor = PipelineExecutor(definition, s3=s3, sagemaker=None, work_dir=tmp_path)
    return executor.run("exec-1")


def _uploaded(s3: Any) -> dict[str, dict[str, Any]]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="results/").get("Contents", [])
    return {
        item["Key"]: json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for item in listed
    }


def test_n_instances_run_with_their_hosts_and_a_disjoint_share_of_a_sharded_manifest(
    s3: Any, tmp_path: Path
) -> None:
    names = _objects(s3, 5)
    manifest = _manifest(s3, [{"prefix": f"s3://{BUCKET}/{DATA}"}, *names])
    data = {"S3Uri": manifest, "S3DataType": "ManifestFile"}
    data["S3DataDistributionType"] = "ShardedByS3Key"
    execution = _run(s3, tmp_path, _definition(3, data))
    assert execution.status == "Succeeded", execution.failure_reason
    uploaded = _uploaded(s3)
    # Every instance's output went to the one S3Uri, under its own host's folder.
    assert sorted(uploaded) == [f"results/algo-{i}/seen.json" for i in (1, 2, 3)]
    shares = [uploaded[f"results/algo-{i}/seen.json"] for i in (1, 2, 3)]
    hosts = ["algo-1", "algo-2", "algo-3"]
    assert [s["config"] for s in shares] == [{"current_host": h, "hosts": hosts} for h in hosts]
    seen = [set(s["seen"]) for s in shares]
    assert [len(s) for s in seen] == [2, 2, 1]
    assert set().union(*seen) == set(names) and sum(map(len, seen)) == len(names)


def test_a_fully_replicated_input_gives_every_instance_every_object(
    s3: Any, tmp_path: Path
) -> None:
    names = _objects(s3, 3)
    data = {"S3Uri": f"s3://{BUCKET}/{DATA}", "S3DataType": "S3Prefix"}
    data["S3DataDistributionType"] = "FullyReplicated"
    execution = _run(s3, tmp_path, _definition(2, data))
    assert execution.status == "Succeeded", execution.failure_reason
    for shard in _uploaded(s3).values():
        assert shard["seen"] == names


def test_more_instances_than_objects_leave_an_instance_with_no_input(
    s3: Any, tmp_path: Path
) -> None:
    names = _objects(s3, 2)
    data = {"S3Uri": f"s3://{BUCKET}/{DATA}", "S3DataType": "S3Prefix"}
    data["S3DataDistributionType"] = "ShardedByS3Key"
    execution = _run(s3, tmp_path, _definition(3, data))
    assert execution.status == "Succeeded", execution.failure_reason
    uploaded = _uploaded(s3)
    assert [uploaded[f"results/algo-{i}/seen.json"]["seen"] for i in (1, 2, 3)] == [
        names[:1],
        names[1:],
        None,  # "some nodes won't get any data": no input folder at all
    ]


@pytest.mark.parametrize(
    "document",
    [
        [{"prefix": f"s3://{BUCKET}/{DATA}"}],  # a prefix with no suffix
        [f"s3://{BUCKET}/{DATA}", "a.jsonl"],  # no {"prefix": ...} first
        {"prefix": f"s3://{BUCKET}/{DATA}", "files": ["a.jsonl"]},  # not an array
        b"not json",
    ],
)
def test_a_document_that_is_not_a_manifest_fails_the_step_and_nothing_is_uploaded(
    s3: Any, tmp_path: Path, document: Any
) -> None:
    _objects(s3, 2)
    data = {"S3Uri": _manifest(s3, document), "S3DataType": "ManifestFile"}
    execution = _run(s3, tmp_path, _definition(2, data))
    assert execution.status == "Failed"
    assert "manifest s3://jobs/manifests/window.manifest" in (execution.failure_reason or "")
    assert _uploaded(s3) == {}


def test_instances_writing_the_same_output_file_fail_the_step(s3: Any, tmp_path: Path) -> None:
    """Uploaded to one S3 prefix, one instance's file would overwrite the other's (silently on
    AWS): the emulator fails the step instead, naming both hosts and the file."""
    _objects(s3, 2)
    data = {"S3Uri": f"s3://{BUCKET}/{DATA}", "S3DataType": "S3Prefix"}
    data["S3DataDistributionType"] = "ShardedByS3Key"
    execution = _run(s3, tmp_path, _definition(2, data, argument="collide"))
    assert execution.status == "Failed"
    assert "algo-1 and algo-2 both wrote seen.json" in (execution.failure_reason or "")
    assert _uploaded(s3) == {}


@pytest.mark.parametrize("count", [0, 101])
def test_an_instance_count_sagemaker_does_not_take_fails_the_step(
    s3: Any, tmp_path: Path, count: int
) -> None:
    _objects(s3, 1)
    data = {"S3Uri": f"s3://{BUCKET}/{DATA}", "S3DataType": "S3Prefix"}
    execution = _run(s3, tmp_path, _definition(count, data))
    assert execution.status == "Failed"
    assert f"InstanceCount {count}" in (execution.failure_reason or "")


def test_the_share_of_each_instance_is_disjoint_and_covers_every_object() -> None:
    objects = [("b", f"k{i}", f"k{i}") for i in range(10)]
    for count in (1, 2, 3, 4, 11):
        shares = [instance_objects(objects, "ShardedByS3Key", i, count) for i in range(count)]
        assert sorted(o for share in shares for o in share) == sorted(objects)
        assert max(map(len, shares)) - min(map(len, shares)) <= 1  # about 1/N each
