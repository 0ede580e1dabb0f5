"""The model-build SageMaker Pipeline, built offline with the sagemaker v3 SDK.

preprocess -> data-quality gates -> train (built-in XGBoost 3.2-0) -> evaluate (with the champion
serving in prod scored on the same rows) -> baseline -> model gates -> register as
PendingManualApproval; every gate that fails ends in its own Fail step
whose message names the gate, the value and the threshold.

The definition holds `${...}` placeholders (`finmlops.contracts.Placeholder`) where account
resources go: CloudFormation fills them with Fn::Sub on AWS, the offline executor fills them from
the emulator. Building makes no AWS call and uploads nothing: step code is referenced at the S3
keys in `PipelineDefinition.code_files`, which the CDK stack ships. The JSON is byte-identical
on every run for the same config and code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmlops.config import Config, dataset_path
from finmlops.contracts import Evidence, Meta, Param, Placeholder
from finmlops.datasets import parse_dataset_uri
from finmlops.fairness import shipped_spec, write_spec
from finmlops.gates import GATES, Gate
from finmlops.governance.evidence import (
    MODEL_CARD_FILE,
    REGISTRY_CARD_CONTENT,
    REGISTRY_CARD_FILE,
    VALIDATION_REPORT_FILE,
)
from finmlops.governance.evidence_step import shipped_config, write_shipped_config
from finmlops.governance.model_card import REGISTRATION_CARD_STATUS
from finmlops.modelbuild import step_arguments
from finmlops.naming import names
from finmlops.serving import package_step
from finmlops.serving.source import (
    serving_environment,
    source_archive,
    source_key,
    write_source_archive,
)
from finmlops.steps import evaluate, preprocess

P = Placeholder.ref
BUCKET = P(Placeholder.ARTIFACT_BUCKET)
ROLE_ARN = f"arn:{P(Placeholder.PARTITION)}:iam::{P(Placeholder.ACCOUNT_ID)}:role/{P(Placeholder.EXECUTION_ROLE_NAME)}"
KMS_KEY = P(Placeholder.KMS_KEY_ARN)
PREFIX = f"s3://{BUCKET}/model-build"

SKLEARN_VERSION = "1.2-1"
XGBOOST_VERSION = "3.2-0"
MAX_RUNTIME_SECONDS = 3600
STEPS_DIR = Path(preprocess.__file__).parent


@dataclass(frozen=True)
class PipelineDefinition:
    name: str
    body: str
    # S3 key in the artifact bucket -> local file that must be there before the pipeline runs.
    code_files: dict[str, Path]

    @property
    def placeholders(self) -> set[str]:
        return Placeholder.slots(self.body)


def pipeline_name(config: Config) -> str:
    # One build pipeline per model of the portfolio (finmlops.naming, docs/decisions/0033).
    return names(config, "dev").build_pipeline


def _code_key(path: Path) -> str:
    # Content-addressed: new code changes the definition, so CloudFormation updates the pipeline.
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"code/{path.stem}-{digest}{path.suffix}"


def code_files() -> dict[str, Path]:
    return {
        _code_key(STEPS_DIR / name): STEPS_DIR / name for name in ("preprocess.py", "evaluate.py")
    }


def pipeline_files(config: Config) -> dict[str, Path]:
    """Every file the pipeline reads from the artifact bucket, by key (no SDK needed)."""
    files = code_files()
    # The config travels with the pipeline: the evidence and tracking steps read the gates and
    # governance fields from it. Content-addressed, so the same config is one file.
    config_key, config_file = write_shipped_config(
        config, Path(tempfile.gettempdir()) / "finmlops-config"
    )
    files[config_key] = config_file
    # The protected groups, read by the evaluate step (its arguments are too short for them).
    fairness_key, fairness_file = write_spec(
        config.model, config.project, Path(tempfile.gettempdir()) / "finmlops-fairness"
    )
    files[fairness_key] = fairness_file
    # The inference script and its reasons document, which the registered container serves.
    archive_key, archive_file = write_source_archive(
        config.model, Path(tempfile.gettempdir()) / "finmlops-source"
    )
    files[archive_key] = archive_file
    files[NO_CHAMPION_KEY] = no_champion_marker(Path(tempfile.gettempdir()) / "finmlops-champion")
    key = dataset_key(config)
    if key:
        files[key] = dataset_path(config)
    return files


# What the Evaluate step's champion input reads when nothing serves in prod (the first version):
# a processing input needs an S3 object, and the step ignores it when `--champion-arn` is none.
NO_CHAMPION_KEY = "champion/none.json"


def no_champion_marker(folder: Path) -> Path:
    """The no-champion marker file, written once (same bytes every time)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "none.json"
    path.write_text(
        json.dumps({"champion": evaluate.NO_CHAMPION, "why": "nothing serves in prod"}) + "\n"
    )
    return path


