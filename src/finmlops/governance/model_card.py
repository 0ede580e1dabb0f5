"""The model card of a version, in the SageMaker model package model card schema.

Two cards come from the same config:

- `registration_card`: the static part (purpose, risk rating, owner, validator, training
  environment and hyperparameters), for a version registered without a build's figures.
- `build_model_card`: the whole card of one version, with the evaluation and data-quality figures
  of its build; the evidence step writes it next to the validation report (the version's
  metadata `model-card` points at it) and, as `registry_card_content`, into the
  `ModelCard.ModelCardContent` the pipeline's RegisterModel step sends (ADR 0032).

`read_model_card` gives the CLI a version's card: the registry's own card when it is the whole
one, else the evidence file, else the registry's static card. Offline the registry card is the
static one (the emulator keeps ModelCard as SageMaker does), so the evidence file is what is found.

Only the properties of the model package model card schema are written (`model_overview` holds
`model_creator` and `model_artifact` only); `card_problems` checks a card against that shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from finmlops.config import Config
from finmlops.contracts import Meta
from finmlops.fairness import definitions as fairness_definitions
from finmlops.governance.bundle import GateRow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

# CreateModelPackage accepts at most this many characters of ModelCardContent.
MAX_CONTENT_CHARS = 100_000
# A version registers waiting for review; the validator moves the card on with the approval.
REGISTRATION_CARD_STATUS = "PendingReview"
CARD_STATUSES = ("Draft", "PendingReview", "Approved", "Archived")

RISK_RATING: dict[str, str] = {"high": "High", "medium": "Medium", "low": "Low"}
RISK_RATINGS = ("High", "Medium", "Low", "Unknown")

_RISK_EXPLANATION = {
    "high": "Tier high in the model inventory: the model informs credit decisions about "
    "individuals, so it is validated independently before use, monitored for drift and "
    "outcome quality, and reviewed at least annually.",
    "medium": "Tier medium in the model inventory: the model supports decisions with human "
    "review; it is validated before use and monitored for drift.",
    "low": "Tier low in the model inventory: limited impact on customers or the firm; it is "
    "reviewed before use and monitored for drift.",
}

# The metrics of evaluation.json the card carries, in this order, with what they mean.
DISCRIMINATION_METRICS: tuple[tuple[str, str], ...] = (
    ("auc", "area under the ROC curve"),
    ("gini", "Gini coefficient, 2 x AUC - 1"),
    ("ks", "Kolmogorov-Smirnov separation of bad and good scores"),
    ("accuracy", "share of correct predictions at the cut-off"),
    ("precision", "share of predicted bad that are bad, at the cut-off"),
    ("recall", "share of bad predicted bad, at the cut-off"),
    ("f1", "harmonic mean of precision and recall"),
    ("brier_score", "mean squared error of the predicted probability"),
    ("positive_rate", "share of bad in the test split"),
    ("cutoff", "score at or above which a loan is predicted bad"),
)
# The worst protected group (what the gates judge); every group follows in its own metric group.
FAIRNESS_METRICS: tuple[tuple[str, str], ...] = (
    ("disparate_impact", "lowest favourable-rate ratio, protected group over the rest"),
    ("statistical_parity_difference", "rest minus protected, in the group furthest from parity"),
    ("statistical_parity_difference_abs", "largest absolute statistical parity difference"),
)
GROUP_METRICS: tuple[tuple[str, str], ...] = (
    ("disparate_impact", "favourable rate of the group over the rest"),
    ("statistical_parity_difference", "favourable rate of the rest minus the group"),
    ("equal_opportunity_difference", "favourable rate among good loans, rest minus the group"),
)
DATA_QUALITY_METRICS: tuple[tuple[str, str], ...] = (
    ("rows", "rows in the input data"),
    ("columns", "columns in the input data"),
    ("positive_share", "share of the positive class"),
    ("max_missing_share", "largest share of missing values in a feature"),
)

# The model package model card schema: allowed properties and string length limits.
_TEXT = 2048
_SCHEMA: dict[str, dict[str, int]] = {
    "model_overview": {"model_creator": 1024, "model_artifact": 1024},
    "intended_uses": {
        "purpose_of_model": _TEXT,
        "intended_uses": _TEXT,
        "factors_affecting_model_efficiency": _TEXT,
        "risk_rating": 16,
        "explanations_for_risk_rating": _TEXT,
    },
    "business_details": {
        "business_problem": _TEXT,
        "business_stakeholders": _TEXT,
        "line_of_business": _TEXT,
    },
    "training_details": {
        "objective_function": 0,
        "training_observations": 1024,
        "training_job_details": 0,
    },
    "additional_information": {
        "ethical_considerations": _TEXT,
        "caveats_and_recommendations": _TEXT,
        "custom_details": 1024,
    },
}
_TRAINING_JOB = {
    "training_arn": 1024,
    "training_datasets": 1024,
    "training_environment": 0,
    "training_metrics": 0,
    "user_provided_training_metrics": 0,
    "hyper_parameters": 0,
    "user_provided_hyper_parameters": 0,
}
_EVALUATION = {
    "name": 63,
    "evaluation_observation": 2096,
    "evaluation_job_arn": 256,
    "datasets": 1024,
    "metadata": 1024,
    "metric_groups": 0,
}


class ModelCardNotFoundError(LookupError):
    """The version carries no model card: not in the registry, not referenced in its metadata."""


def risk_rating(config: Config) -> str:
    """The card's risk rating for the configured inventory risk tier."""
    return RISK_RATING.get(config.governance.risk_tier, "Unknown")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(name: str, value: Any, notes: str = "") -> dict[str, Any] | None:
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    metric: dict[str, Any] = {"name": _clip(name, 255), "type": "number", "value": value}
    if notes:
        metric["notes"] = _clip(notes, 1024)
    return metric


