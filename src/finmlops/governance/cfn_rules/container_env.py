"""E9104: no empty container environment value, and no SAGEMAKER_* key the serving stack does not read.

AWS rule: the serving stack of SageMaker's framework containers (XGBoost, scikit-learn) reads
SAGEMAKER_PROGRAM as the user module; an empty string is not "no script": `ServingEnv()` keeps ""
(only None means no module), and `serving.main` then calls `importlib.import_module("")`, which
raises "Empty module name" on the first request. Sources: aws/sagemaker-containers
src/sagemaker_containers/_env.py (ServingEnv.__init__, _parse_module_name) and
aws/sagemaker-xgboost-container src/sagemaker_xgboost_container/serving.py (main). Any other
empty value is at best a no-op the reader must reason about, so it is refused too. A SAGEMAKER_*
key that none of the serving stacks reads is a misspelling or a leftover (KNOWN_SERVING_KEYS).

Checked: AWS::SageMaker::Model (PrimaryContainer, Containers), AWS::SageMaker::ModelPackage
(InferenceSpecification.Containers), and inside pipeline definitions the Environment of
processing, training and transform steps and the containers of RegisterModel and Model steps.
Unknown SAGEMAKER_* keys are judged on model containers (what the serving stack reads).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from finmlops.governance.cfn_rules import pipeline_definition
from finmlops.governance.cfn_rules.base import Check, Finding, ProjectRule, where
from finmlops.governance.cfn_rules.context import Resources, Stage

# The SAGEMAKER_* variables the serving stacks read, by source (read 2026-11-29):
# - aws/sagemaker-containers@526dda9 src/sagemaker_containers/_params.py (the XGBoost serving stack's
#   env module): *_ENV names;
# - aws/sagemaker-xgboost-container@cb8df91 src/sagemaker_xgboost_container/{serving,serving_mms}.py,
#   algorithm_mode/serve*.py, constants/sm_env_constants.py;
# - aws/sagemaker-inference-toolkit@f79853d src/sagemaker_inference/{parameters,model_server}.py.
KNOWN_SERVING_KEYS = frozenset(
    {
        # sagemaker-containers
        "SAGEMAKER_PROGRAM",
        "SAGEMAKER_SUBMIT_DIRECTORY",
        "SAGEMAKER_S3_OUTPUT",
        "SAGEMAKER_ENABLE_CLOUDWATCH_METRICS",
        "SAGEMAKER_CONTAINER_LOG_LEVEL",
        "SAGEMAKER_JOB_NAME",
        "SAGEMAKER_REGION",
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
        "SAGEMAKER_MODEL_SERVER_WORKERS",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT",
        "SAGEMAKER_USE_NGINX",
        "SAGEMAKER_BIND_TO_PORT",
        "SAGEMAKER_SAFE_PORT_RANGE",
        "SAGEMAKER_SERVING_MODULE",
        "SAGEMAKER_TRAINING_MODULE",
        # sagemaker-xgboost-container
        "SAGEMAKER_BATCH",
        "SAGEMAKER_DISABLE_CONTAINER_SUPPORT",
        "SAGEMAKER_INFERENCE_ENSEMBLE",
        "SAGEMAKER_INFERENCE_OUTPUT",
        "SAGEMAKER_MAX_DIRECT_MEMORY_SIZE",
        "SAGEMAKER_MAX_HEAP_SIZE",
        "SAGEMAKER_MAX_REQUEST_SIZE",
        "SAGEMAKER_MMS_DEFAULT_HANDLER",
        "SAGEMAKER_MMS_LOAD_MODELS",
        "SAGEMAKER_MMS_MODEL_STORE",
        "SAGEMAKER_MODEL_JOB_QUEUE_SIZE",
        "SAGEMAKER_MULTI_MODEL",
        "SAGEMAKER_NUM_MODEL_WORKERS",
        # sagemaker-inference-toolkit
        "SAGEMAKER_BASE_DIR",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS",
        "SAGEMAKER_MODEL_SERVER_VMARGS",
        "SAGEMAKER_STARTUP_TIMEOUT",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB",
        "SAGEMAKER_HANDLER",
    }
)
SOURCE = (
    "aws/sagemaker-containers _env.py ServingEnv and aws/sagemaker-xgboost-container serving.py "
    "main (SAGEMAKER_PROGRAM ''), the three serving stacks' SAGEMAKER_* variables"
)

Environment = tuple[str, Mapping[str, Any], bool]  # (where, environment, is a model container)


def _containers(spec: Mapping[str, Any], label: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    primary = spec.get("PrimaryContainer")
    if isinstance(primary, Mapping):
        yield f"{label}PrimaryContainer", primary
    containers = spec.get("Containers")
    for index, container in enumerate(containers if isinstance(containers, list) else []):
        if isinstance(container, Mapping):
            yield f"{label}Containers/{index}", container


def _step_environments(step: pipeline_definition.Step) -> Iterator[Environment]:
    arguments = step.arguments
    if step.type in ("Processing", "Training", "Transform"):
        environment = arguments.get("Environment")
        if isinstance(environment, Mapping):
            yield f"step {step.where} Environment", environment, False
    if step.type == "RegisterModel":
        spec = arguments.get("InferenceSpecification")
        if isinstance(spec, Mapping):
            for label, container in _containers(spec, "InferenceSpecification/"):
                environment = container.get("Environment")
                if isinstance(environment, Mapping):
                    yield f"step {step.where} {label}/Environment", environment, True
    if step.type == "Model":
        for label, container in _containers(arguments, ""):
            environment = container.get("Environment")
            if isinstance(environment, Mapping):
                yield f"step {step.where} {label}/Environment", environment, True


def _problems(environment: Mapping[str, Any], model: bool) -> Iterator[tuple[str, str]]:
    for raw_key, value in environment.items():
        key = str(raw_key)
        if isinstance(value, str) and value == "":
            why = (
                "the XGBoost serving stack imports '' as a module and fails every request "
                "(unset the key for the algorithm's default handler)"
                if key == "SAGEMAKER_PROGRAM"
                else "an empty value is set, not unset"
            )
            yield key, f"{key} is the empty string: {why}"
        if model and key.upper().startswith("SAGEMAKER_") and key not in KNOWN_SERVING_KEYS:
            yield key, f"{key} is read by no SageMaker serving stack (a misspelling or a leftover)"


def _path(logical_id: str, label: str) -> tuple[str | int, ...]:
    parts = [int(p) if p.isdigit() else p for p in label.split("/")]
    return ("Resources", logical_id, "Properties", *parts, "Environment")


def check(template: Mapping[str, Any], stage: Stage) -> list[Finding]:
    findings: list[Finding] = []
    resources = Resources(template)

    def report(
        path: tuple[str | int, ...], resource: str, inner: str, env: Mapping[str, Any], model: bool
    ) -> None:
        for key, problem in _problems(env, model):
            place = f"{where(path)}" + (f" ({inner})" if inner else "")
            findings.append(
                Finding(
                    path if inner else (*path, key),
                    f"{path[1]} ({resource}) {place}: {problem}. AWS rule: SageMaker passes "
                    f"the Environment to the container as is; the serving stack reads "
                    f"SAGEMAKER_* variables by name. Source: {SOURCE}.",
                    key,
                )
            )

    for kind, logical_id, properties in resources.of("AWS::SageMaker::Model"):
        for label, container in _containers(properties, ""):
            environment = container.get("Environment")
            if isinstance(environment, Mapping):
                report(_path(logical_id, label), kind, "", environment, True)
    for kind, logical_id, properties in resources.of("AWS::SageMaker::ModelPackage"):
        spec = properties.get("InferenceSpecification")
        for label, container in _containers(
            spec if isinstance(spec, Mapping) else {}, "InferenceSpecification/"
        ):
            environment = container.get("Environment")
            if isinstance(environment, Mapping):
                report(_path(logical_id, label), kind, "", environment, True)
    for logical_id, path, definition in pipeline_definition.pipelines(template, stage):
        if isinstance(definition, pipeline_definition.DefinitionError):
            findings.append(
                Finding(
                    path,
                    f"{logical_id} (AWS::SageMaker::Pipeline) {where(path)}: cannot read the "
                    f"definition to check its containers: {definition}",
                    "PipelineDefinitionBody",
                )
            )
            continue
        for step in pipeline_definition.steps(definition):
            for inner, environment, model in _step_environments(step):
                report(path, "AWS::SageMaker::Pipeline", inner, environment, model)
    return findings


class ContainerEnvironment(ProjectRule):
    id = "E9104"
    shortdesc = "No empty container environment value, no unknown SAGEMAKER_* key"
    description = (
        "Model containers and pipeline jobs set no environment variable to the empty string "
        "(an empty SAGEMAKER_PROGRAM breaks the XGBoost serving stack) and name only the "
        "SAGEMAKER_* variables the serving stacks read."
    )
    source_url = "https://github.com/aws/sagemaker-xgboost-container/blob/master/src/sagemaker_xgboost_container/serving.py"
    tags: ClassVar[list[str]] = ["sagemaker", "container", "finmlops"]
    check: ClassVar[Check] = check
