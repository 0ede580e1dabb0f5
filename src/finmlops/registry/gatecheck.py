"""The platform's release gates, re-checked at approval and promotion (stdlib and boto3 only).

A version passed its build's gates, but the build's definition is repository code and its
thresholds were once run-time parameters: neither is the platform's word. So approval (CLI and
handler) and promotion (`promote resolve`) check two things against the gates of the platform
config in force (`finmlops.gates.platform_gates`; in the handler, `Promotion.ENV_GATES`):

- **the recorded metrics**: each evaluation gate's value in the JSON that the version's
  `ModelMetrics.ModelQuality.Statistics` names (the evaluation step's `evaluation.json`), compared
  with the platform's threshold;
- **the build's gates**, when a pipeline execution registered the version: what AWS recorded of
  that execution (`DescribePipelineDefinitionForExecution` and
  `ListPipelineParametersForExecution`). Every platform gate must be a condition step
  `Gate-<name>` on the way to the RegisterModel step that created the version, comparing the
  gate's JSON path the platform's way with a threshold no weaker than the platform's. The
  data-quality gates can only be checked this way (their values are not in ModelMetrics).
- **the champion**, at approval (the approve command and the approval-event handler), when the
  platform gates compare with one: the version must have been compared with the version the
  registry records as serving in prod now, never with one the build's starter chose
  (`finmlops.registry.champion`, ADR 0029). Promotion does not repeat it: prod may have moved
  on since the approval by the platform's own acts (a promotion, a rollback).

Every problem names the gate, the version's value or the build's threshold, and the platform's.
The fairness gates' paths name the protected groups and cut-off of the platform's config
(`finmlops.fairness.gate_path`): a version whose evaluation measured other groups has no value
there and is refused. The re-check records every protected group's recorded result.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from finmlops.registry.authorship import Authorship, execution_parameters
from finmlops.registry.champion import (
    PROD_STAGE,
    definition_problems,
    evaluation_problems,
    parameter_problems,
    serving_champion,
)
from finmlops.registry.errors import InvalidInputError
from finmlops.registry.versions import ModelVersion

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

EVALUATION = "evaluation"
DATA_QUALITY = "data_quality"
# The evaluation document a version records: where the evaluation gates' values are.
RECORDED_METRICS = "ModelMetrics.ModelQuality.Statistics"
GATE_STEP_PREFIX = "Gate-"
# evaluation.json's section of the champion comparison (finmlops.steps.evaluate.CHAMPION_SECTION).
CHAMPION_SECTION = "champion"

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}
# The pipeline condition types of each comparison (SageMaker pipeline definition schema).
_CONDITIONS = {">=": "GreaterThanOrEqualTo", "<=": "LessThanOrEqualTo"}


@dataclass(frozen=True)
class PlatformGate:
    """One gate of the platform: what it compares, how, and the threshold in force."""

    name: str
    description: str
    source: str  # EVALUATION or DATA_QUALITY: which step's JSON output holds the value
    json_path: str
    comparison: str  # ">=" or "<="
    threshold: float

    def __post_init__(self) -> None:
        if self.comparison not in _OPS:
            raise InvalidInputError(f"gate {self.name}: comparison {self.comparison!r}")
        if self.source not in {EVALUATION, DATA_QUALITY}:
            raise InvalidInputError(f"gate {self.name}: source {self.source!r}")

    @property
    def step_name(self) -> str:
        """The condition step that applies this gate in the build pipeline."""
        return f"{GATE_STEP_PREFIX}{self.name}"

    def passes(self, value: float) -> bool:
        return _OPS[self.comparison](value, self.threshold)

    def weaker(self, build_threshold: float) -> bool:
        """Whether a build's threshold lets through a value the platform's would stop."""
        return not _OPS[self.comparison](build_threshold, self.threshold)

    def rule(self) -> str:
        return f"{self.comparison} {self.threshold:g}"


def gates_to_json(gates: Iterable[PlatformGate]) -> str:
    """The gates as the handler's environment carries them (`Promotion.ENV_GATES`)."""
    return json.dumps([asdict(g) for g in gates], sort_keys=True, separators=(",", ":"))