def _group(name: str, metrics: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    data = [m for m in metrics if m is not None]
    return {"name": _clip(name, 63), "metric_data": data} if data else None


def _worst_note(fairness: Mapping[str, Any], name: str, description: str) -> str:
    group = fairness.get(
        "disparate_impact_group" if name == "disparate_impact" else "statistical_parity_group"
    )
    return f"{description}; group {json.dumps(group, ensure_ascii=False)}" if group else description


def _group_metrics(fairness: Mapping[str, Any]) -> list[dict[str, Any] | None]:
    """Each protected group's figures; a group too small to measure appears with its row count."""
    metrics: list[dict[str, Any] | None] = []
    for row in fairness.get("groups") or []:
        where = (
            f"{row.get('definition')}; {row.get('protected_count')} test rows vs "
            f"{row.get('reference_count')}"
        )
        if not row.get("measurable"):
            metrics.append(
                _number(f"{row.get('id')}: test rows", row.get("protected_count"),
                        f"{row.get('definition')}; {row.get('reason')}")
            )  # fmt: skip
            continue
        metrics += [
            _number(f"{row.get('id')}: {name}", row.get(name), f"{description}; {where}")
            for name, description in GROUP_METRICS
        ]
    return metrics


def _hyper_parameters(hyperparameters: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"name": _clip(str(name), 255), "value": _clip(str(hyperparameters[name]), 255)}
        for name in sorted(hyperparameters)
    ]


def _people(config: Config) -> str:
    g = config.governance
    return (
        f"Model owner: {g.owner}. Independent validator: {g.validator}. "
        f"Approver role: {g.approver_role}."
    )


def _custom_details(config: Config, extra: Mapping[str, str]) -> dict[str, str]:
    g = config.governance
    details = {
        "model_id": config.model.name,
        "model_package_group": config.model.package_group,
        "owner": g.owner,
        "validator": g.validator,
        "approver_role": g.approver_role,
        "risk_tier": g.risk_tier,
        "data_classification": g.data_classification,
    }
    for attribute in config.model.fairness.protected_attributes:
        if attribute.used_as_feature_because:
            details[f"protected_attribute_used_as_feature: {attribute.key}"] = (
                attribute.used_as_feature_because
            )
    details.update({k: v for k, v in extra.items() if v})
    return {key: _clip(value, 1024) for key, value in sorted(details.items())}


