"""Local endpoints answer boto3's InvokeEndpoint and capture in SageMaker's data-capture format."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from finmlops.emulator.aws.server import EmbeddedAws, embedded_aws
from finmlops.emulator.aws.serving import LocalEndpoints, read_capture

CONFIG = Path(__file__).resolve().parents[2] / "config" / "platform.yaml"

BUCKET = "capture"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"


def container(archive: str, **environment: str) -> dict[str, Any]:
    """A registered version's inference container as DescribeModelPackage returns it."""
    found: dict[str, Any] = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/{archive}"}
    if environment:
        found["Environment"] = environment
    return found


def model_archive(tmp: Path, flip: bool = False) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    y = (x[:, 0] < 0 if flip else x[:, 0] > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=y), 10)
    model = tmp / "xgboost-model"
    booster.save_model(str(model) + ".ubj")
    Path(str(model) + ".ubj").replace(model)
    archive = tmp / ("flipped.tar.gz" if flip else "model.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model, arcname="xgboost-model")
    return archive


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with embedded_aws() as running:
        yield running


@pytest.fixture
def endpoints(aws: EmbeddedAws, tmp_path: Path) -> Iterator[LocalEndpoints]:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for flip in (False, True):
        archive = model_archive(tmp_path, flip)
        s3.upload_file(str(archive), BUCKET, f"models/{archive.name}")
    local = LocalEndpoints(s3, clock=lambda: datetime(2026, 11, 28, 21, 5, tzinfo=UTC)).start()
    local.deploy(
        "credit-risk-stage", container=container("model.tar.gz"),
        model_package_arn="arn:pkg/1", capture_bucket=BUCKET, capture_prefix="datacapture",
    )  # fmt: skip
    yield local
    local.stop()


def runtime(aws: EmbeddedAws, endpoints: LocalEndpoints) -> Any:
    return aws.session().client("sagemaker-runtime", endpoint_url=endpoints.url)


def test_boto3_invoke_endpoint_gets_scores(aws: EmbeddedAws, endpoints: LocalEndpoints) -> None:
    response = runtime(aws, endpoints).invoke_endpoint(
        EndpointName="credit-risk-stage", ContentType="text/csv", Body=b"2,0,0\n-2,0,0"
    )
    high, low = (float(v) for v in response["Body"].read().decode().split("\n"))
    assert high > 0.5 > low
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_requests_and_responses_are_captured_per_endpoint_and_hour(
    aws: EmbeddedAws, endpoints: LocalEndpoints
) -> None:
    client = runtime(aws, endpoints)
    client.invoke_endpoint(
        EndpointName="credit-risk-stage", ContentType="text/csv", Body=b"1,2,3", InferenceId="req-1"
    )
    keys = endpoints.flush()
    assert len(keys) == 1
    assert keys[0].startswith("datacapture/credit-risk-stage/AllTraffic/2026/11/28/21/")
    (record,) = read_capture(aws.client("s3"), BUCKET, keys[0])
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3", "encoding": "CSV"
    }  # fmt: skip
    assert record["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
    assert record["eventMetadata"]["inferenceId"] == "req-1"
    assert record["eventVersion"] == "0"


def test_wrong_width_is_a_model_error_not_a_crash(
    aws: EmbeddedAws, endpoints: LocalEndpoints
) -> None:
    with pytest.raises(ClientError, match="takes 3"):
        runtime(aws, endpoints).invoke_endpoint(
            EndpointName="credit-risk-stage", ContentType="text/csv", Body=b"1,2"
        )


def test_unknown_endpoint_is_a_validation_error(
    aws: EmbeddedAws, endpoints: LocalEndpoints
) -> None:
    with pytest.raises(ClientError, match="credit-risk-prod not found"):
        runtime(aws, endpoints).invoke_endpoint(
            EndpointName="credit-risk-prod", ContentType="text/csv", Body=b"1,2,3"
        )


def test_redeploy_swaps_the_model_behind_the_name(
    aws: EmbeddedAws, endpoints: LocalEndpoints
) -> None:
    before = float(endpoints.invoke("credit-risk-stage", "2,0,0"))
    endpoints.deploy(
        "credit-risk-stage", container=container("flipped.tar.gz", SAGEMAKER_CONTAINER_LOG_LEVEL="20"),
        model_package_arn="arn:pkg/2", capture_bucket=BUCKET, capture_prefix="datacapture",
    )  # fmt: skip
    after = float(endpoints.invoke("credit-risk-stage", "2,0,0"))
    assert before > 0.5 > after
    assert endpoints.deployed("credit-risk-stage") == "arn:pkg/2"


# --------------------------------------------------------------------------- the serving container


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"SAGEMAKER_PROGRAM": "", "SAGEMAKER_SUBMIT_DIRECTORY": ""}, "SAGEMAKER_PROGRAM is empty"),
        ({"SAGEMAKER_MODEL_SERVER_TIMEOUT": ""}, "SAGEMAKER_MODEL_SERVER_TIMEOUT is empty"),
        ({"SAGEMAKER_MODEL_SERVER_WORKER": "2"}, "SAGEMAKER_MODEL_SERVER_WORKER is not a variable"),
        ({"SAGEMAKER_PROGRAM": "inference.py"}, "script mode"),
    ],
)
def test_a_container_the_serving_stack_would_not_serve_is_refused_and_nothing_changes(
    endpoints: LocalEndpoints, environment: dict[str, str], named: str
) -> None:
    """The rules of the built-in XGBoost serving stack (sagemaker-xgboost-container serving.py on
    sagemaker-containers' ServingEnv): an empty value is read as set, unknown SAGEMAKER_* names
    do nothing, script mode needs user code."""
    from finmlops.emulator.aws.serving import ServingContainerError

    before = endpoints.invoke("credit-risk-stage", "2,0,0")
    with pytest.raises(ServingContainerError, match=named):
        endpoints.deploy(
            "credit-risk-stage", container=container("flipped.tar.gz", **environment),
            model_package_arn="arn:pkg/2", capture_bucket=BUCKET, capture_prefix="datacapture",
        )  # fmt: skip
    assert endpoints.deployed("credit-risk-stage") == "arn:pkg/1"
    assert endpoints.invoke("credit-risk-stage", "2,0,0") == before