def gates_from_json(text: str, where: str) -> tuple[PlatformGate, ...]:
    """Gates back from `gates_to_json`; bad input names `where` and the field."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInputError(f"{where}: not JSON") from None
    if not isinstance(data, list) or not data:
        raise InvalidInputError(f"{where}: expected a non-empty list of gates")
    gates: list[PlatformGate] = []
    for number, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"{where}[{number}]: expected an object")
        try:
            threshold = float(item["threshold"])
            gate = PlatformGate(
                name=str(item["name"]),
                description=str(item.get("description", "")),
                source=str(item["source"]),
                json_path=str(item["json_path"]),
                comparison=str(item["comparison"]),
                threshold=threshold,
            )
        except KeyError as exc:
            raise InvalidInputError(f"{where}[{number}]: missing {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{where}[{number}]: {exc}") from None
        if not math.isfinite(threshold):
            raise InvalidInputError(f"{where}[{number}].threshold: not a finite number")
        gates.append(gate)
    return tuple(gates)


def json_value(document: Any, path: str) -> float | None:
    """The number at a dotted path, as the pipeline's JsonGet reads it (None when absent)."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float) or not math.isfinite(node):
        return None
    return float(node)


# --------------------------------------------------------------------------- recorded metrics

# The gate whose recorded value is the version's validated AUC (finmlops.gates names it; the
# deployment manifest carries the value to the quality monitor).
VALIDATED_AUC_GATE = "min-auc"


def recorded_metrics_uri(version: ModelVersion) -> str:
    source = (version.model_metrics.get("ModelQuality") or {}).get("Statistics") or {}
    return str(source.get("S3Uri", "")) if isinstance(source, Mapping) else ""


def _read_json(s3: S3Client, uri: str) -> tuple[Any, str]:
    """(document, problem): the JSON at an s3:// URI, or why it could not be read."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        return None, f"{RECORDED_METRICS} is not an s3://bucket/key URI ({uri!r})"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NoSuchBucket"}:
            return None, f"{RECORDED_METRICS} {uri} does not exist"
        raise
    try:
        return json.loads(body), ""
    except ValueError:
        return None, f"{RECORDED_METRICS} {uri} is not JSON"


# The evaluate step names the worst group of each fairness gate's metric beside its value.
_WORST_GROUP = {
    "disparate_impact": "disparate_impact_group",
    "statistical_parity_difference_abs": "statistical_parity_group",
}


def _worst_group(document: Any, path: str) -> str:
    head, _, metric = path.rpartition(".")
    fairness = document.get("fairness") if isinstance(document, Mapping) else None
    if not head.startswith("fairness.") or not isinstance(fairness, Mapping):
        return ""
    group = fairness.get(_WORST_GROUP.get(metric, ""))
    return f" (protected group {json.dumps(group, ensure_ascii=False)})" if group else ""


def _no_value(document: Any, uri: str, path: str) -> str:
    head = path.split(".")
    if head[0] == "fairness" and len(head) == 3 and isinstance(document, Mapping):
        recorded = [k for k in (document.get("fairness") or {}) if str(k).startswith("spec_")]
        return (
            f"{uri} has no number at {path}: the version's evaluation measured "
            f"{', '.join(recorded) or 'no'} fairness spec, not the platform's protected groups "
            "and cut-off"
        )
    return f"{uri} has no number at {path}"


def fairness_groups(document: Any) -> list[str]:
    """Each protected group's recorded result, one line each, the id JSON-quoted so a label
    holding a comma or a semicolon reads as one."""
    fairness = document.get("fairness") if isinstance(document, Mapping) else None
    groups = fairness.get("groups") if isinstance(fairness, Mapping) else None
    lines: list[str] = []
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, Mapping):
            continue
        name = json.dumps(str(group.get("id", "?")), ensure_ascii=False)
        if group.get("measurable"):
            lines.append(
                f"{name}: disparate impact {group.get('disparate_impact')}, parity difference "
                f"{group.get('statistical_parity_difference')} "
                f"({group.get('protected_count')} vs {group.get('reference_count')} rows)"
            )
        else:
            lines.append(f"{name}: {group.get('reason', 'not measurable')}")
    return lines


def metric_problems(
    s3: S3Client, version: ModelVersion, gates: Sequence[PlatformGate]
) -> tuple[list[str], dict[str, float], list[str]]:
    """(problems, values, fairness groups): each evaluation gate's recorded value against the
    platform's rule, and each protected group's recorded result."""
    uri = recorded_metrics_uri(version)
    checked = [g for g in gates if g.source == EVALUATION]
    if not checked:
        return [], {}, []
    if not uri:
        return [f"gates: {RECORDED_METRICS} is not recorded, nothing to re-check"], {}, []
    document, problem = _read_json(s3, uri)
    if problem:
        return [f"gates: {problem}"], {}, []
    problems: list[str] = []
    values: dict[str, float] = {}
    for gate in checked:
        value = json_value(document, gate.json_path)
        if value is None:
            problems.append(f"gate {gate.name}: {_no_value(document, uri, gate.json_path)}")
            continue
        values[gate.name] = value
        if not gate.passes(value):
            problems.append(
                f"gate {gate.name}: the version's {gate.description or gate.json_path} is "
                f"{value:.4g}{_worst_group(document, gate.json_path)}; the platform requires "
                f"{gate.rule()}"
            )
    return problems, values, fairness_groups(document)


# --------------------------------------------------------------------------- the build's gates


def _walk(
    steps: Sequence[Mapping[str, Any]], path: tuple[tuple[str, str], ...]
) -> Iterable[tuple[Mapping[str, Any], tuple[tuple[str, str], ...]]]:
    """Every step with the (condition step, branch) pairs that lead to it."""
    for step in steps:
        yield step, path
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments") or {}
            for branch in ("IfSteps", "ElseSteps"):
                yield from _walk(arguments.get(branch) or [], (*path, (step["Name"], branch)))


def _threshold(right: Any, passed: Mapping[str, str], defaults: Mapping[str, Any]) -> float | None:
    if isinstance(right, Mapping) and set(right) == {"Get"}:
        name = str(right["Get"]).removeprefix("Parameters.")
        if name == right["Get"]:
            return None
        right = passed.get(name, defaults.get(name))
    try:
        value = float(right)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class BuildGates:
    """What the build that registered a version applied, per gate: its threshold, or why it
    did not apply the platform's gate."""

    thresholds: Mapping[str, float]
    deviations: Mapping[str, str]