def ethical_considerations(config: Config) -> str:
    """The protected groups, the gates on them, and why any protected attribute is an input."""
    model = config.model
    groups = "; ".join(
        f"{json.dumps(name, ensure_ascii=False)}: {definition}"
        for name, definition in fairness_definitions(model)
    )
    text = (
        f"Fairness is measured on the held-out test split for each protected group ({groups}), "
        f"each against the rest of the rows with a known value; favourable outcome: predicted "
        f"good (score below {model.cutoff:g}). Every group's disparate impact must be at least "
        f"{config.gates.min_disparate_impact:g} and its absolute statistical parity difference "
        f"at most {config.gates.max_fairness_disparity:g}; groups need "
        f"{model.fairness.min_group_size} test rows to be measured."
    )
    if model.fairness.intersections:
        crossed = "; ".join(" & ".join(names) for names in model.fairness.intersections)
        text += f" Intersections measured where the data allow: {crossed}."
    for attribute in model.fairness.protected_attributes:
        if attribute.used_as_feature_because:
            text += (
                f" {attribute.column} is a protected attribute used as a model input because: "
                f"{attribute.used_as_feature_because}"
            )
    return text


def _static_sections(config: Config, training_image: str) -> dict[str, Any]:
    """Everything the config alone determines: shared by both cards."""
    model, g = config.model, config.governance
    hp = model.hyperparameters
    purpose = model.description or f"{model.name}: probability of {model.positive_class}"
    limitations = g.limitations or "No limitations recorded in the configuration."
    return {
        "model_overview": {"model_creator": _clip(g.owner, 1024)},
        "intended_uses": {
            "purpose_of_model": _clip(purpose, _TEXT),
            "intended_uses": _clip(g.intended_use or purpose, _TEXT),
            "factors_affecting_model_efficiency": _clip(
                f"{limitations} Performance depends on the applicant population staying close "
                f"to the training data ({model.dataset.source or model.dataset.uri}); drift "
                "monitoring compares production inputs with the registered baseline.",
                _TEXT,
            ),
            "risk_rating": risk_rating(config),
            "explanations_for_risk_rating": _clip(_RISK_EXPLANATION[g.risk_tier], _TEXT),
        },
        "business_details": {
            "business_problem": _clip(purpose, _TEXT),
            "business_stakeholders": _clip(_people(config), _TEXT),
            "line_of_business": _clip(f"{config.project} ({g.data_classification} data)", _TEXT),
        },
        "training_details": {
            "training_observations": _clip(
                f"XGBoost {hp.objective}, {hp.num_round} rounds at most, early stopping on "
                f"validation {hp.eval_metric}; target {model.target} (positive class "
                f"{model.positive_class}); {len(model.numeric_features)} numeric and "
                f"{len(model.categorical_features)} categorical features; split "
                f"validation {model.split.validation:g}, test {model.split.test:g}, "
                f"{'by ' + model.time_column if model.time_column else 'stratified'}.",
                1024,
            ),
            "training_job_details": {
                "training_datasets": [_clip(model.dataset.uri, 1024)],
                "training_environment": {"container_image": [_clip(training_image, 1024)]},
                "hyper_parameters": _hyper_parameters(hp.as_sagemaker()),
            },
        },
        "additional_information": {
            "ethical_considerations": _clip(ethical_considerations(config), _TEXT),
            "caveats_and_recommendations": _clip(limitations, _TEXT),
        },
    }


def registration_card(config: Config, training_image: str) -> str:
    """The static card content to pass as ModelCard.ModelCardContent at registration.

    It goes into the pipeline definition, where CloudFormation's Fn::Sub reads `${...}` as a
    placeholder: configured text that contains `${` is refused rather than silently changed.
    """
    card = _static_sections(config, training_image)
    card["additional_information"]["custom_details"] = _custom_details(
        config,
        {
            "evidence": "the card with the evaluation of this version is the file that "
            f"metadata {Meta.MODEL_CARD!r} points at; the validation report is at "
            f"metadata {Meta.VALIDATION_REPORT!r}"
        },
    )
    content = json.dumps(card, sort_keys=True, separators=(",", ":"))
    if "${" in content:
        raise ValueError(
            "the model card text holds '${', which CloudFormation's Fn::Sub would read as a "
            "placeholder: remove it from model.description, model.fairness and governance.*"
        )
    if len(content) > MAX_CONTENT_CHARS:
        raise ValueError(f"registration card is {len(content)} characters; the limit is 100000")
    return content


