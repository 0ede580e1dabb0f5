"""The SageMaker pipeline definition: built offline, deterministic, gates wired to parameters."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from finmlops_pipelines.definition import (
    PipelineDefinition,
    build_pipeline_definition,
    pipeline_files,
)

from finmlops import fairness
from finmlops.config import Config
from finmlops.contracts import Meta, Param, Placeholder
from finmlops.gates import GATES


@pytest.fixture(scope="module")
def definition(config: Config) -> Iterator[PipelineDefinition]:
    # Any attempt to open a network connection during the build fails the test.
    real_connect = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"the definition build tried to connect to {address}")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield build_pipeline_definition(config)
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]


def steps_by_name(body: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            found[step["Name"]] = step
            if step["Type"] == "Condition":
                walk(step["Arguments"]["IfSteps"])
                walk(step["Arguments"]["ElseSteps"])

    walk(json.loads(body)["Steps"])
    return found


def test_definition_is_byte_identical_across_builds(
    config: Config, definition: PipelineDefinition
) -> None:
    assert build_pipeline_definition(config).body == definition.body


def test_step_graph_runs_preprocess_train_evaluate_baseline_register(
    definition: PipelineDefinition,
) -> None:
    steps = steps_by_name(definition.body)
    types = {name: step["Type"] for name, step in steps.items()}
    assert types["Preprocess"] == "Processing"
    assert types["Train"] == "Training"
    assert types["Evaluate"] == "Processing"
    assert types["Baseline"] == "Processing"
    assert types["Evidence"] == "Processing"
    assert types["RegisterModel"] == "RegisterModel"
    assert types["Track"] == "Processing"  # tracking.mode is sagemaker in the default config
    assert sum(t == "Fail" for t in types.values()) == len(GATES)


def test_training_runs_only_after_the_data_quality_gates(definition: PipelineDefinition) -> None:
    top = json.loads(definition.body)["Steps"]
    assert [s["Name"] for s in top] == ["Preprocess", "Gate-min-rows"]
    steps = steps_by_name(definition.body)
    last_dq = steps["Gate-min-positive-share"]["Arguments"]["IfSteps"]
    assert [s["Name"] for s in last_dq][:5] == [
        "Train", "Evaluate", "Baseline", "Package", "Evidence"
    ]  # fmt: skip


def test_every_gate_compares_its_json_value_with_the_platform_threshold_no_run_can_change(
    config: Config, definition: PipelineDefinition
) -> None:
    steps = steps_by_name(definition.body)
    parameters = {p["Name"] for p in json.loads(definition.body)["Parameters"]}
    for gate in GATES:
        condition = steps[f"Gate-{gate.name}"]["Arguments"]["Conditions"][0]
        assert (
            condition["Type"]
            == {">=": "GreaterThanOrEqualTo", "<=": "LessThanOrEqualTo"}[gate.comparison]
        )
        assert condition["LeftValue"]["Std:JsonGet"]["Path"] == gate.path(config)
        assert condition["RightValue"] == gate.threshold(config)
        assert gate.parameter not in parameters


def test_failed_gate_message_names_the_gate(definition: PipelineDefinition) -> None:
    steps = steps_by_name(definition.body)
    message = steps["Fail-min-auc"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert message[0].startswith("Gate min-auc failed")
    assert message[-1] == 0.65


def test_parameter_defaults_come_from_the_config(
    config: Config, definition: PipelineDefinition
) -> None:
    defaults = {p["Name"]: p.get("DefaultValue") for p in json.loads(definition.body)["Parameters"]}
    assert defaults[Param.PROCESSING_INSTANCE_TYPE] == config.environments.dev.instances.processing
    assert defaults[Param.INPUT_DATA_URI] == "s3://${ArtifactBucket}/data/lending_club.csv"


def test_version_is_registered_pending_manual_approval_with_evidence(
    definition: PipelineDefinition,
) -> None:
    register = steps_by_name(definition.body)["RegisterModel"]["Arguments"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == "${ModelPackageGroupName}"
    metrics = register["ModelMetrics"]
    quality = metrics["ModelQuality"]["Statistics"]["S3Uri"]["Std:Join"]["Values"]
    assert quality[1] == "evaluation.json"
    assert "Steps.Evaluate" in quality[0]["Get"]
    bias = metrics["Bias"]["PostTrainingReport"]["S3Uri"]["Std:Join"]["Values"]
    assert bias[1] == "fairness.json"
    drift = register["DriftCheckBaselines"]["ModelDataQuality"]
    assert drift["Statistics"]["S3Uri"]["Std:Join"]["Values"][1] == "statistics.json"
    assert drift["Constraints"]["S3Uri"]["Std:Join"]["Values"][1] == "constraints.json"


def test_registration_records_inventory_and_lineage(
    config: Config, definition: PipelineDefinition
) -> None:
    metadata = steps_by_name(definition.body)["RegisterModel"]["Arguments"][
        "CustomerMetadataProperties"
    ]
    for key in Meta.INVENTORY_REQUIRED:
        assert key in metadata
    assert metadata[Meta.RISK_TIER] == config.governance.risk_tier
    assert metadata[Meta.DATA_FINGERPRINT]["Std:JsonGet"]["Path"] == "data_fingerprint"
    assert metadata[Meta.GIT_COMMIT] == {"Get": f"Parameters.{Param.GIT_COMMIT}"}
    assert "created-by" not in metadata  # authorship is what AWS records (ADR 0014)
    lineage = steps_by_name(definition.body)["RegisterModel"]["Arguments"]["MetadataProperties"]
    assert lineage == {
        "GeneratedBy": {"Get": "Execution.PipelineExecutionArn"},
        "CommitId": {"Get": f"Parameters.{Param.GIT_COMMIT}"},
    }


def test_training_uses_the_builtin_xgboost_3_2_image_with_config_hyperparameters(
    config: Config, definition: PipelineDefinition
) -> None:
    train = steps_by_name(definition.body)["Train"]["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"].endswith("/sagemaker-xgboost:3.2-0")
    assert train["HyperParameters"] == config.model.hyperparameters.as_sagemaker()
    assert train["EnableNetworkIsolation"] is True
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"
    assert train["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600


def test_jobs_run_in_the_vpc_with_kms(config: Config, definition: PipelineDefinition) -> None:
    steps = steps_by_name(definition.body)
    for name in ("Preprocess", "Evaluate", "Baseline"):
        args = steps[name]["Arguments"]
        assert args["NetworkConfig"]["VpcConfig"]["Subnets"] == list(
            config.environments.dev.vpc.subnet_ids
        )  # type: ignore[union-attr]
        assert args["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
        assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"
        assert args["ProcessingOutputConfig"]["KmsKeyId"] == "${KmsKeyArn}"


def test_outputs_are_written_per_execution(definition: PipelineDefinition) -> None:
    outputs = steps_by_name(definition.body)["Evaluate"]["Arguments"]["ProcessingOutputConfig"][
        "Outputs"
    ]
    values = outputs[0]["S3Output"]["S3Uri"]["Std:Join"]["Values"]
    assert {"Get": "Execution.PipelineExecutionId"} in values


def test_step_code_is_referenced_at_the_keys_the_stack_ships(
    definition: PipelineDefinition,
) -> None:
    for key, path in definition.code_files.items():
        assert path.exists()
        if key.startswith("code/"):
            assert f"s3://${{ArtifactBucket}}/{key}" in definition.body


def test_only_known_placeholders_are_left_for_cloudformation(
    definition: PipelineDefinition,
) -> None:
    pseudo = {Placeholder.ACCOUNT_ID, Placeholder.PARTITION, Placeholder.REGION}
    optional = {Placeholder.MLFLOW_TRACKING_URI}
    assert definition.placeholders <= set(Placeholder.names()) | pseudo | optional
    assert "${!" not in definition.body


def test_definition_fits_an_inline_cloudformation_property(definition: PipelineDefinition) -> None:
    assert len(definition.body) < 100_000


def test_version_carries_its_model_card_and_validation_report(
    definition: PipelineDefinition,
) -> None:
    steps = steps_by_name(definition.body)
    register = steps["RegisterModel"]["Arguments"]
    # The whole card of the build (ADR 0032): what the Evidence step wrote, read with JsonGet
    # from its property file, never a card fixed when the definition was built.
    assert register["ModelCard"]["ModelCardContent"] == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evidence.PropertyFiles.RegistryCard"},
            "Path": "model_card_content",
        }
    }
    assert {"PropertyFileName": "RegistryCard", "OutputName": "evidence",
            "FilePath": "registry_card.json"} in steps["Evidence"]["PropertyFiles"]  # fmt: skip
    assert register["ModelCard"]["ModelCardStatus"] == "PendingReview"
    metadata = register["CustomerMetadataProperties"]
    for key, file in (
        (Meta.MODEL_CARD, "model_card.json"),
        (Meta.VALIDATION_REPORT, "validation_report.html"),
    ):
        values = metadata[key]["Std:Join"]["Values"]
        assert values[1] == file
        assert "Steps.Evidence" in values[0]["Get"]


def test_the_config_ships_with_the_pipeline_for_the_evidence_step(
    definition: PipelineDefinition,
) -> None:
    (key,) = [k for k in definition.code_files if k.startswith("config/")]
    inputs = steps_by_name(definition.body)["Evidence"]["Arguments"]["ProcessingInputs"]
    assert f"s3://${{ArtifactBucket}}/{key}" in [i["S3Input"]["S3Uri"] for i in inputs]
    assert json.loads(definition.code_files[key].read_text())["project"] == "credit-risk"


def test_the_protected_groups_reach_evaluate_as_a_shipped_file_never_as_split_arguments(
    config: Config, definition: PipelineDefinition
) -> None:
    """The fairness spec is a processing input the stack ships (content-addressed), because
    each container argument is limited to 256 characters (API reference, AppSpecification.
    ContainerArguments: "Maximum length of 256", at most 100 items); no argument carries a
    protected value."""
    (key,) = [k for k in definition.code_files if k.startswith("fairness/")]
    assert json.loads(definition.code_files[key].read_text()) == fairness.spec(config.model)
    evaluate = steps_by_name(definition.body)["Evaluate"]["Arguments"]
    inputs = {i["InputName"]: i for i in evaluate["ProcessingInputs"]}
    assert inputs["fairness"]["S3Input"]["S3Uri"] == f"s3://${{ArtifactBucket}}/{key}"
    assert inputs["fairness"]["S3Input"]["LocalPath"] == "/opt/ml/processing/fairness"
    arguments = evaluate["AppSpecification"]["ContainerArguments"]
    text = " ".join(a for a in arguments if isinstance(a, str))
    assert "--protected-values" not in arguments and "emp_lt_1" not in text
    for step in steps_by_name(definition.body).values():
        container = (step.get("Arguments") or {}).get("AppSpecification") or {}
        for argument in container.get("ContainerArguments") or []:
            assert not isinstance(argument, str) or len(argument) <= 256, argument
        assert len(container.get("ContainerArguments") or []) <= 100


def test_changing_the_protected_groups_changes_the_shipped_file_and_the_gate_paths(
    config: Config,
) -> None:
    model = config.model
    attribute = model.fairness.protected_attributes[0].model_copy(update={"values": ("emp_unk",)})
    changed = model.model_copy(
        update={
            "fairness": model.fairness.model_copy(update={"protected_attributes": (attribute,)})
        }
    )
    assert fairness.shipped_spec(changed, "p")[0] != fairness.shipped_spec(model, "p")[0]
    assert fairness.gate_path(changed, "disparate_impact") != fairness.gate_path(
        model, "disparate_impact"
    )
    recut = model.model_copy(update={"cutoff": 0.5})
    assert fairness.gate_path(recut, "parity_difference") != fairness.gate_path(
        model, "parity_difference"
    )


def test_sagemaker_tracking_adds_a_track_step_whose_run_id_reaches_the_registry(
    config: Config,
) -> None:
    tracked = config.model_copy(
        update={"tracking": config.tracking.model_copy(update={"mode": "sagemaker"})}
    )
    steps = steps_by_name(build_pipeline_definition(tracked).body)
    track = steps["Track"]["Arguments"]
    assert track["AppSpecification"]["ContainerEntrypoint"][-1] == "finmlops.tracking.track_step"
    assert "${MlflowTrackingUri}" in track["AppSpecification"]["ContainerArguments"]
    run_id = steps["RegisterModel"]["Arguments"]["CustomerMetadataProperties"][Meta.MLFLOW_RUN_ID]
    assert run_id["Std:JsonGet"]["Path"] == "run_id"


def test_registered_container_runs_the_inference_script_from_inside_its_artifact(
    definition: PipelineDefinition,
) -> None:
    """Script mode with no empty value: the XGBoost serving stack (aws/sagemaker-xgboost-container
    `serving.main`) imports SAGEMAKER_PROGRAM whenever it is set, and sagemaker-containers'
    ServingEnv reads "" as set ("Empty module name" on the first request). The endpoint's model
    runs with network isolation, so the source is a folder of the artifact (sagemaker-containers'
    `download_and_extract` copies a local folder), and the artifact is the Package step's. No
    Accept must still mean CSV: the script-mode default is JSON (ServingEnv.default_accept)."""
    (container,) = steps_by_name(definition.body)["RegisterModel"]["Arguments"][
        "InferenceSpecification"
    ]["Containers"]
    environment = container.get("Environment", {})
    assert environment == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    }
    assert container["Image"].endswith("/sagemaker-xgboost:3.2-0")
    url = container["ModelDataUrl"]["Std:Join"]["Values"]
    assert "Steps.Package" in url[0]["Get"] and url[-1] == "model.tar.gz"


def test_the_package_step_reads_the_shipped_source_archive_and_feeds_the_evidence(
    definition: PipelineDefinition, config: Config
) -> None:
    from finmlops.serving.source import source_archive, source_key

    steps = steps_by_name(definition.body)
    inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps["Package"]["Arguments"]["ProcessingInputs"]
    }
    key = source_key(source_archive(config.model))
    assert inputs["source"] == f"s3://${{ArtifactBucket}}/{key}"
    assert key in definition.code_files and key in pipeline_files(config)
    evidence = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps["Evidence"]["Arguments"]["ProcessingInputs"]
    }
    assert "Steps.Package" in evidence["reasons"]["Get"]


def test_pipeline_creates_no_sagemaker_experiments_entities(definition: PipelineDefinition) -> None:
    """By default SageMaker Pipelines creates an experiment, a trial per execution and trial
    components (docs page pipelines-experiments); no role of the platform may create them and the
    runs are tracked in MLflow, so the definition asks for none."""
    assert json.loads(definition.body).get("PipelineExperimentConfig") is None


def test_evaluate_reads_the_champion_from_the_parameters_build_start_sets(
    definition: PipelineDefinition,
) -> None:
    """The champion's archive and ARN reach Evaluate only through the two parameters, which
    `finmlops build start` sets from the registry and approval re-checks (ADR 0029); without a
    champion the input reads a marker the stack ships."""
    from finmlops.registry.champion import definition_problems

    body = json.loads(definition.body)
    defaults = {p["Name"]: p.get("DefaultValue") for p in body["Parameters"]}
    assert defaults[Param.CHAMPION_MODEL_PACKAGE_ARN] == "none"
    marker = defaults[Param.CHAMPION_MODEL_DATA_URL]
    assert marker == "s3://${ArtifactBucket}/champion/none.json"
    assert "champion/none.json" in definition.code_files
    steps = steps_by_name(definition.body)
    evaluate = steps["Evaluate"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in evaluate["ProcessingInputs"]}
    assert inputs["champion"]["S3Uri"] == {"Get": f"Parameters.{Param.CHAMPION_MODEL_DATA_URL}"}
    assert inputs["champion"]["LocalPath"] == "/opt/ml/processing/champion"
    arguments = evaluate["AppSpecification"]["ContainerArguments"]
    at = arguments.index("--champion-arn")
    assert arguments[at + 1] == {"Get": f"Parameters.{Param.CHAMPION_MODEL_PACKAGE_ARN}"}
    # What approval checks of a recorded definition holds for the one the stack deploys.
    assert definition_problems(steps) == []
    # The gate on the comparison guards RegisterModel like every gate.
    condition = steps["Gate-max-auc-drop-vs-champion"]["Arguments"]["Conditions"][0]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "champion.auc_drop"