def build_gates(
    definition: Mapping[str, Any],
    parameters: Mapping[str, str],
    register_step: str,
    gates: Sequence[PlatformGate],
) -> BuildGates:
    """The gates the execution's definition applied on the way to `register_step`."""
    steps = {
        str(step.get("Name")): (step, path) for step, path in _walk(definition.get("Steps", []), ())
    }
    defaults = {str(p.get("Name")): p.get("DefaultValue") for p in definition.get("Parameters", [])}
    if register_step not in steps:
        missing = {g.name: f"the definition has no step {register_step}" for g in gates}
        return BuildGates({}, missing)
    on_the_way = dict(steps[register_step][1])
    thresholds: dict[str, float] = {}
    deviations: dict[str, str] = {}
    for gate in gates:
        if on_the_way.get(gate.step_name) != "IfSteps":
            deviations[gate.name] = (
                f"no condition step {gate.step_name} guards {register_step} in the build"
            )
            continue
        conditions = (steps[gate.step_name][0].get("Arguments") or {}).get("Conditions") or []
        matching = [
            c
            for c in conditions
            if c.get("Type") == _CONDITIONS[gate.comparison]
            and isinstance(c.get("LeftValue"), Mapping)
            and (c["LeftValue"].get("Std:JsonGet") or {}).get("Path") == gate.json_path
        ]
        if not matching:
            deviations[gate.name] = (
                f"{gate.step_name} does not compare {gate.json_path} {gate.comparison} a threshold"
            )
            continue
        value = _threshold(matching[0].get("RightValue"), parameters, defaults)
        if value is None:
            deviations[gate.name] = f"{gate.step_name} compares with no number"
            continue
        thresholds[gate.name] = value
    return BuildGates(thresholds, deviations)


def build_problems(build: BuildGates, gates: Sequence[PlatformGate]) -> list[str]:
    problems = [
        f"gate {name}: the build did not apply the platform's gate ({why})"
        for name, why in build.deviations.items()
    ]
    for gate in gates:
        used = build.thresholds.get(gate.name)
        if used is not None and gate.weaker(used):
            problems.append(
                f"gate {gate.name}: the version was built with the weaker gate "
                f"{gate.comparison} {used:g}; the platform requires {gate.rule()}"
            )
    return problems


def read_definition(sm: SageMakerClient, execution_arn: str) -> Mapping[str, Any] | None:
    """The definition AWS recorded for the execution, or None when it is not a JSON object."""
    described = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=execution_arn)
    try:
        definition = json.loads(described["PipelineDefinition"])
    except ValueError:
        return None
    return definition if isinstance(definition, Mapping) else None


def read_build_gates(
    sm: SageMakerClient,
    execution_arn: str,
    register_step: str,
    gates: Sequence[PlatformGate],
    parameters: Mapping[str, str],
) -> BuildGates:
    """The build's gates from what AWS recorded of the execution."""
    definition = read_definition(sm, execution_arn)
    if definition is None:
        return BuildGates({}, {g.name: "the execution's definition is not JSON" for g in gates})
    return build_gates(definition, parameters, register_step, gates)