def _evaluation_details(
    config: Config,
    evaluation: Mapping[str, Any] | None,
    data_quality: Mapping[str, Any] | None,
    gates: Sequence[GateRow],
) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    if evaluation:
        metrics = evaluation.get("binary_classification_metrics") or {}
        fairness = evaluation.get("fairness") or {}
        groups: list[dict[str, Any] | None] = [
            _group(
                "discrimination",
                [_number(n, metrics.get(n), d) for n, d in DISCRIMINATION_METRICS],
            ),
            _group(
                "calibration",
                [
                    _number("brier_score", metrics.get("brier_score")),
                    _number(
                        "expected_calibration_error",
                        metrics.get("expected_calibration_error"),
                        ECE_DEFINITION,
                    ),
                ],
            ),
            _group(
                "fairness: worst protected group",
                [
                    _number(n, fairness.get(n), _worst_note(fairness, n, d))
                    for n, d in FAIRNESS_METRICS
                ],
            ),
            _group("fairness by protected group", _group_metrics(fairness)),
            _group("uncertainty: bootstrap intervals", _interval_metrics(evaluation)),
            _group("champion and challenger", champion_metrics(evaluation)),
            _group("score stability", _stability_metrics(evaluation)),
            _group("explanation: mean |SHAP| per feature", _importance_metrics(evaluation)),
            _group(
                "fairness by value: favourable rate",
                [
                    _number(
                        f"{attribute.get('name')}: {row.get('group')}",
                        row.get("favourable_rate"),
                        f"{row.get('count')} test rows"
                        + ("; protected group" if row.get("protected") else ""),
                    )
                    for attribute in fairness.get("attributes") or []
                    for row in attribute.get("by_value") or []
                ],
            ),
        ]
        confusion = metrics.get("confusion_matrix") or {}
        groups.append(
            _group(
                "confusion matrix at the cut-off",
                [
                    _number(name, (confusion.get(actual) or {}).get(predicted))
                    for name, actual, predicted in (
                        ("true_negatives", "0", "0"),
                        ("false_positives", "0", "1"),
                        ("false_negatives", "1", "0"),
                        ("true_positives", "1", "1"),
                    )
                ],
            )
        )
        details.append(
            {
                "name": "test split evaluation",
                "evaluation_observation": _clip(
                    f"{evaluation.get('test_rows', 'unknown')} held-out test rows; fairness on "
                    f"{len(fairness.get('groups') or [])} protected group(s)"
                    + (
                        f", not measurable: {json.dumps(fairness['not_measurable'], ensure_ascii=False)}"
                        if fairness.get("not_measurable")
                        else ""
                    )
                    + ".",
                    2096,
                ),
                "metric_groups": [g for g in groups if g is not None],
            }
        )
    if data_quality:
        group = _group(
            "data quality", [_number(n, data_quality.get(n), d) for n, d in DATA_QUALITY_METRICS]
        )
        details.append(
            {
                "name": "training data quality",
                "evaluation_observation": _clip(
                    f"Input data fingerprint {data_quality.get('data_fingerprint', 'unknown')}.",
                    2096,
                ),
                "datasets": [_clip(config.model.dataset.uri, 1024)],
                "metric_groups": [group] if group else [],
            }
        )
    if gates:
        group = _group(
            "release gates",
            [
                _number(g.name, g.value, f"{g.comparison} {g.threshold:g}: {g.status}")
                for g in gates
            ],
        )
        if group:
            details.append({"name": "release gates", "metric_groups": [group]})
    return details


def reason_codes_detail(reasons: Mapping[str, Any]) -> dict[str, Any]:
    """The reason codes (ECOA / Regulation B principal reasons) as evidence: coverage of the test
    split's adverse decisions by specific texts, flagged LOW COVERAGE below the config's minimum,
    and how often each feature is a principal reason."""
    share = reasons.get("coverage")
    flag = "LOW COVERAGE: " if reasons.get("low_coverage") else ""
    without = reasons.get("features_without_text") or []
    observation = (
        f"{flag}{reasons.get('covered_decisions')} of {reasons.get('adverse_decisions')} adverse "
        f"test decisions (score >= {reasons.get('cutoff')}) have all top-{reasons.get('top_k')} "
        f"reasons stated by a specific text (minimum {reasons.get('min_coverage')}). Default text: "
        f"{reasons.get('default_text')!r}. Features without a text: "
        + (", ".join(without) if without else "none")
        + ". Texts: "
        + "; ".join(f"{k}: {v}" for k, v in (reasons.get("texts") or {}).items())
    )
    coverage = _group(
        "reason codes: coverage",
        [
            _number(
                "reason_code_coverage",
                share,
                f"{flag}share of adverse test decisions whose top-{reasons.get('top_k')} "
                "reasons all have a specific text",
            ),
            _number("adverse_test_decisions", reasons.get("adverse_decisions")),
        ],
    )
    counts = _group(
        "reason codes: how often each feature is a principal reason",
        [
            _number(str(feature), count, "adverse test decisions")
            for feature, count in (reasons.get("principal_reason_counts") or {}).items()
        ],
    )
    return {
        "name": "reason codes (principal reasons for adverse action)",
        "evaluation_observation": _clip(observation, 2096),
        "metric_groups": [g for g in (coverage, counts) if g is not None],
    }


