"""The release gates, defined once: the pipeline's condition steps, the local build, and the
re-check at approval and promotion read them.

Each gate compares one value in a step's JSON output with the platform's threshold (config
`gates:`). The fairness gates compare the worst protected group (`model.fairness`) at a path
that names the groups and cut-off measured (`finmlops.fairness.gate_path`), so they judge the
platform's groups, not a run's. The threshold is written into the pipeline definition, never a run-time parameter, so a
run cannot lower it (ADR 0014). On AWS a failed gate ends the execution in a Fail step whose
message names the gate; locally the same comparison yields the same verdict; approval and
promotion compare each version with the gates in force (`platform_gates`,
`finmlops.registry.gatecheck`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from finmlops import fairness
from finmlops.config import Config
from finmlops.contracts import Param
from finmlops.registry.gatecheck import VALIDATED_AUC_GATE, PlatformGate
from finmlops.steps import evaluate, preprocess

Source = Literal["data_quality", "evaluation"]
Comparison = Literal[">=", "<="]

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Gate:
    name: str
    description: str
    source: Source
    # The JSON path, or how to find it from the config (the fairness gates' paths name the
    # protected groups and cut-off the config defines).
    json_path: str | Callable[[Config], str]
    comparison: Comparison
    # The threshold's name where steps receive it (`--threshold MinAuc 0.65`).
    parameter: str
    threshold: Callable[[Config], float | int]

    def passes(self, value: float, threshold: float) -> bool:
        return _OPS[self.comparison](value, threshold)

    def path(self, config: Config) -> str:
        """The JSON path of the value this gate compares, under this config."""
        return self.json_path if isinstance(self.json_path, str) else self.json_path(config)

    def in_force(self, config: Config) -> PlatformGate:
        """This gate with the threshold of the config in force."""
        return PlatformGate(
            name=self.name,
            description=self.description,
            source=self.source,
            json_path=self.path(config),
            comparison=self.comparison,
            threshold=float(self.threshold(config)),
        )


GATES: tuple[Gate, ...] = (
    Gate(
        "min-rows", "enough rows to train on", "data_quality", preprocess.DQ_ROWS, ">=",
        "MinRows", lambda c: c.gates.data_quality.min_rows,
    ),
    Gate(
        "max-missing-share", "largest share of missing values in a feature", "data_quality",
        preprocess.DQ_MAX_MISSING, "<=", "MaxMissingShare",
        lambda c: c.gates.data_quality.max_missing_share,
    ),
    Gate(
        "min-positive-share", "share of the positive class", "data_quality",
        preprocess.DQ_POSITIVE_SHARE, ">=", "MinPositiveShare",
        lambda c: c.gates.data_quality.min_positive_share,
    ),
    Gate(
        VALIDATED_AUC_GATE, "area under the ROC curve on the test split", "evaluation",
        evaluate.GATE_PATHS["auc"], ">=", Param.MIN_AUC, lambda c: c.gates.min_auc,
    ),
    Gate(
        "min-ks", "Kolmogorov-Smirnov separation of bad and good scores", "evaluation",
        evaluate.GATE_PATHS["ks"], ">=", Param.MIN_KS, lambda c: c.gates.min_ks,
    ),
    Gate(
        "max-fairness-disparity",
        "absolute statistical parity difference of the worst protected group", "evaluation",
        lambda c: fairness.gate_path(c.model, "parity_difference"), "<=",
        Param.MAX_FAIRNESS_DISPARITY, lambda c: c.gates.max_fairness_disparity,
    ),
    Gate(
        "min-disparate-impact",
        "disparate impact ratio of the worst protected group (four-fifths rule)", "evaluation",
        lambda c: fairness.gate_path(c.model, "disparate_impact"), ">=",
        Param.MIN_DISPARATE_IMPACT, lambda c: c.gates.min_disparate_impact,
    ),
    # The champion is the version the registry records as serving in prod; approval refuses a
    # version compared with any other (finmlops.registry.champion, ADR 0029).
    Gate(
        "max-auc-drop-vs-champion",
        "AUC lost against the champion serving in prod, on the same test rows", "evaluation",
        evaluate.CHAMPION_GATE_PATH, "<=", Param.MAX_AUC_DROP_VS_CHAMPION,
        lambda c: c.gates.max_auc_drop_vs_champion,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    value: float
    threshold: float
    passed: bool

    def line(self) -> str:
        mark = "pass" if self.passed else "FAIL"
        return (
            f"{mark}  {self.gate.name:<24} {self.value:.4f} {self.gate.comparison} "
            f"{self.threshold:g}  ({self.gate.description})"
        )


def json_get(document: Mapping[str, Any], path: str) -> float:
    """The value at a dotted path, as the pipeline's JsonGet reads it."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"{path!r}: no {part!r} in the document")
        node = node[part]
    return float(node)


def check(
    config: Config,
    outputs: Mapping[Source, Mapping[str, Any]],
    overrides: Mapping[str, float] | None = None,
) -> list[GateResult]:
    """Every gate whose source output is given, in pipeline order."""
    results = []
    for gate in GATES:
        if gate.source not in outputs:
            continue
        threshold = float((overrides or {}).get(gate.parameter, gate.threshold(config)))
        value = json_get(outputs[gate.source], gate.path(config))
        results.append(GateResult(gate, value, threshold, gate.passes(value, threshold)))
    return results


def platform_gates(config: Config) -> tuple[PlatformGate, ...]:
    """Every gate with the config's threshold: what approval and promotion re-check."""
    return tuple(gate.in_force(config) for gate in GATES)
