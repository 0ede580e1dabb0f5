"""The champion: the version serving in prod, read from what AWS records (stdlib and boto3 only).

A challenger is compared with the champion on its own test rows by the evaluate step
(`finmlops.steps.evaluate.champion_comparison`), and the gate `max-auc-drop-vs-champion` refuses a
challenger that loses too much AUC against it. Which version is the champion must never be the
data scientist's choice: naming a weak old version (or none) would make any challenger look
good. So the champion is what the registry records as running in prod:

- **the registry's ModelLifeCycle** (`DescribeModelPackage.ModelLifeCycle`, SageMaker API
  reference `API_ModelLifeCycle`): the version whose `Stage` is `Production`
  (`contracts.Stage.BY_ENVIRONMENT["prod"]`) with `StageStatus` `Deployed`. Only promotion's
  registry-lifecycle role may write these values: its IAM policy is conditioned on
  `sagemaker:ModelLifeCycle:Stage` and `...:StageStatus` (docs page
  `model-registry-staging-construct-set-up`), and `promote record` writes them only after
  SageMaker says the prod endpoint serves the package (`registry.promotion.record_deployment`);
  a rollback moves the mark back.
- `finmlops build start` reads it and passes the champion to the build as pipeline
  parameters (`Param.CHAMPION_MODEL_PACKAGE_ARN`, `Param.CHAMPION_MODEL_DATA_URL`, and
  `Param.CHAMPION_TRAINING_ROWS_URL`: the digests of the rows it was trained on, beside the
  evaluation.json its own build registered, which the evaluate step leaves out of the
  comparison), `none` for the first version. A parameter is the caller's choice, so it is only
  a claim.
- **approval** (the approve command, the approval-event handler, `promote resolve`: all through
  `registry.gatecheck.check_gates`) re-reads the registry and refuses a version whose build
  compared with another champion than the one serving now: the parameters AWS recorded for the
  execution (`ListPipelineParametersForExecution`), the champion the evaluation says it scored
  (`champion` in evaluation.json), and, for a pipeline build, that the execution's Evaluate step
  read its champion inputs and ARN from those parameters (`DescribePipelineDefinitionForExecution`).
  A stale champion (prod moved on since the build) is refused the same way: build again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finmlops.contracts import Meta, Param, Stage
from finmlops.registry.errors import InvalidInputError
from finmlops.registry.versions import ModelVersion, list_versions

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

# The parameters' value, and evaluation.json's `champion.status`, when nothing serves in prod.
NO_CHAMPION = "none"
COMPARED = "compared"
PROD_STAGE = Stage.BY_ENVIRONMENT["prod"]
# The Evaluate step's processing input that carries the champion's model artifact, and the
# argument that names it (finmlops_pipelines.definition, finmlops.steps.evaluate).
EVALUATE_STEP = "Evaluate"
CHAMPION_INPUT = "champion"
CHAMPION_ARN_ARGUMENT = "--champion-arn"
# The input that carries the champion's training-row digests (finmlops.steps.evaluate).
CHAMPION_ROWS_INPUT = "champion-rows"
CHAMPION_PARAMETERS = (
    Param.CHAMPION_MODEL_PACKAGE_ARN,
    Param.CHAMPION_MODEL_DATA_URL,
    Param.CHAMPION_TRAINING_ROWS_URL,
)
# The champion's training-row digests, beside the evaluation.json its ModelMetrics name
# (finmlops.steps.evaluate.TRAIN_ROWS_FILE).
TRAINING_ROWS_FILE = "train_rows.txt"


@dataclass(frozen=True)
class Champion:
    """The version serving in prod, as the registry records it."""

    arn: str
    version: int
    model_data_url: str
    # Where its training-row digests are: beside the evaluation.json its
    # ModelMetrics.ModelQuality.Statistics names (what its own build registered); "" when it
    # records none (the build then keeps the definition's default, the no-champion marker, and
    # the evaluation says the rows could not be excluded).
    training_rows_url: str = ""

    @property
    def label(self) -> str:
        return f"version {self.version} ({self.arn})"


def serving_champion(
    sm: SageMakerClient, group: str, versions: Sequence[ModelVersion] | None = None
) -> Champion | None:
    """The version of `group` whose ModelLifeCycle says Production / Deployed, or None when no
    version does (the first version of a model). Two such versions are an inconsistent record:
    InvalidInputError names both (fail safe; `promote record` again to settle it)."""
    found = [
        v
        for v in (versions if versions is not None else list_versions(sm, group))
        if v.lifecycle is not None
        and v.lifecycle.stage == PROD_STAGE
        and v.lifecycle.status == Stage.DEPLOYED
    ]
    if len(found) > 1:
        raise InvalidInputError(
            f"champion: versions {', '.join(str(v.version) for v in found)} of {group} all say "
            f"ModelLifeCycle {PROD_STAGE}/{Stage.DEPLOYED}; the registry must name one"
        )
    if not found:
        return None
    return Champion(
        found[0].arn, found[0].version, found[0].model_data_url, training_rows_url(found[0])
    )


def training_rows_url(version: ModelVersion) -> str:
    """The version's training-row digests: train_rows.txt beside the evaluation.json its
    ModelMetrics.ModelQuality.Statistics names, when its metadata `training-rows` says its build
    wrote them there; "" otherwise (a version registered before they existed: no object to read,
    and a processing input of a missing object would fail the build).

    The location comes from ModelMetrics, which the build's register step wrote; the metadata
    only says whether the file exists. Changing it can only make a build fail (named, nothing
    registered) or keep every test row (the comparison then leans toward the champion)."""
    source = (version.model_metrics.get("ModelQuality") or {}).get("Statistics") or {}
    uri = str(source.get("S3Uri", "")) if isinstance(source, Mapping) else ""
    folder, _, name = uri.rpartition("/")
    if not uri.startswith("s3://") or not name or folder.count("/") < 3:
        return ""
    url = f"{folder}/{TRAINING_ROWS_FILE}"
    return url if version.metadata.get(Meta.TRAINING_ROWS) == url else ""


def champion_parameters(champion: Champion | None) -> dict[str, str]:
    """The build's champion parameters: what `finmlops build start` passes. Without a champion
    only the ARN, `none`: the model artifact input keeps the definition's default, the
    no-champion marker the stack ships (a processing input needs an S3 object)."""
    if champion is None:
        return {Param.CHAMPION_MODEL_PACKAGE_ARN: NO_CHAMPION}
    return {
        Param.CHAMPION_MODEL_PACKAGE_ARN: champion.arn,
        Param.CHAMPION_MODEL_DATA_URL: champion.model_data_url,
        **(
            {Param.CHAMPION_TRAINING_ROWS_URL: champion.training_rows_url}
            if champion.training_rows_url
            else {}
        ),
    }


def _serving(champion: Champion | None) -> str:
    return champion.label if champion else f"no version ({NO_CHAMPION} in {PROD_STAGE})"


def recorded_champion(document: Any) -> tuple[str, str]:
    """(status, ARN) of the champion an evaluation.json says it scored; ("", "") when absent."""
    section = document.get("champion") if isinstance(document, Mapping) else None
    if not isinstance(section, Mapping):
        return "", ""
    return str(section.get("status", "")), str(section.get("model_package_arn", ""))


def evaluation_problems(document: Any, champion: Champion | None, uri: str) -> list[str]:
    """Whether the evaluation compared with the champion serving now."""
    status, arn = recorded_champion(document)
    if not status:
        return [f"champion: {uri} records no champion comparison; {_serving(champion)} serves"]
    if champion is None:
        if status != NO_CHAMPION:
            return [
                f"champion: the evaluation compared with {arn or 'an unnamed version'}, but no "
                f"version serves in {PROD_STAGE} per the registry's ModelLifeCycle"
            ]
        return []
    if status != COMPARED or arn != champion.arn:
        scored = arn if status == COMPARED else "no champion"
        return [
            f"champion: the evaluation compared with {scored}, but {champion.label} serves in "
            f"{PROD_STAGE} per the registry's ModelLifeCycle; build again"
        ]
    return []


def parameter_problems(
    parameters: Mapping[str, str], defaults: Mapping[str, Any], champion: Champion | None
) -> list[str]:
    """Whether the execution's champion parameters (as AWS recorded them, else the definition's
    defaults) name the champion serving now, ARN and model artifact."""
    expected = champion_parameters(champion)
    problems = []
    for name in CHAMPION_PARAMETERS:
        if name not in expected and name in parameters and parameters[name] != defaults.get(name):
            # Not the registry's to set (no champion, or none recorded): a value other than the
            # definition's default is the caller's choice, e.g. training rows of its own picking.
            problems.append(
                f"champion: the build ran with {name}={parameters[name]}, but the registry gives "
                f"no value for it ({_serving(champion)} serves in {PROD_STAGE}); the "
                f"definition's default is {defaults.get(name)}"
            )
    for name in expected:
        used = parameters.get(name, defaults.get(name))
        if used is None:
            problems.append(f"champion: the build declares no parameter {name}")
        elif str(used) != expected[name]:
            problems.append(
                f"champion: the build ran with {name}={used}, but {_serving(champion)} serves in "
                f"{PROD_STAGE} per the registry's ModelLifeCycle (its value: {expected[name]})"
            )
    return problems


def _is_parameter(node: Any, name: str) -> bool:
    return isinstance(node, Mapping) and node == {"Get": f"Parameters.{name}"}


def definition_problems(steps: Mapping[str, Any]) -> list[str]:
    """Whether the execution's Evaluate step read the champion from the parameters: its
    `champion` input from ChampionModelDataUrl and `--champion-arn` from ChampionModelPackageArn.
    `steps` maps step names to step definitions (every branch)."""
    step = steps.get(EVALUATE_STEP)
    if not isinstance(step, Mapping):
        return [f"champion: the build has no step {EVALUATE_STEP}"]
    arguments = step.get("Arguments") or {}
    inputs = [
        i for i in arguments.get("ProcessingInputs") or [] if i.get("InputName") == CHAMPION_INPUT
    ]
    uri = ((inputs[0].get("S3Input") or {}).get("S3Uri")) if inputs else None
    problems = []
    if not _is_parameter(uri, Param.CHAMPION_MODEL_DATA_URL):
        problems.append(
            f"champion: {EVALUATE_STEP}'s input {CHAMPION_INPUT!r} is {json.dumps(uri)}, not the "
            f"parameter {Param.CHAMPION_MODEL_DATA_URL}"
        )
    rows = [
        i
        for i in arguments.get("ProcessingInputs") or []
        if i.get("InputName") == CHAMPION_ROWS_INPUT
    ]
    rows_uri = ((rows[0].get("S3Input") or {}).get("S3Uri")) if rows else None
    if not _is_parameter(rows_uri, Param.CHAMPION_TRAINING_ROWS_URL):
        problems.append(
            f"champion: {EVALUATE_STEP}'s input {CHAMPION_ROWS_INPUT!r} is "
            f"{json.dumps(rows_uri)}, not the parameter {Param.CHAMPION_TRAINING_ROWS_URL}"
        )
    container = ((arguments.get("AppSpecification") or {}).get("ContainerArguments")) or []
    named = [
        container[i + 1] for i, item in enumerate(container[:-1]) if item == CHAMPION_ARN_ARGUMENT
    ]
    if len(named) != 1 or not _is_parameter(named[0], Param.CHAMPION_MODEL_PACKAGE_ARN):
        problems.append(
            f"champion: {EVALUATE_STEP}'s {CHAMPION_ARN_ARGUMENT} is not the parameter "
            f"{Param.CHAMPION_MODEL_PACKAGE_ARN}"
        )
    return problems