# The evaluate step computes it (finmlops.steps.evaluate.expected_calibration_error); the card and
# the report show that one value rather than recomputing it from the rounded calibration table.
ECE_DEFINITION = (
    "count-weighted mean |observed bad rate - mean predicted| over the 10 score deciles of the "
    "calibration table, unrounded; the quality monitor's definition"
)
INTERVAL_FIGURES: tuple[tuple[str, str], ...] = (
    ("auc", "AUC"),
    ("ks", "KS"),
    ("worst_disparate_impact", "lowest disparate impact (worst group)"),
    ("worst_statistical_parity_difference_abs", "largest |parity difference| (worst group)"),
)


def _interval_metrics(evaluation: Mapping[str, Any]) -> list[dict[str, Any] | None]:
    uncertainty = evaluation.get("uncertainty") or {}
    level = uncertainty.get("confidence_level")
    how = (
        f"{level:.0%} {uncertainty.get('method', '')}, {uncertainty.get('resamples')} "
        f"resamples, seed {uncertainty.get('seed')}"
        if isinstance(level, int | float)
        else ""
    )
    out: list[dict[str, Any] | None] = []
    for key, label in INTERVAL_FIGURES:
        figure = uncertainty.get(key) or {}
        out += [
            _number(f"{key}_lower", figure.get("lower"), f"{label}: lower end; {how}"),
            _number(f"{key}_upper", figure.get("upper"), f"{label}: upper end; {how}"),
        ]
    return out


def champion_metrics(evaluation: Mapping[str, Any]) -> list[dict[str, Any] | None]:
    """This version beside the champion serving in prod when it was built (ADR 0029): both
    AUCs and KSs, the difference and its paired bootstrap interval; none for a first version."""
    section = evaluation.get("champion") or {}
    if section.get("status") != "compared":
        return [_number("champion_auc_drop", section.get("auc_drop"),
                        "no champion: nothing served in prod when this version was built")]  # fmt: skip
    who = f"champion {section.get('model_package_arn')}, same {section.get('rows')} test rows"
    if isinstance(section.get("excluded_training_rows"), int):
        who += f" ({section['excluded_training_rows']} it was trained on left out)"
    level = section.get("confidence_level")
    how = f"{level:.0%} paired bootstrap" if isinstance(level, int | float) else "bootstrap"
    out: list[dict[str, Any] | None] = []
    for key, label in (("auc", "AUC"), ("ks", "KS")):
        difference = (section.get("difference") or {}).get(key) or {}
        out += [
            _number(f"champion_{key}", (section.get("champion") or {}).get(key), who),
            _number(f"challenger_{key}", (section.get("challenger") or {}).get(key), who),
            _number(f"{key}_difference_vs_champion", difference.get("value"),
                    f"{label}, this version minus the champion"),
            _number(f"{key}_difference_lower", difference.get("lower"), f"{label}: {how}"),
            _number(f"{key}_difference_upper", difference.get("upper"), f"{label}: {how}"),
        ]  # fmt: skip
    return out


def _stability_metrics(evaluation: Mapping[str, Any]) -> list[dict[str, Any] | None]:
    stability = evaluation.get("score_stability") or {}
    train = stability.get("train_vs_test") or {}
    return [
        _number(
            "score_psi_train_vs_test",
            train.get("psi"),
            f"PSI of the score distribution, {train.get('bins')} bins at the train deciles: "
            f"{train.get('reading')}",
        )
    ]


def _importance_metrics(evaluation: Mapping[str, Any]) -> list[dict[str, Any] | None]:
    explanation = evaluation.get("explanation") or {}
    return [
        _number(
            str(row.get("feature")),
            row.get("mean_abs_shap"),
            f"mean |SHAP| in log-odds, {row.get('share', 0):.1%} of the total; exact TreeSHAP "
            f"on {explanation.get('rows')} test rows",
        )
        for row in explanation.get("importance") or []
    ]