# --------------------------------------------------------------------------- the champion


def compares_with_champion(gates: Sequence[PlatformGate]) -> bool:
    """Whether the platform's gates include one on the champion comparison (ADR 0029)."""
    return any(g.json_path.startswith(f"{CHAMPION_SECTION}.") for g in gates)


def champion_problems(
    sm: SageMakerClient,
    s3: S3Client,
    version: ModelVersion,
    definition: Mapping[str, Any] | None,
    parameters: Mapping[str, str],
) -> tuple[list[str], str]:
    """(problems, what was checked): whether the version was compared with the champion the
    registry records as serving in prod now (`registry.champion`). A version that itself serves
    in prod was compared with its predecessor before it got there: nothing to check."""
    try:
        champion = serving_champion(sm, version.group)
    except InvalidInputError as exc:
        return [str(exc)], "unknown"
    if champion is not None and champion.arn == version.arn:
        return [], f"{champion.label} is this version"
    serving = champion.label if champion else f"none in {PROD_STAGE}"
    problems: list[str] = []
    uri = recorded_metrics_uri(version)
    if uri:
        document, problem = _read_json(s3, uri)
        problems += (
            [f"champion: {problem}"] if problem else evaluation_problems(document, champion, uri)
        )
    if definition is not None:
        defaults = {
            str(p.get("Name")): p.get("DefaultValue") for p in definition.get("Parameters", [])
        }
        steps = {str(step.get("Name")): step for step, _ in _walk(definition.get("Steps", []), ())}
        problems += parameter_problems(parameters, defaults, champion) + definition_problems(steps)
    return problems, serving


# --------------------------------------------------------------------------- the tier's evidence

# What each name of a risk tier's `required_evidence` (config governance.tiers, SR 26-2:
# validation depth by tier) needs in the version's evaluation.json, as the evaluate step writes
# it: the section, and what makes it evidence rather than a placeholder.
REQUIRED_EVIDENCE: Mapping[str, str] = {
    "champion_comparison": "champion: compared with the champion (with a paired bootstrap "
    "interval of the AUC difference), or none serving",
    "fairness": "fairness.groups: at least one measurable protected group",
    "bootstrap_intervals": "uncertainty: bootstrap intervals of the AUC and the KS",
    "explanations": "explanation.importance: the model's global importance, its SHAP "
    "contributions adding up to the margin",
    "score_stability": "score_stability.train_vs_test: the PSI of train vs test scores",
}
# The explanation's contributions must add up to the model's margin within this (the evaluate
# step refuses a larger error; finmlops.steps.evaluate.explain).
_ADDITIVITY_TOLERANCE = 1e-3


def _number(node: Any, path: str) -> bool:
    return json_value(node, path) is not None


def _champion_evidence(document: Mapping[str, Any]) -> bool:
    section = document.get(CHAMPION_SECTION)
    if not isinstance(section, Mapping):
        return False
    if section.get("status") == "none":
        return True
    return section.get("status") == "compared" and _number(section, "difference.auc.lower")


def _fairness_evidence(document: Mapping[str, Any]) -> bool:
    fairness = document.get("fairness")
    groups = fairness.get("groups") if isinstance(fairness, Mapping) else None
    return isinstance(groups, list) and any(
        isinstance(g, Mapping) and g.get("measurable") is True for g in groups
    )


def _interval_evidence(document: Mapping[str, Any]) -> bool:
    return all(
        _number(document, f"uncertainty.{metric}.{bound}")
        for metric in ("auc", "ks")
        for bound in ("lower", "upper")
    )


def _explanation_evidence(document: Mapping[str, Any]) -> bool:
    section = document.get("explanation")
    if not isinstance(section, Mapping):
        return False
    error = json_value(section, "additivity_max_error")
    importance = section.get("importance")
    return (
        isinstance(importance, list)
        and bool(importance)
        and error is not None
        and error <= _ADDITIVITY_TOLERANCE
    )


_EVIDENCE_CHECKS: Mapping[str, Callable[[Mapping[str, Any]], bool]] = {
    "champion_comparison": _champion_evidence,
    "fairness": _fairness_evidence,
    "bootstrap_intervals": _interval_evidence,
    "explanations": _explanation_evidence,
    "score_stability": lambda d: _number(d, "score_stability.train_vs_test.psi"),
}


def _has_evidence(document: Mapping[str, Any], name: str) -> bool:
    check = _EVIDENCE_CHECKS.get(name)
    if check is None:
        raise InvalidInputError(
            f"required evidence {name!r}: not one of {', '.join(REQUIRED_EVIDENCE)}"
        )
    return check(document)