def ship_pipeline_files(s3: Any, bucket: str, config: Config) -> list[str]:
    """Upload `pipeline_files` to the bucket as the stack's BucketDeployment does (the emulator's
    deploy); returns the keys. Every file is resolved and confined before the first upload, so a
    refused dataset path uploads nothing."""
    files = pipeline_files(config)
    for key, path in sorted(files.items()):
        s3.upload_file(str(path), bucket, key)
    return sorted(files)


def dataset_key(config: Config) -> str | None:
    """S3 key in the artifact bucket of the dataset the stack ships: `data/NAME` for the
    package's copy, `data/<stem>-<sha256 prefix><suffix>` for a local file (content-addressed,
    so new data changes the definition); None for an s3:// URI, which the pipeline reads where it
    is. A local file is confined and must exist (`finmlops.config.dataset_path`)."""
    parsed = parse_dataset_uri(config.model.dataset.uri)
    if parsed.kind == "package":
        return "data/" + parsed.value
    if parsed.kind == "local":
        path = dataset_path(config)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return f"data/{path.stem}-{digest}{path.suffix}"
    return None


def default_input_uri(config: Config) -> str:
    key = dataset_key(config)
    return f"s3://{BUCKET}/{key}" if key else config.model.dataset.uri


@contextmanager
def _offline_sdk(region: str) -> Iterator[None]:
    """What the SDK needs to build a definition without touching AWS (see docs/decisions/0001)."""
    saved = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "SAGEMAKER_VALIDATE_ROLE")}
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = (
        "false"  # else ModelTrainer asks IAM to simulate the role
    )
    # The SDK narrates every field it drops from the definition: errors only while it builds.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        import sagemaker.core.telemetry.telemetry_logging as telemetry

        # The background telemetry thread would call STS and the internet; nothing may leave here.
        telemetry._send_telemetry_request = lambda *a, **k: None
        yield
    finally:
        logging.disable(previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _session(region: str) -> Any:
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    class OfflinePipelineSession(PipelineSession):  # type: ignore[misc]
        """Trusts the configured bucket and refuses every upload: the stack ships the files."""

        def default_bucket(self) -> str:
            return BUCKET

        def upload_data(self, path: str, *args: Any, **kwargs: Any) -> str:
            raise RuntimeError(f"the offline definition build tried to upload {path}")

        def upload_string_as_file_body(self, *args: Any, **kwargs: Any) -> str:
            raise RuntimeError("the offline definition build tried to upload a file body")

    session = OfflinePipelineSession(boto_session=boto3.Session(region_name=region))
    session._default_bucket = BUCKET
    return session


def _build(config: Config, session: Any) -> Any:  # noqa: PLR0915 - one pipeline, read top to bottom
    from sagemaker.core import image_uris
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.metadata_properties import MetadataProperties
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import Processor, ScriptProcessor
    from sagemaker.core.resources import ModelPackageModelCard
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.training.configs import (
        Compute,
        InputData,
        Networking,
        OutputDataConfig,
        StoppingCondition,
    )
    from sagemaker.core.workflow.conditions import (
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
    )
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
    from sagemaker.serve.model_builder import ModelBuilder

    dev = config.environments.dev
    region = dev.region
    instances = dev.instances
    subnets = list(dev.vpc.subnet_ids) if dev.vpc else []
    network = NetworkConfig(
        enable_network_isolation=False,  # processing code reads S3 through the VPC endpoint
        security_group_ids=[P(Placeholder.SECURITY_GROUP_ID)],
        subnets=subnets,
        encrypt_inter_container_traffic=True,
    )

    # Parameters: thresholds, instance types and input, defaults from the config.
    p_input = ParameterString(Param.INPUT_DATA_URI, default_value=default_input_uri(config))
    p_proc_type = ParameterString(
        Param.PROCESSING_INSTANCE_TYPE, default_value=instances.processing
    )
    p_train_type = ParameterString(Param.TRAINING_INSTANCE_TYPE, default_value=instances.training)
    p_git = ParameterString(Param.GIT_COMMIT, default_value="unknown")
    # The champion (the version serving in prod): `finmlops build start` sets both from the
    # registry's ModelLifeCycle; approval re-reads the registry and refuses a build that ran
    # with another (finmlops.registry.champion, ADR 0029). Default: none, the first version.
    p_champion_arn = ParameterString(
        Param.CHAMPION_MODEL_PACKAGE_ARN, default_value=evaluate.NO_CHAMPION
    )
    p_champion_url = ParameterString(
        Param.CHAMPION_MODEL_DATA_URL, default_value=f"s3://{BUCKET}/{NO_CHAMPION_KEY}"
    )
    # Its training-row digests (beside its registered evaluation.json), which the evaluate step
    # leaves out of the comparison; the same marker when there is none.
    p_champion_rows = ParameterString(
        Param.CHAMPION_TRAINING_ROWS_URL, default_value=f"s3://{BUCKET}/{NO_CHAMPION_KEY}"
    )
    # The platform's gate thresholds, written into the definition: a run cannot lower a gate
    # (no run-time parameter), and approval compares what an execution ran with the config's
    # (ADR 0014, finmlops.registry.gatecheck).
    gate_values: dict[str, float | int] = {gate.parameter: gate.threshold(config) for gate in GATES}

    sklearn_image = image_uris.retrieve(
        framework="sklearn", region=region, version=SKLEARN_VERSION, py_version="py3",
        instance_type=instances.processing,
    )  # fmt: skip
    xgb_image = image_uris.retrieve(framework="xgboost", region=region, version=XGBOOST_VERSION)
    args = step_arguments(config)
    code = {path.name: f"s3://{BUCKET}/{key}" for key, path in code_files().items()}

    def s3_in(name: str, uri: Any, local: str) -> Any:
        return ProcessingInput(
            input_name=name,
            s3_input=ProcessingS3Input(
                s3_uri=uri, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"
            ),
        )

    def s3_out(name: str, local: str, step: str) -> Any:
        return ProcessingOutput(
            output_name=name,
            # Per execution: a registered version's evidence is never overwritten by a later run.
            s3_output=ProcessingS3Output(
                s3_uri=Join(
                    on="/", values=[PREFIX, ExecutionVariables.PIPELINE_EXECUTION_ID, step, name]
                ),
                local_path=local,
                s3_upload_mode="EndOfJob",
            ),
        )

    def processor(cls: Any, image: str, job: str, **extra: Any) -> Any:
        return cls(
            role=ROLE_ARN, image_uri=image, instance_type=p_proc_type, instance_count=1,
            volume_kms_key=KMS_KEY, output_kms_key=KMS_KEY, max_runtime_in_seconds=MAX_RUNTIME_SECONDS,
            base_job_name=f"{config.project}-{job}", sagemaker_session=session, network_config=network,
            **extra,
        )  # fmt: skip

    # 1. Preprocess (sklearn image).
    out_root = "/opt/ml/processing/output"
    data_quality = PropertyFile(
        name="DataQuality", output_name="artifacts", path=preprocess.DATA_QUALITY_FILE
    )
    step_pre = ProcessingStep(
        name="Preprocess",
        step_args=processor(ScriptProcessor, sklearn_image, "preprocess", command=["python3"]).run(
            code=code["preprocess.py"],
            inputs=[s3_in("data", p_input, "/opt/ml/processing/input/data")],
            outputs=[
                s3_out(name, f"{out_root}/{name}", "preprocess")
                for name in ("train", "validation", "test", "baseline", "artifacts")
            ],
            arguments=args["preprocess"],
        ),
        property_files=[data_quality],
    )
    pre_out = step_pre.properties.ProcessingOutputConfig.Outputs

    # 2. Train: the built-in XGBoost algorithm, hyperparameters from the config.
    trainer = ModelTrainer_(
        training_image=xgb_image,
        compute=Compute(
            instance_type=p_train_type, instance_count=instances.training_count,
            volume_kms_key_id=KMS_KEY,
        ),
        networking=Networking(
            subnets=subnets, security_group_ids=[P(Placeholder.SECURITY_GROUP_ID)],
            enable_network_isolation=True, enable_inter_container_traffic_encryption=True,
        ),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=MAX_RUNTIME_SECONDS),
        output_data_config=OutputDataConfig(s3_output_path=f"{PREFIX}/train", kms_key_id=KMS_KEY),
        hyperparameters=config.model.hyperparameters.as_sagemaker(),
        input_data_config=[
            InputData(channel_name=channel, content_type="text/csv",
                      data_source=pre_out[channel].S3Output.S3Uri)
            for channel in ("train", "validation")
        ],
        base_job_name=f"{config.project}-train",
        role=ROLE_ARN,
        sagemaker_session=session,
    )  # fmt: skip
    step_train = TrainingStep(name="Train", step_args=trainer.train())
    model_uri = step_train.properties.ModelArtifacts.S3ModelArtifacts

    # 3. Evaluate (XGBoost image in script mode: it carries xgboost, pandas and scikit-learn).
    evaluation = PropertyFile(
        name="Evaluation", output_name="evaluation", path=evaluate.EVALUATION_FILE
    )
    fairness_uri = f"s3://{BUCKET}/{shipped_spec(config.model, config.project)[0]}"
    step_eval = ProcessingStep(
        name="Evaluate",
        step_args=processor(ScriptProcessor, xgb_image, "evaluate", command=["python3"]).run(
            code=code["evaluate.py"],
            inputs=[
                s3_in("model", model_uri, "/opt/ml/processing/model"),
                s3_in("test", pre_out["test"].S3Output.S3Uri, "/opt/ml/processing/test"),
                s3_in("fairness", fairness_uri, "/opt/ml/processing/fairness"),
                # The score PSI's reference and the names of the features SHAP explains.
                s3_in("train", pre_out["train"].S3Output.S3Uri, "/opt/ml/processing/train"),
                s3_in(
                    "artifacts", pre_out["artifacts"].S3Output.S3Uri, "/opt/ml/processing/artifacts"
                ),
                # The champion's model archive, scored on the same test rows.
                s3_in("champion", p_champion_url, "/opt/ml/processing/champion"),
                # The rows it was trained on: left out of the comparison.
                s3_in("champion-rows", p_champion_rows, "/opt/ml/processing/champion-rows"),
            ],
            outputs=[s3_out("evaluation", "/opt/ml/processing/evaluation", "evaluate")],
            arguments=[*args["evaluate"], "--champion-arn", p_champion_arn],
        ),
        property_files=[evaluation],
    )
    eval_uri = step_eval.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri

    # 4. Baseline for drift monitoring: the project's own engine, in its own image.
    step_baseline = ProcessingStep(
        name="Baseline",
        step_args=processor(
            Processor,
            P(Placeholder.PROJECT_IMAGE_URI),
            "baseline",
            entrypoint=["python3", "-m", "finmlops.monitoring.baseline_step"],
        ).run(
            inputs=[
                s3_in("baseline", pre_out["baseline"].S3Output.S3Uri, "/opt/ml/processing/input/baseline"),
                # The encoders name the categories behind the codes (the drift report shows names).
                s3_in("artifacts", pre_out["artifacts"].S3Output.S3Uri, "/opt/ml/processing/input/artifacts"),
                # The trained model: the attribution profile explanation drift compares with.
                s3_in("model", model_uri, "/opt/ml/processing/input/model"),
            ],
            outputs=[s3_out("baseline", "/opt/ml/processing/output/baseline", "baseline")],
            arguments=[
                "--input", "/opt/ml/processing/input/baseline",
                "--output", "/opt/ml/processing/output/baseline",
                "--numeric", ",".join(config.model.numeric_features),
                "--categorical", ",".join(config.model.categorical_features),
                "--model-id", config.model.name,
                "--encoders", "/opt/ml/processing/input/artifacts",
                "--model", "/opt/ml/processing/input/model",
                "--explain-rows", str(config.monitoring.explanation.sample_rows),
                # The raw data's fingerprint, so monitoring can tell this version's baseline.
                "--data-fingerprint", JsonGet(
                    step_name=step_pre.name, property_file=data_quality, json_path="data_fingerprint"
                ),
            ],
        ),
    )  # fmt: skip
    baseline_uri = step_baseline.properties.ProcessingOutputConfig.Outputs[
        "baseline"
    ].S3Output.S3Uri

    def at(prefix: Any, name: str) -> Any:
        return Join(on="/", values=[prefix, name])

    thresholds = [
        item
        for gate in GATES
        for item in ("--threshold", gate.parameter, str(gate_values[gate.parameter]))
    ]
    config_uri = f"s3://{BUCKET}/{shipped_config(config)[0]}"
    project_image = P(Placeholder.PROJECT_IMAGE_URI)

    def project_step(
        name: str,
        module: str,
        inputs: dict[str, Any],
        output: str,
        arguments: list[Any],
        **step: Any,
    ) -> Any:
        """A step of ours in the project image: each input and the output at its container
        path, and passed to the program as `--<input> <path>` and `--output <path>`."""
        local = {key: f"/opt/ml/processing/input/{key}" for key in inputs}
        out = f"/opt/ml/processing/output/{output}"
        paths = [item for key, path in local.items() for item in (f"--{key}", path)]
        return ProcessingStep(
            name=name,
            step_args=processor(
                Processor, project_image, name.lower(), entrypoint=["python3", "-m", module]
            ).run(
                inputs=[s3_in(key, uri, local[key]) for key, uri in inputs.items()],
                outputs=[s3_out(output, out, name.lower())],
                arguments=[*paths, "--output", out, *arguments],
            ),
            **step,
        )

    # 5. The served artifact (the model with the inference script under code/) and the reason
    # codes' coverage on the test split (docs/decisions/0026).
    source_uri = f"s3://{BUCKET}/{source_key(source_archive(config.model))}"
    step_package = project_step(
        "Package",
        "finmlops.serving.package_step",
        {
            "config": config_uri,
            "model": model_uri,
            "test": pre_out["test"].S3Output.S3Uri,
            "source": source_uri,
        },
        "package",
        [],
    )
    package_uri = step_package.properties.ProcessingOutputConfig.Outputs["package"].S3Output.S3Uri

    # 6. Governance evidence: the model card and the validation report of this version, and the
    # whole card as RegisterModel passes it to CreateModelPackage (ADR 0032).
    registry_card = PropertyFile(
        name="RegistryCard", output_name="evidence", path=REGISTRY_CARD_FILE
    )
    step_evidence = project_step(
        "Evidence",
        "finmlops.governance.evidence_step",
        {
            "config": config_uri,
            "artifacts": pre_out["artifacts"].S3Output.S3Uri,
            "evaluation": eval_uri,
            "baseline": baseline_uri,
            "reasons": package_uri,
        },
        "evidence",
        [
            "--git-commit", p_git,
            "--training-image", xgb_image,
            "--training-job-arn", step_train.properties.TrainingJobArn,
            "--model-artifact", model_uri,
            "--pipeline-execution-arn", ExecutionVariables.PIPELINE_EXECUTION_ARN,
            "--generated-at", ExecutionVariables.START_DATETIME,
            *thresholds,
        ],
        property_files=[registry_card],
    )  # fmt: skip
    evidence_uri = step_evidence.properties.ProcessingOutputConfig.Outputs[
        "evidence"
    ].S3Output.S3Uri
    build_steps = [step_train, step_eval, step_baseline, step_package, step_evidence]

    # 7. Experiment tracking on the SageMaker managed MLflow server (config.tracking).
    tracking_run = None
    if config.tracking.mode == "sagemaker":
        tracking_run = PropertyFile(name="TrackingRun", output_name="tracking", path="run.json")
        step_track = project_step(
            "Track",
            "finmlops.tracking.track_step",
            {
                "config": config_uri,
                "artifacts": pre_out["artifacts"].S3Output.S3Uri,
                "model": model_uri,
                "evaluation": eval_uri,
                "evidence": evidence_uri,
            },
            "tracking",
            [
                "--tracking-uri", P(Placeholder.MLFLOW_TRACKING_URI),
                "--run-name", ExecutionVariables.PIPELINE_EXECUTION_ID,
                "--git-commit", p_git,
                "--pipeline-execution-arn", ExecutionVariables.PIPELINE_EXECUTION_ARN,
                "--model-package-group", P(Placeholder.MODEL_PACKAGE_GROUP),
                *thresholds,
            ],
            property_files=[tracking_run],
        )  # fmt: skip
        build_steps.append(step_track)

    json_source = Evidence.CONTENT_TYPE_JSON
    metrics = ModelMetrics(
        model_statistics=MetricsSource(s3_uri=at(eval_uri, evaluate.EVALUATION_FILE), content_type=json_source),
        bias_post_training=MetricsSource(s3_uri=at(eval_uri, evaluate.FAIRNESS_FILE), content_type=json_source),
        model_data_statistics=MetricsSource(s3_uri=at(baseline_uri, "statistics.json"), content_type=json_source),
        model_data_constraints=MetricsSource(s3_uri=at(baseline_uri, "constraints.json"), content_type=json_source),
    )  # fmt: skip
    drift = DriftCheckBaselines(
        model_data_statistics=MetricsSource(s3_uri=at(baseline_uri, "statistics.json"), content_type=json_source),
        model_data_constraints=MetricsSource(s3_uri=at(baseline_uri, "constraints.json"), content_type=json_source),
    )  # fmt: skip

    # 8. Register, waiting for a human: the evidence contract (finmlops.contracts.Meta).
    governance = config.governance
    metadata = {
        Meta.MODEL_ID: config.model.name,
        Meta.RISK_TIER: governance.risk_tier,
        Meta.OWNER: governance.owner,
        Meta.VALIDATOR: governance.validator,
        Meta.DATA_CLASSIFICATION: governance.data_classification,
        Meta.DATA_FINGERPRINT: JsonGet(
            step_name=step_pre.name, property_file=data_quality, json_path="data_fingerprint"
        ),
        Meta.GIT_COMMIT: p_git,
        Meta.TRAINING_IMAGE: xgb_image,
        Meta.MODEL_CARD: at(evidence_uri, MODEL_CARD_FILE),
        Meta.VALIDATION_REPORT: at(evidence_uri, VALIDATION_REPORT_FILE),
        # The rows it was trained on (their digests), which a later challenger leaves out of
        # its comparison with this version (finmlops.registry.champion, ADR 0029).
        Meta.TRAINING_ROWS: at(eval_uri, evaluate.TRAIN_ROWS_FILE),
    }
    if tracking_run is not None:
        metadata[Meta.MLFLOW_RUN_ID] = JsonGet(
            step_name=step_track.name, property_file=tracking_run, json_path="run_id"
        )
    builder = ModelBuilder(
        # The packaged artifact: the trained model with the inference script under code/.
        s3_model_data_url=at(package_uri, package_step.MODEL_ARCHIVE),
        image_uri=xgb_image,
        sagemaker_session=session,
        role_arn=ROLE_ARN,
        # ModelBuilder's default `dependencies={"auto": True}` switches on its own script mode,
        # which writes SAGEMAKER_PROGRAM="" and SAGEMAKER_SUBMIT_DIRECTORY="" into the container;
        # the XGBoost serving stack then imports "" as the user module and every request fails
        # (docs/decisions/0013). The platform names its script and source archive itself: the
        # inference script that returns reasons with each score (docs/decisions/0026).
        dependencies=None,
        env_vars=serving_environment(package_step.SUBMIT_DIRECTORY),
    )
    step_register = ModelStep(
        name="RegisterModel",
        step_args=builder.register(
            model_package_group_name=P(Placeholder.MODEL_PACKAGE_GROUP),
            content_types=["text/csv"],
            # CSV scores by default; JSON with the principal reasons when asked (Accept).
            response_types=["text/csv", "application/json"],
            inference_instances=sorted({config.environments.stage.instances.endpoint,
                                        config.environments.prod.instances.endpoint}),
            transform_instances=[instances.processing],
            approval_status="PendingManualApproval",
            description=config.model.description or config.model.name,
            model_metrics=metrics,
            drift_check_baselines=drift,
            customer_metadata_properties=metadata,
            # Which execution registered the version: approval binds it to that execution's
            # RegisterModel step and reads its starter from AWS (finmlops.registry.authorship).
            metadata_properties=MetadataProperties(
                generated_by=ExecutionVariables.PIPELINE_EXECUTION_ARN, commit_id=p_git
            ),
            # The whole card of this build, from the Evidence step (ADR 0032): checked there
            # against the model package model card schema and CreateModelPackage's length.
            model_card=ModelPackageModelCard(
                model_card_content=JsonGet(
                    step_name=step_evidence.name, property_file=registry_card,
                    json_path=REGISTRY_CARD_CONTENT,
                ),
                model_card_status=REGISTRATION_CARD_STATUS,
            ),
        ),
    )  # fmt: skip

    # 9. Gates: one condition step per gate, chained; each failure has its own Fail step.
    property_files = {
        "data_quality": (step_pre, data_quality),
        "evaluation": (step_eval, evaluation),
    }
    compare = {">=": ConditionGreaterThanOrEqualTo, "<=": ConditionLessThanOrEqualTo}

    def gate_chain(gates: list[Gate], then: list[Any]) -> list[Any]:
        steps = then
        for gate in reversed(gates):
            step, prop = property_files[gate.source]
            value = JsonGet(step_name=step.name, property_file=prop, json_path=gate.path(config))
            fail = FailStep(
                name=f"Fail-{gate.name}",
                error_message=Join(on=" ", values=[
                    f"Gate {gate.name} failed ({gate.description}):", value,
                    "is not", gate.comparison, gate_values[gate.parameter],
                ]),
            )  # fmt: skip
            steps = [
                ConditionStep(
                    name=f"Gate-{gate.name}",
                    conditions=[
                        compare[gate.comparison](left=value, right=gate_values[gate.parameter])
                    ],
                    if_steps=steps,
                    else_steps=[fail],
                )
            ]
        return steps

    model_gates = gate_chain([g for g in GATES if g.source == "evaluation"], [step_register])
    # Training waits for the data-quality gates: bad data never costs a training job.
    dq_gates = gate_chain(
        [g for g in GATES if g.source == "data_quality"],
        [*build_steps, *model_gates],
    )
    return Pipeline(
        name=pipeline_name(config),
        parameters=[
            p_input,
            p_proc_type,
            p_train_type,
            p_git,
            p_champion_arn,
            p_champion_url,
            p_champion_rows,
        ],
        steps=[step_pre, *dq_gates],
        # No SageMaker Experiments entities: runs are tracked in MLflow (config.tracking), and the
        # default config would have SageMaker create an experiment, a trial and trial components
        # per execution with the pipeline role, which holds no sagemaker:CreateExperiment et al.
        # (docs page pipelines-experiments: "set pipeline_experiment_config to None").
        pipeline_experiment_config=None,
        sagemaker_session=session,
    )


def ModelTrainer_(**kwargs: Any) -> Any:  # noqa: N802 - the SDK class, imported late
    from sagemaker.train import ModelTrainer

    return ModelTrainer(**kwargs)


def build_pipeline_definition(config: Config) -> PipelineDefinition:
    """The definition JSON with placeholders, and the files the stack must ship."""
    region = config.environments.dev.region
    with _offline_sdk(region), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = _build(config, _session(region))
        body = pipeline.definition()
    # Round-trip through json with sorted keys so equal pipelines give equal bytes.
    body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    files = pipeline_files(config)
    return PipelineDefinition(name=pipeline_name(config), body=body, code_files=files)