def build_model_card(
    config: Config,
    *,
    evaluation: Mapping[str, Any] | None,
    data_quality: Mapping[str, Any] | None,
    training_image: str,
    hyperparameters: Mapping[str, Any],
    model_package_arn: str | None,
    git_commit: str = "",
    training_job_arn: str = "",
    model_artifact: str = "",
    gates: Sequence[GateRow] = (),
    missing: Sequence[str] | None = None,
    reasons: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole card of one version: the static sections, the version's training job and
    figures, and the state of its evidence (`missing`: what the validation report lists)."""
    card = _static_sections(config, training_image)
    if model_artifact:
        card["model_overview"]["model_artifact"] = [_clip(model_artifact, 1024)]
    job = card["training_details"]["training_job_details"]
    if training_job_arn:
        job["training_arn"] = _clip(training_job_arn, 1024)
    if hyperparameters:
        job["hyper_parameters"] = _hyper_parameters(hyperparameters)
    card["evaluation_details"] = _evaluation_details(config, evaluation, data_quality, gates)
    if reasons:
        card["evaluation_details"].append(reason_codes_detail(reasons))
    if missing is None:
        missing = [
            name
            for name, present in (
                ("evaluation.json", evaluation),
                ("data_quality.json", data_quality),
            )
            if not present
        ]
    fingerprint = str((data_quality or {}).get("data_fingerprint", ""))
    card["additional_information"]["custom_details"] = _custom_details(
        config,
        {
            "model_package_arn": model_package_arn or "",
            "git_commit": git_commit,
            "data_fingerprint": fingerprint,
            "evidence_status": "complete" if not missing else "INCOMPLETE: " + "; ".join(missing),
        },
    )
    return card


def card_problems(card: Mapping[str, Any]) -> list[str]:
    """Where a card departs from the model package model card schema (empty when it fits)."""
    problems = [
        f"{key}: not a model package model card section"
        for key in sorted(set(card) - {*_SCHEMA, "evaluation_details"})
    ]
    for section, fields in _SCHEMA.items():
        problems.extend(_section_problems(section, card.get(section), fields))
    rating = (card.get("intended_uses") or {}).get("risk_rating")
    if rating is not None and rating not in RISK_RATINGS:
        problems.append(f"intended_uses.risk_rating: {rating!r} is not one of {RISK_RATINGS}")
    job = (card.get("training_details") or {}).get("training_job_details") or {}
    problems.extend(
        f"training_details.training_job_details.{key}: not in the schema"
        for key in sorted(set(job) - set(_TRAINING_JOB))
    )
    problems.extend(
        f"hyper_parameters: {entry!r} must be {{name, value}} strings"
        for entry in job.get("hyper_parameters") or []
        if set(entry) - {"name", "value"} or not isinstance(entry.get("value", ""), str)
    )
    for i, item in enumerate(card.get("evaluation_details") or []):
        problems.extend(_evaluation_problems(f"evaluation_details[{i}]", item))
    return problems


def _section_problems(section: str, node: Any, fields: Mapping[str, int]) -> list[str]:
    if node is None:
        return []
    if not isinstance(node, Mapping):
        return [f"{section}: must be an object"]
    problems = [f"{section}.{key}: not in the schema" for key in sorted(set(node) - set(fields))]
    for key, limit in fields.items():
        problems.extend(_text_problems(f"{section}.{key}", node.get(key), limit))
    return problems


def _evaluation_problems(where: str, item: Mapping[str, Any]) -> list[str]:
    problems = [f"{where}.{key}: not in the schema" for key in sorted(set(item) - set(_EVALUATION))]
    if not str(item.get("name", "")).strip():
        problems.append(f"{where}.name: required")
    problems.extend(_text_problems(f"{where}.name", item.get("name"), 63))
    for j, group in enumerate(item.get("metric_groups") or []):
        group_where = f"{where}.metric_groups[{j}]"
        if not str(group.get("name", "")).strip():
            problems.append(f"{group_where}.name: required")
        problems.extend(_text_problems(f"{group_where}.name", group.get("name"), 63))
        for k, metric in enumerate(group.get("metric_data") or []):
            problems.extend(_metric_problems(f"{group_where}.metric_data[{k}]", metric))
    return problems


def _text_problems(where: str, value: Any, limit: int) -> list[str]:
    if value is None or limit == 0:
        return []
    values = (
        value
        if isinstance(value, list)
        else list(value.values())
        if isinstance(value, Mapping)
        else [value]
    )
    return [
        f"{where}: longer than {limit} characters"
        for v in values
        if isinstance(v, str) and len(v) > limit
    ]


def _metric_problems(where: str, metric: Mapping[str, Any]) -> list[str]:
    problems = []
    if not 1 <= len(str(metric.get("name", ""))) <= 255:
        problems.append(f"{where}.name: 1 to 255 characters")
    kind = metric.get("type")
    value = metric.get("value")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        problems.append(f"{where}.value: a number metric needs a numeric value")
    elif kind not in ("number", "string", "boolean", "linear_graph", "bar_chart", "matrix"):
        problems.append(f"{where}.type: {kind!r} is not a metric type")
    return problems


def registry_card_content(card: Mapping[str, Any]) -> str:
    """The card as CreateModelPackage's `ModelCard.ModelCardContent` takes it: compact JSON,
    sorted keys. SageMaker API reference `API_ModelPackageModelCard`: a string of at most
    100,000 characters following the model package model card schema (`card_problems`).
    ValueError names what does not fit: a card the registry would refuse is never registered."""
    problems = card_problems(card)
    content = json.dumps(card, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(content) > MAX_CONTENT_CHARS:
        problems.append(
            f"ModelCardContent: {len(content):,} characters, above the {MAX_CONTENT_CHARS:,} "
            "CreateModelPackage accepts"
        )
    if problems:
        raise ValueError("the model card does not fit the registry:\n  " + "\n  ".join(problems))
    return content


def card_json(card: Mapping[str, Any]) -> str:
    """The card as the evidence file holds it: sorted keys, so equal cards give equal bytes."""
    return json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_model_card_with_source(
    sagemaker_client: SageMakerClient,
    model_package_arn: str,
    *,
    s3_client: S3Client | None = None,
) -> tuple[dict[str, Any], str]:
    """The version's card and where it came from (`registry` or the evidence file's URI)."""
    described = sagemaker_client.describe_model_package(ModelPackageName=model_package_arn)
    registry_text = (described.get("ModelCard") or {}).get("ModelCardContent") or ""
    registry_card: dict[str, Any] = json.loads(registry_text) if registry_text else {}
    if registry_card.get("evaluation_details"):
        return registry_card, "registry"
    uri = (described.get("CustomerMetadataProperties") or {}).get(Meta.MODEL_CARD, "")
    if uri:
        if s3_client is None:
            if registry_card:
                return registry_card, "registry"
            raise ModelCardNotFoundError(
                f"{model_package_arn}: the card is the evidence file {uri}; pass an S3 client to read it"
            )
        return _read_s3_json(s3_client, uri), uri
    if registry_card:
        return registry_card, "registry"
    raise ModelCardNotFoundError(
        f"{model_package_arn} has no model card: no ModelCard in the registry and no metadata "
        f"{Meta.MODEL_CARD!r}"
    )


def read_model_card(
    sagemaker_client: SageMakerClient,
    model_package_arn: str,
    *,
    s3_client: S3Client | None = None,
) -> dict[str, Any]:
    """The version's model card, for the CLI and the approver.

    The registry's ModelCard when it carries the evaluation; otherwise the evidence file that
    metadata `model-card` references (an s3:// URI read with `s3_client`); otherwise the static
    card given at registration. Raises ModelCardNotFoundError when there is none.
    """
    card, _source = read_model_card_with_source(
        sagemaker_client, model_package_arn, s3_client=s3_client
    )
    return card


def _read_s3_json(s3_client: S3Client, uri: str) -> dict[str, Any]:
    if not uri.startswith("s3://"):
        raise ModelCardNotFoundError(f"metadata {Meta.MODEL_CARD!r} is not an s3:// URI: {uri!r}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ModelCardNotFoundError(f"metadata {Meta.MODEL_CARD!r} has no bucket or key: {uri!r}")
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        raise ModelCardNotFoundError(f"the model card file {uri} does not exist") from None
    try:
        card = json.loads(body)
    except ValueError as exc:
        raise ModelCardNotFoundError(f"the model card file {uri} is not JSON: {exc}") from None
    if not isinstance(card, dict):
        raise ModelCardNotFoundError(f"the model card file {uri} is not a JSON object")
    return card