def required_evidence_problems(
    s3: S3Client, version: ModelVersion, required: Sequence[str], tier: str
) -> list[str]:
    """Each evidence section the risk tier requires (config `governance.tiers.<tier>.
    required_evidence`) that the version's recorded evaluation lacks, named with what it needs."""
    if not required:
        return []
    where = f"risk tier {tier or '?'} (governance.tiers.{tier or '?'}.required_evidence)"
    uri = recorded_metrics_uri(version)
    if not uri:
        return [f"tier evidence: {RECORDED_METRICS} is not recorded; {where} requires "
                f"{', '.join(required)}"]  # fmt: skip
    document, problem = _read_json(s3, uri)
    if problem or not isinstance(document, Mapping):
        return [f"tier evidence: {problem or f'{uri} is not a JSON object'}"]
    return [
        f"tier evidence: {where} requires {name}, and {uri} has none ({REQUIRED_EVIDENCE[name]})"
        for name in required
        if not _has_evidence(document, name)
    ]


def required_evidence_from_json(text: str, where: str) -> tuple[str, tuple[str, ...]]:
    """(tier, required) from the handler's environment ({"tier": ..., "required": [...]});
    bad input names `where` and the field. An empty text requires all of it (fail safe: a
    handler not told its tier's depth asks for every section the evaluate step writes)."""
    if not text.strip():
        return "", tuple(REQUIRED_EVIDENCE)
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInputError(f"{where}: not JSON") from None
    required = data.get("required") if isinstance(data, Mapping) else None
    tier = data.get("tier", "") if isinstance(data, Mapping) else None
    if not isinstance(required, list) or not isinstance(tier, str):
        raise InvalidInputError(f'{where}: expected {{"tier": name, "required": [evidence, ...]}}')
    unknown = [str(r) for r in required if r not in REQUIRED_EVIDENCE]
    if unknown:
        raise InvalidInputError(
            f"{where}.required: {', '.join(unknown)} not one of {', '.join(REQUIRED_EVIDENCE)}"
        )
    return tier, tuple(str(r) for r in required)


def evidence_present(document: Any, required: Sequence[str]) -> dict[str, bool]:
    """{name: whether the evaluation carries it}, for the report (bad names raise)."""
    found = document if isinstance(document, Mapping) else {}
    return {name: _has_evidence(found, name) for name in required}


@dataclass(frozen=True)
class GateCheck:
    """The outcome of re-checking one version: problems, and what was compared, for the record."""

    problems: tuple[str, ...]
    values: Mapping[str, float]
    build_thresholds: Mapping[str, float]
    # Each protected group's recorded result (`fairness_groups`).
    fairness_groups: tuple[str, ...] = ()
    # The champion serving in prod when checked (`champion_problems`), "" when not checked.
    champion: str = ""

    def details(self, gates: Sequence[PlatformGate]) -> dict[str, str]:
        return {
            "platform_gates": ", ".join(f"{g.name} {g.rule()}" for g in gates),
            "recorded_values": ", ".join(f"{k} {v:.4g}" for k, v in self.values.items()) or "none",
            "build_gates": ", ".join(f"{k} {v:g}" for k, v in self.build_thresholds.items())
            or "none (not built by a pipeline execution)",
            "fairness_groups": "; ".join(self.fairness_groups) or "none recorded",
            **({"champion_serving": self.champion} if self.champion else {}),
        }


def check_gates(
    sm: SageMakerClient,
    s3: S3Client,
    version: ModelVersion,
    gates: Sequence[PlatformGate],
    authorship: Authorship,
    *,
    champion_check: bool = True,
) -> GateCheck:
    """The version's recorded metrics, its build's gates when an execution built it, and, at
    approval (`champion_check`), its champion against the registry's."""
    problems, values, groups = metric_problems(s3, version, gates)
    build = BuildGates({}, {})
    definition: Mapping[str, Any] | None = None
    parameters: Mapping[str, str] = {}
    if authorship.execution_arn:
        parameters = execution_parameters(sm, authorship.execution_arn)
        definition = read_definition(sm, authorship.execution_arn)
        build = (
            BuildGates({}, {g.name: "the execution's definition is not JSON" for g in gates})
            if definition is None
            else build_gates(definition, parameters, authorship.register_step, gates)
        )
        problems += build_problems(build, gates)
    champion = ""
    if champion_check and compares_with_champion(gates):
        found, champion = champion_problems(sm, s3, version, definition, parameters)
        problems += found
    return GateCheck(tuple(problems), values, build.thresholds, tuple(groups), champion)