def test_an_image_other_than_the_builtin_xgboost_is_refused(endpoints: LocalEndpoints) -> None:
    from finmlops.emulator.aws.serving import ServingContainerError

    other = container("flipped.tar.gz") | {
        "Image": "111111111111.dkr.ecr.us-east-1.amazonaws.com/mine:1"
    }
    with pytest.raises(ServingContainerError, match="not the SageMaker built-in XGBoost image"):
        endpoints.deploy(
            "credit-risk-stage", container=other, model_package_arn="arn:pkg/2",
            capture_bucket=BUCKET, capture_prefix="datacapture",
        )  # fmt: skip


def test_the_served_container_is_the_one_the_model_build_definition_registers(
    aws: EmbeddedAws, endpoints: LocalEndpoints, tmp_path: Path, config: Any
) -> None:
    """The container comes from the registered version (DescribeModelPackage), registered with
    the RegisterModel arguments of the real definition, on an artifact packaged as the Package
    step packages it: it passes the serving rules with network isolation, serves reasons, and
    the container the SDK's default (empty script mode) would have registered does not."""
    import json

    from reasons_support import model_block

    from finmlops.serving.package_step import served_archive
    from finmlops.serving.source import source_archive

    source = tmp_path / "sourcedir.tar.gz"
    source.write_bytes(source_archive(model_block(config.model, ("x0", "x1", "x2"), {}, top_k=1)))
    packaged = served_archive(tmp_path / "flipped.tar.gz", source)
    aws.client("s3").put_object(Bucket=BUCKET, Key="models/packaged.tar.gz", Body=packaged)

    from finmlops_pipelines.definition import build_pipeline_definition

    from finmlops.config import load_config
    from finmlops.emulator.aws.serving import registered_container, serving_container_problems

    definition = json.loads(build_pipeline_definition(load_config(CONFIG, "credit-risk")).body)

    def find(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
        for step in steps:
            if step["Name"] == "RegisterModel":
                return step
            if step["Type"] == "Condition":
                hit = find(step["Arguments"]["IfSteps"]) or find(step["Arguments"]["ElseSteps"])
                if hit:
                    return hit
        return None

    register = find(definition["Steps"])
    assert register is not None
    (registered,) = register["Arguments"]["InferenceSpecification"]["Containers"]
    registered = registered | {"ModelDataUrl": f"s3://{BUCKET}/models/packaged.tar.gz"}
    sm = aws.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="serving-rules")
    arn = sm.create_model_package(
        ModelPackageGroupName="serving-rules",
        InferenceSpecification={
            "Containers": [registered],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    served = registered_container(sm, arn)
    endpoints.deploy(
        "credit-risk-stage", container=served, model_package_arn=arn,
        capture_bucket=BUCKET, capture_prefix="datacapture", network_isolation=True,
    )  # fmt: skip
    assert endpoints.deployed("credit-risk-stage") == arn
    assert endpoints.answer("credit-risk-stage", "2,0,0")[1] == "text/csv"
    # The flipped model: a negative x0 is what pushes toward "bad"; x0 has no text.
    body, _ = endpoints.answer("credit-risk-stage", "-2,0,0", accept="application/json")
    assert json.loads(body)["predictions"][0]["reasons"][0]["text"] == "Other reasons"
    script_default = served | {
        "Environment": {
            **served.get("Environment", {}),
            "SAGEMAKER_PROGRAM": "",
            "SAGEMAKER_SUBMIT_DIRECTORY": "",
        }
    }
    assert serving_container_problems(script_default)


# --------------------------------------------------------------------------- reason codes


@pytest.fixture
def script_endpoint(aws: EmbeddedAws, endpoints: LocalEndpoints, config: Any) -> str:
    """The stage endpoint redeployed in script mode: the platform's inference script and the
    reasons document for this 3-feature model, as the registered container names them."""
    from reasons_support import model_block

    from finmlops.serving.source import serving_environment, source_archive, source_key

    archive = source_archive(
        model_block(config.model, ("x0", "x1", "x2"), {"x0": "Debt too high"}, top_k=2)
    )
    key = source_key(archive)
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=archive)
    endpoints.deploy(
        "credit-risk-stage",
        container=container("model.tar.gz", **serving_environment(f"s3://{BUCKET}/{key}")),
        model_package_arn="arn:pkg/3", capture_bucket=BUCKET, capture_prefix="datacapture",
    )  # fmt: skip
    return "credit-risk-stage"


def test_the_endpoint_gives_reasons_to_json_callers_and_plain_scores_to_csv_callers(
    aws: EmbeddedAws, endpoints: LocalEndpoints, script_endpoint: str
) -> None:
    import json

    client = runtime(aws, endpoints)
    plain = client.invoke_endpoint(
        EndpointName=script_endpoint, ContentType="text/csv", Body=b"2,0,0"
    )
    assert plain["ContentType"] == "text/csv"
    score = float(plain["Body"].read().decode())
    assert score > 0.5

    explained = client.invoke_endpoint(
        EndpointName=script_endpoint, ContentType="text/csv", Accept="application/json",
        Body=b"2,0,0\n-2,0,0",
    )  # fmt: skip
    assert explained["ContentType"] == "application/json"
    high, low = json.loads(explained["Body"].read())["predictions"]
    assert high["score"] == pytest.approx(score, abs=1e-6)
    # x0 alone decides this model: it pushed the first applicant toward bad, stated by its text.
    assert high["reasons"][0]["feature"] == "x0"
    assert high["reasons"][0]["text"] == "Debt too high"
    assert all(r["feature"] != "x0" for r in low["reasons"])


def test_captured_json_answers_still_give_monitoring_its_scores(
    aws: EmbeddedAws, endpoints: LocalEndpoints, script_endpoint: str
) -> None:
    from finmlops.monitoring.quality import _scores
    from finmlops.monitoring.readers import payload_rows

    client = runtime(aws, endpoints)
    for accept in ("application/json", "text/csv"):
        client.invoke_endpoint(
            EndpointName=script_endpoint,
            ContentType="text/csv",
            Accept=accept,
            Body=b"2,0,0\n-2,0,0",
        )
    (key,) = endpoints.flush()
    as_json, as_csv = read_capture(aws.client("s3"), BUCKET, key)
    assert as_json["captureData"]["endpointOutput"]["observedContentType"] == "application/json"
    assert as_json["captureData"]["endpointOutput"]["encoding"] == "JSON"
    assert _scores(as_json) == pytest.approx(_scores(as_csv), abs=1e-6)
    assert payload_rows(as_json, "endpointInput") == payload_rows(as_csv, "endpointInput")


def test_script_mode_answers_json_without_an_accept_unless_the_default_is_set(
    aws: EmbeddedAws, endpoints: LocalEndpoints, script_endpoint: str
) -> None:
    """sagemaker-containers' Request.accept: no Accept (or */*) is
    SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, application/json when unset. The registered container
    sets text/csv, so a caller that never sent Accept keeps getting CSV."""
    endpoint = endpoints.endpoints[script_endpoint]
    assert endpoints.answer(script_endpoint, "2,0,0", accept="*/*")[1] == "text/csv"
    endpoint.handler.default_accept = "application/json"  # the container without the variable
    assert endpoints.answer(script_endpoint, "2,0,0")[1] == "application/json"


def test_an_unsupported_accept_is_a_model_error(
    aws: EmbeddedAws, endpoints: LocalEndpoints, script_endpoint: str
) -> None:
    with pytest.raises(ClientError, match="UnsupportedFormatError"):
        runtime(aws, endpoints).invoke_endpoint(
            EndpointName=script_endpoint,
            ContentType="text/csv",
            Accept="application/x-npy",
            Body=b"1,2,3",
        )


def test_script_mode_without_its_source_archive_is_refused(endpoints: LocalEndpoints) -> None:
    from finmlops.emulator.aws.serving import ServingContainerError

    with pytest.raises(ServingContainerError, match="SAGEMAKER_SUBMIT_DIRECTORY"):
        endpoints.deploy(
            "credit-risk-stage",
            container=container("model.tar.gz", SAGEMAKER_PROGRAM="inference.py", SAGEMAKER_SUBMIT_DIRECTORY="s3://capture/code/"),
            model_package_arn="arn:pkg/4", capture_bucket=BUCKET, capture_prefix="datacapture",
        )  # fmt: skip
    assert endpoints.deployed("credit-risk-stage") == "arn:pkg/1"
