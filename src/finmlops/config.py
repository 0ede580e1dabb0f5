"""The one typed, validated configuration of a deployment.

CDK props, pipeline parameter defaults and runtime defaults are all read from the object that
`load_config` returns, so they cannot drift apart. Every model is frozen and forbids unknown keys;
a bad file fails at load with `ConfigError`, naming the file, the field path and the reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from finmlops.config_loader import ConfigLoadError, load_yaml, read_text
from finmlops.contracts import ENVIRONMENT_NAMES, SERVING_ENVIRONMENTS
from finmlops.datasets import DatasetPathError, local_dataset_path, parse_dataset_uri
from finmlops.schedules import (
    ScheduleError,
    check_model_monitor_schedule,
    check_schedule,
    longest_gap_minutes,
)
from finmlops.tracking.settings import TrackingSettings

# Commercial, GovCloud and China regions where SageMaker Pipelines and the Model Registry run.
KNOWN_REGIONS: frozenset[str] = frozenset(
    [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "af-south-1",
        "ap-east-1",
        "ap-south-1",
        "ap-south-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-gov-east-1",
        "us-gov-west-1",
        "cn-north-1",
        "cn-northwest-1",
    ]
)


_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")

Name = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
ColumnName = Annotated[str, StringConstraints(min_length=1)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
InstanceType = Annotated[str, StringConstraints(pattern=_INSTANCE.pattern)]


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names file, field and reason."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {field}: {reason}" for field, reason in problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Vpc(_Frozen):
    vpc_id: Annotated[str, StringConstraints(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    subnet_ids: Annotated[
        tuple[Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")], ...],
        Field(min_length=1),
    ]
    availability_zones: tuple[str, ...] = ()
    # Route tables of the subnets: the S3 gateway endpoint is added to them.
    route_table_ids: tuple[
        Annotated[str, StringConstraints(pattern=r"^rtb-[0-9a-f]{8,17}$")], ...
    ] = ()


class Instances(_Frozen):
    processing: InstanceType = "ml.m5.xlarge"
    processing_count: Annotated[int, Field(ge=1, le=100)] = 1
    training: InstanceType = "ml.m5.xlarge"
    training_count: Annotated[int, Field(ge=1, le=100)] = 1
    endpoint: InstanceType = "ml.m5.large"
    endpoint_count: Annotated[int, Field(ge=1, le=100)] = 1
    endpoint_max_count: Annotated[int, Field(ge=1, le=100)] = 4
    # Application Auto Scaling of the endpoint variant. SageMaker refuses an update that changes
    # the instance type of a variant registered as a scalable target (docs page
    # endpoint-scaling-update): to change `endpoint`, deploy once with this off (CloudFormation
    # deregisters the target), then with the new type and this on (docs/cdk.md).
    endpoint_autoscaling: bool = True
    monitoring: InstanceType = "ml.m5.xlarge"
    # Instances a drift run spreads the window's capture files over (monitoring.mode pipeline;
    # docs/decisions/0027). SageMaker takes 1-100 per processing job (ProcessingClusterConfig
    # InstanceCount); 1 runs the single drift step.
    monitoring_count: Annotated[int, Field(ge=1, le=100)] = 1

    @model_validator(mode="after")
    def _max_not_below_min(self) -> Instances:
        if self.endpoint_max_count < self.endpoint_count:
            raise ValueError("endpoint_max_count must be >= endpoint_count")
        return self


class Environment(_Frozen):
    account: str
    region: str
    vpc: Vpc | None = None
    instances: Instances = Instances()

    @field_validator("account")
    @classmethod
    def _twelve_digits(cls, value: str) -> str:
        # ASCII digits only: `\d` also matches other scripts' digits ("١٢٣..."), which no AWS
        # account id has (an account id is a 12-digit number, AWS Account Management reference).
        if not re.fullmatch(r"[0-9]{12}", value):
            raise ValueError(f"account id must be 12 digits (got {value!r})")
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in KNOWN_REGIONS:
            raise ValueError(f"unknown AWS region {value!r}")
        return value


class Environments(_Frozen):
    tooling: Environment
    dev: Environment
    stage: Environment
    prod: Environment
    allow_shared_accounts: bool = False

    def by_name(self, name: str) -> Environment:
        if name not in ENVIRONMENT_NAMES:
            raise KeyError(f"unknown environment {name!r}; one of {', '.join(ENVIRONMENT_NAMES)}")
        env: Environment = getattr(self, name)
        return env


class Dataset(_Frozen):
    # package:NAME (shipped in finmlops/data), s3://bucket/key, or a local path: relative to the
    # config file's folder and confined to it, or written absolute (finmlops.datasets).
    uri: Annotated[str, StringConstraints(min_length=1)]
    format: Literal["csv", "parquet"] = "csv"
    source: str = ""
    licence: str = ""

    @field_validator("uri")
    @classmethod
    def _known_form(cls, value: str) -> str:
        try:
            parse_dataset_uri(value)
        except DatasetPathError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
        return value


# --------------------------------------------------------------------------- fairness
# A protected group is compared with the rest of the rows whose attribute is known. The evaluate
# step measures the groups (finmlops.steps.evaluate, which also renders their labels); these
# classes only say which groups, and refuse a config that contradicts itself.

Bound = Annotated[float, Field(allow_inf_nan=False)]


class ValueRange(_Frozen):
    """Numeric bounds, each naming its own inclusivity: `{below: 25}` is age < 25,
    `{at_least: 25, below: 40}` is 25 <= age < 40."""

    at_least: Bound | None = None
    above: Bound | None = None
    below: Bound | None = None
    at_most: Bound | None = None

    def lower(self) -> tuple[str, float] | None:
        for key in ("at_least", "above"):
            value = getattr(self, key)
            if value is not None:
                return key, value
        return None

    def upper(self) -> tuple[str, float] | None:
        for key in ("below", "at_most"):
            value = getattr(self, key)
            if value is not None:
                return key, value
        return None

    @model_validator(mode="after")
    def _one_bound_per_side_in_order(self) -> ValueRange:
        if self.at_least is not None and self.above is not None:
            raise ValueError("at_least and above both set a lower bound: keep one")
        if self.below is not None and self.at_most is not None:
            raise ValueError("below and at_most both set an upper bound: keep one")
        lower, upper = self.lower(), self.upper()
        if lower is None and upper is None:
            raise ValueError("a range needs at_least, above, below or at_most")
        if lower and upper:
            empty = (
                lower[1] > upper[1]
                if lower[0] == "at_least" and upper[0] == "at_most"
                else lower[1] >= upper[1]
            )
            if empty:
                raise ValueError(
                    f"{lower[0]} {lower[1]:g} and {upper[0]} {upper[1]:g} are inverted: "
                    "no value lies between them"
                )
        return self


class Bin(ValueRange):
    """One bin of a binned attribute: a range with the label reports show."""

    label: Annotated[str, StringConstraints(min_length=1)]


def _overlap(a: ValueRange, b: ValueRange) -> bool:
    """Whether some number lies in both ranges: the tighter lower bound below the tighter upper
    bound (on a tie, only when both include the tied number)."""
    lows = [r.lower() or ("above", -math.inf) for r in (a, b)]
    highs = [r.upper() or ("below", math.inf) for r in (a, b)]
    low = max(lows, key=lambda bound: (bound[1], bound[0] == "above"))
    high = min(highs, key=lambda bound: (bound[1], bound[0] == "at_most"))
    if low[1] != high[1]:
        return low[1] < high[1]
    return low[0] == "at_least" and high[0] == "at_most"


class ProtectedAttribute(_Frozen):
    """One protected attribute: a column and its protected group(s), by exactly one of
    `values` (one group: rows with any of these exact values), `range` (one group: rows whose
    number lies in it) or `bins` (one group per bin)."""

    # How reports and `intersections` name it; the column's name unless given.
    name: Annotated[str, StringConstraints(min_length=1)] | None = None
    column: ColumnName
    description: str = ""
    values: tuple[Annotated[str, StringConstraints(min_length=1)], ...] | None = None
    range: ValueRange | None = None
    bins: tuple[Bin, ...] | None = None
    # A protected attribute is not a model input unless the config says why; the reason is
    # recorded in the model card and the validation report.
    used_as_feature_because: Annotated[str, StringConstraints(min_length=1)] | None = None

    @property
    def key(self) -> str:
        return self.name or self.column

    @model_validator(mode="after")
    def _one_definition(self) -> ProtectedAttribute:
        given = [k for k in ("values", "range", "bins") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "define the protected group by exactly one of values, range or bins"
                + (f" (got {' and '.join(given)})" if given else "")
            )
        if self.values is not None:
            if not self.values:
                raise ValueError("values: list at least one value")
            twice = sorted({v for v in self.values if self.values.count(v) > 1})
            if twice:
                raise ValueError(f"values listed twice: {json.dumps(twice)}")
        if self.bins is not None:
            if not self.bins:
                raise ValueError("bins: list at least one bin")
            labels = [b.label for b in self.bins]
            twice = sorted({v for v in labels if labels.count(v) > 1})
            if twice:
                raise ValueError(f"bin labels used twice: {json.dumps(twice)}")
            for i, first in enumerate(self.bins):
                for j in range(i + 1, len(self.bins)):
                    if _overlap(first, self.bins[j]):
                        raise ValueError(
                            f"bins[{i}] ({first.label!r}) and bins[{j}] "
                            f"({self.bins[j].label!r}) overlap: a row would be in both"
                        )
        return self


class Fairness(_Frozen):
    """The protected groups the evaluate step measures and the fairness gates judge."""

    # Not empty (checked below, not by a length constraint: pydantic would add a second,
    # misleading error whenever one entry is invalid).
    protected_attributes: tuple[ProtectedAttribute, ...]
    # Groups that are protected on several attributes at once, by attribute name; measured
    # where the test split holds enough rows, reported as not measurable otherwise.
    intersections: tuple[
        Annotated[tuple[Annotated[str, StringConstraints(min_length=1)], ...], Field(min_length=2)],
        ...,
    ] = ()
    # Fewer test rows than this in a group (or in the rest) and its rates are too noisy to gate.
    min_group_size: Annotated[int, Field(ge=1)] = 30

    def attribute(self, key: str) -> ProtectedAttribute:
        return next(a for a in self.protected_attributes if a.key == key)

    @model_validator(mode="after")
    def _names_and_intersections(self) -> Fairness:
        if not self.protected_attributes:
            raise ValueError("protected_attributes: list at least one protected attribute")
        seen: dict[str, int] = {}
        for i, attribute in enumerate(self.protected_attributes):
            if attribute.key in seen:
                raise ValueError(
                    f"protected_attributes[{i}] and protected_attributes[{seen[attribute.key]}] "
                    f"are both named {attribute.key!r}: give each a distinct name"
                )
            seen[attribute.key] = i
        combinations: dict[frozenset[str], int] = {}
        for i, names in enumerate(self.intersections):
            unknown = [n for n in names if n not in seen]
            if unknown:
                raise ValueError(
                    f"intersections[{i}] names {json.dumps(unknown)}, which no entry of "
                    f"protected_attributes is named; names: {json.dumps(list(seen))}"
                )
            if len(set(names)) != len(names):
                raise ValueError(f"intersections[{i}] lists an attribute twice")
            columns = [self.attribute(n).column for n in names]
            if len(set(columns)) != len(columns):
                raise ValueError(
                    f"intersections[{i}] crosses attributes of the same column: an intersection "
                    "needs different columns"
                )
            combination = frozenset(names)
            if combination in combinations:
                raise ValueError(
                    f"intersections[{i}] repeats intersections[{combinations[combination]}]"
                )
            combinations[combination] = i
        return self


class Split(_Frozen):
    validation: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.15
    test: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.15
    seed: Annotated[int, Field(ge=0)] = 42


class Hyperparameters(_Frozen):
    objective: Literal["binary:logistic"] = "binary:logistic"
    num_round: Annotated[int, Field(ge=1, le=10000)] = 200
    max_depth: Annotated[int, Field(ge=1, le=32)] = 4
    eta: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    min_child_weight: Annotated[float, Field(ge=0.0)] = 1.0
    subsample: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    colsample_bytree: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    eval_metric: Literal["auc", "logloss", "error"] = "auc"
    early_stopping_rounds: Annotated[int, Field(ge=1)] | None = 20
    seed: Annotated[int, Field(ge=0)] = 0

    def as_sagemaker(self) -> dict[str, str]:
        """The hyperparameters as the built-in XGBoost container receives them (all strings)."""
        values = self.model_dump(exclude_none=True)
        return {key: _hp_str(value) for key, value in sorted(values.items())}


def _hp_str(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


ReasonText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ReasonCodes(_Frozen):
    """The principal reasons the endpoint returns with each score (ECOA / Regulation B, 12 CFR
    1002.9(b)(2)): the `top_k` features that pushed the score furthest toward the positive class,
    each stated by its text, or `default_text` for a feature without one."""

    top_k: Annotated[int, Field(ge=1)] = 4
    texts: dict[ColumnName, ReasonText] = Field(default_factory=dict)
    default_text: ReasonText = "Other information in your credit application"
    # Below this share of test-set adverse decisions whose reasons all have a specific text, the
    # evidence says LOW COVERAGE (a warning for the validator, not a build gate: docs/decisions/0026).
    min_coverage: Share = 0.9


class Model(_Frozen):
    name: Name
    package_group: Name
    description: str = ""
    dataset: Dataset
    target: ColumnName
    positive_class: Annotated[str, StringConstraints(min_length=1)]
    numeric_features: Annotated[tuple[ColumnName, ...], Field(min_length=0)] = ()
    categorical_features: tuple[ColumnName, ...] = ()
    leakage_columns: tuple[ColumnName, ...] = ()
    time_column: ColumnName | None = None
    fairness: Fairness
    # The single-attribute form before model.fairness: refused with how to migrate.
    sensitive_attribute: Any = Field(default=None, exclude=True)
    cutoff: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5
    split: Split = Split()
    hyperparameters: Hyperparameters = Hyperparameters()
    reasons: ReasonCodes = ReasonCodes()

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric_features + self.categorical_features

    @field_validator("sensitive_attribute")
    @classmethod
    def _sensitive_attribute_moved(cls, _value: Any) -> Any:
        raise ValueError(
            'replaced by model.fairness (docs/governance.md, "Fairness: protected groups"): '
            "write `fairness: {protected_attributes: [{column: <column>, values: [<protected "
            "values>]}]}` in its place"
        )

    @model_validator(mode="after")
    def _fairness_consistent(self) -> Model:
        """Contradictions between the protected attributes and the rest of the model block.
        A protected attribute listed in leakage_columns is no contradiction: it is kept out of
        training and still measured (preprocess keeps it for the test rows' groups)."""
        for i, attribute in enumerate(self.fairness.protected_attributes):
            field = f"model.fairness.protected_attributes[{i}]"
            column = attribute.column
            if column == self.target:
                raise ValueError(
                    f"{field}.column {column!r} is model.target: the outcome cannot be the "
                    "protected attribute"
                )
            listed = (
                "model.numeric_features" if column in self.numeric_features
                else "model.categorical_features" if column in self.categorical_features
                else None
            )  # fmt: skip
            if listed and attribute.used_as_feature_because is None:
                raise ValueError(
                    f"{field}.column {column!r} is also in {listed}: a protected attribute is "
                    f"not a model input; remove it from {listed}, or say why in "
                    f"{field}.used_as_feature_because"
                )
            if not listed and attribute.used_as_feature_because is not None:
                raise ValueError(
                    f"{field}.used_as_feature_because is set, but {column!r} is in neither "
                    "model.numeric_features nor model.categorical_features"
                )
            if listed == "model.categorical_features" and attribute.values is None:
                kind = "range" if attribute.range is not None else "bins"
                raise ValueError(
                    f"{field}.{kind} compares numbers, but {column!r} is in "
                    "model.categorical_features: use values, or list the column as numeric"
                )
        return self

    @model_validator(mode="after")
    def _columns_consistent(self) -> Model:
        if not self.features:
            raise ValueError("at least one numeric or categorical feature is required")
        problems = _column_contradictions(self)
        if problems:
            raise ValueError("; ".join(problems))
        if self.split.validation + self.split.test >= 0.8:
            raise ValueError("split.validation + split.test must leave at least 20 % for training")
        return self

    @model_validator(mode="after")
    def _reasons_name_features(self) -> Model:
        """A text for a column the model does not read would never be given; a k above the
        number of features could never be met."""
        features = self.features
        unknown = [name for name in self.reasons.texts if name not in features]
        if unknown:
            raise ValueError(
                f"model.reasons.texts names {', '.join(repr(n) for n in unknown)}, not in "
                "model.numeric_features or model.categorical_features"
            )
        if self.reasons.top_k > len(features):
            raise ValueError(
                f"model.reasons.top_k is {self.reasons.top_k}, but the model has "
                f"{len(features)} features"
            )
        return self


def _column_contradictions(model: Model) -> list[str]:
    """Columns that one field gives a role the other forbids; each reason names both fields."""
    roles: list[tuple[str, tuple[str, ...]]] = [
        ("model.numeric_features", model.numeric_features),
        ("model.categorical_features", model.categorical_features),
    ]
    problems: list[str] = []
    for field, columns in roles:
        twice = sorted({c for c in columns if columns.count(c) > 1})
        problems += [f"{field} lists {c!r} twice" for c in twice]
    both = sorted(set(model.numeric_features) & set(model.categorical_features))
    problems += [
        f"{c!r} is in both model.numeric_features and model.categorical_features" for c in both
    ]

    def clash(field: str, column: str, reason: str) -> None:
        for feature_field, columns in roles:
            if column in columns:
                problems.append(f"{field} {column!r} is also in {feature_field}: {reason}")

    clash("model.target", model.target, "the label cannot be an input")
    for column in model.leakage_columns:
        clash("model.leakage_columns", column, "a leakage column is dropped before training")
    if model.target in model.leakage_columns:
        problems.append(
            f"model.target {model.target!r} is also in model.leakage_columns: the label would "
            "be dropped before training"
        )
    if model.time_column is not None:
        clash(
            "model.time_column",
            model.time_column,
            "the split orders rows by time, so the model would learn the period, not the risk",
        )
        if model.time_column == model.target:
            problems.append(
                f"model.time_column {model.time_column!r} is model.target: the label cannot "
                "order the split"
            )
    # A protected attribute equal to the target is refused by Model._fairness_consistent.
    return problems


class DataQualityGates(_Frozen):
    min_rows: Annotated[int, Field(ge=10)] = 1000
    max_missing_share: Share = 0.05
    min_positive_share: Share = 0.01


class Gates(_Frozen):
    min_auc: Annotated[float, Field(ge=0.5, le=1.0)] = 0.65
    min_ks: Share = 0.2
    # Largest absolute difference in favourable-outcome rates between the protected group and
    # the rest (statistical parity difference).
    max_fairness_disparity: Share = 0.1
    # Four-fifths rule: ratio of favourable-outcome rates, protected group over the rest.
    min_disparate_impact: Annotated[float, Field(ge=0.0, le=1.0)] = 0.8
    # Largest AUC loss of the challenger against the champion (the version serving in prod),
    # both scored on the challenger's test rows (ADR 0029). 0 refuses any loss at all.
    max_auc_drop_vs_champion: Annotated[float, Field(ge=0.0, le=0.5)] = 0.02
    data_quality: DataQualityGates = DataQualityGates()


class DriftThresholds(_Frozen):
    psi_watch: Annotated[float, Field(gt=0.0, le=5.0)] = 0.1
    psi_act: Annotated[float, Field(gt=0.0, le=5.0)] = 0.25
    ks_p_value: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    wasserstein: Annotated[float, Field(gt=0.0, le=10.0)] = 0.1
    jensen_shannon: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    max_missing_share_increase: Share = 0.05
    max_unseen_share: Share = 0.01

    @model_validator(mode="after")
    def _watch_below_act(self) -> DriftThresholds:
        if self.psi_watch >= self.psi_act:
            raise ValueError("psi_watch must be below psi_act")
        return self


class ExplanationDrift(_Frozen):
    """Explanation drift: the window's global attribution profile (mean |TreeSHAP| per feature,
    computed with the deployed model) against the one the baseline step recorded
    (finmlops.monitoring.explanation; docs/decisions/0028)."""

    # SageMaker Clarify raises an alert when the NDCG of the two rankings is below 0.90 (docs
    # page clarify-model-monitor-feature-attribution-drift).
    min_ndcg: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    # Half the L1 distance between the two profiles as shares of their totals: the share of the
    # model's attribution that moved between features. NDCG weighs each feature by its baseline
    # attribution, so a model led by one feature hides a reordering below it (ADR 0028).
    max_attribution_shift: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    # The window is explained on a seeded sample of at most this many rows (TreeSHAP's cost).
    sample_rows: Annotated[int, Field(ge=100, le=1_000_000)] = 2000
    # A window with fewer rows is reported as not evaluated: too few to rank the features.
    min_rows: Annotated[int, Field(ge=1)] = 100


class Monitoring(_Frozen):
    mode: Literal["pipeline", "model_monitor"] = "pipeline"
    schedule: str = "cron(0 * * * ? *)"
    drift: DriftThresholds = DriftThresholds()
    # The dataset is drifted when the share of drifted features is >= this value.
    dataset_drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    min_auc: Annotated[float, Field(ge=0.5, le=1.0)] = 0.6
    # A window whose AUC is lower than the deployed version's validated AUC by more than this,
    # beyond sampling noise (the drop's one-sided lower confidence bound at
    # `auc_drop_confidence`, DeLong), is a quality violation; null turns the rule off.
    max_auc_drop: Annotated[float, Field(ge=0.0, lt=0.5)] | None = 0.02
    auc_drop_confidence: Annotated[float, Field(ge=0.5, lt=1.0)] = 0.95
    label_delay_hours: Annotated[int, Field(ge=0)] = 24
    # A window is a violation (and its bad-records alarm fires) when more than this share of its
    # records could not be read; fewer are counted, sampled in the report and skipped.
    max_bad_record_share: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01
    retrain_on_drift: bool = False
    # 184 days: six months at their longest (EU AI Act Art. 19(1) / Art. 26(6): logs kept at
    # least six months); a tier may require more (governance.tiers.<tier>.min_log_retention_days).
    capture_retention_days: Annotated[int, Field(ge=1, le=3650)] = 184
    explanation: ExplanationDrift = ExplanationDrift()

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        # As EventBridge Scheduler accepts it (finmlops.schedules cites the AWS pages).
        try:
            return check_schedule(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None


class Deployment(_Frozen):
    strategy: Literal["canary", "linear"] = "canary"
    canary_share: Annotated[float, Field(gt=0.0, le=0.5)] = 0.1
    linear_step_share: Annotated[float, Field(gt=0.0, le=0.5)] = 0.25
    baking_minutes: Annotated[int, Field(ge=1, le=180)] = 10
    wait_minutes: Annotated[int, Field(ge=1, le=180)] = 5
    max_latency_ms: Annotated[int, Field(ge=1)] = 500

    def step_instances(self, instances: Instances) -> int:
        """Instances in the canary (or in each linear step): the configured share of the smallest
        fleet the variant can have, rounded down, at least one. SageMaker requires a canary of at
        most 50 % and a linear step of 10-50 % of the variant's instance count
        (TrafficRoutingConfig.CanarySize / LinearStepSize); counting instances rather than
        percent leaves no rounding to SageMaker, and `deployment_problems` checks the result
        against every fleet size autoscaling allows."""
        share = self.canary_share if self.strategy == "canary" else self.linear_step_share
        return max(1, math.floor(instances.endpoint_count * share))


def deployment_problems(
    deployment: Deployment, name: str, instances: Instances
) -> list[tuple[str, str]]:
    """Why a guarded (blue/green canary or linear) update of this environment's endpoint would be
    refused by SageMaker, as (field, reason); empty when it is valid for every fleet size between
    `endpoint_count` and `endpoint_max_count` (autoscaling and retained instance counts make any
    of them the fleet a deployment starts from)."""
    field = f"environments.{name}.instances"
    if instances.endpoint_count < 2:
        return [
            (
                f"{field}.endpoint_count",
                f"a {deployment.strategy} deployment needs at least 2 instances: its first step "
                "may be at most half of the variant's instances (SageMaker TrafficRoutingConfig), "
                f"and half of {instances.endpoint_count} is no instance",
            )
        ]
    step = deployment.step_instances(instances)
    if deployment.strategy == "linear" and step * 10 < instances.endpoint_max_count:
        return [
            (
                "deployment.linear_step_share",
                f"{name}: a linear step of {step} instance(s) is below 10 % of "
                f"{instances.endpoint_max_count} instances (endpoint_max_count); SageMaker wants "
                "each step to be 10-50 % of the variant's instances",
            )
        ]
    return []


RiskTier = Literal["high", "medium", "low"]


# What a tier may require of a version's evaluation (finmlops.registry.gatecheck checks each).
RequiredEvidence = Literal[
    "champion_comparison", "fairness", "bootstrap_intervals", "explanations", "score_stability"
]


class TierPolicy(_Frozen):
    """What a model risk tier requires (SR 26-2 / OCC 2026-13: validation depth, monitoring
    frequency and re-review triggers set by materiality; ADR 0030)."""

    # Validation depth: approval and promotion need the validator's observed sign-off, and the
    # drift baselines the monitoring compares against.
    validator_signoff: bool
    require_drift_baselines: bool = True
    # Monitoring frequency: the longest time monitoring.schedule may leave between two runs.
    monitoring_every_minutes: Annotated[int, Field(ge=5, le=44640)]
    # Re-review triggers: which production alarms open a re-validation record that the next
    # approval must close with a sign-off.
    revalidate_on: tuple[Literal["drift", "quality"], ...] = ()
    # Validation depth: the evidence sections approval and promotion require in the version's
    # evaluation (finmlops.registry.gatecheck.REQUIRED_EVIDENCE says what each needs).
    required_evidence: tuple[RequiredEvidence, ...] = ("fairness",)
    # Record keeping: the shortest monitoring.capture_retention_days the tier allows (EU AI Act
    # Art. 19(1), Art. 26(6): logs kept at least six months, 184 days at their longest); null
    # sets no floor.
    min_log_retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None

    @field_validator("required_evidence")
    @classmethod
    def _once_each(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"names {', '.join(repeated)} more than once")
        return value


class Tiers(_Frozen):
    """The bank's tiering policy, one entry per tier (defaults below; a bank states its own)."""

    high: TierPolicy = TierPolicy(
        validator_signoff=True, monitoring_every_minutes=60, revalidate_on=("drift", "quality"),
        required_evidence=(
            "champion_comparison", "fairness", "bootstrap_intervals", "explanations",
            "score_stability",
        ),
        min_log_retention_days=184,
    )  # fmt: skip
    medium: TierPolicy = TierPolicy(
        validator_signoff=True, monitoring_every_minutes=1440, revalidate_on=("quality",),
        required_evidence=("champion_comparison", "fairness", "bootstrap_intervals"),
    )  # fmt: skip
    low: TierPolicy = TierPolicy(
        validator_signoff=False, require_drift_baselines=False, monitoring_every_minutes=10080
    )

    def of(self, tier: RiskTier) -> TierPolicy:
        policy: TierPolicy = getattr(self, tier)
        return policy


class Governance(_Frozen):
    risk_tier: RiskTier
    owner: Annotated[str, StringConstraints(min_length=1)]
    validator: Annotated[str, StringConstraints(min_length=1)]
    # IAM role names: ASCII letters, digits and +=,.@_- (IAM User Guide, "IAM object names");
    # not `\w`, which pydantic's regex engine matches against any Unicode letter.
    approver_role: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")]
    # The one role (by name, in each account) that may schedule deletion of, disable or rewrite
    # the policy of the audit trail's KMS key, and delete audit records; nobody else can, the
    # account's administrators included (docs/decisions/0011). It need not exist at deploy time.
    break_glass_role: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")]
    data_classification: Literal["public", "internal", "confidential", "restricted"] = (
        "confidential"
    )
    intended_use: str = ""
    limitations: str = ""
    tiers: Tiers = Tiers()
    # Accounts of the platform that may read this model's registry group (its versions, their
    # evidence and artifacts), beyond dev where it lives; none = tooling, stage and prod, the
    # accounts that promote and serve it. An account outside the platform is refused at load.
    readers: tuple[str, ...] | None = None

    @property
    def tier(self) -> TierPolicy:
        """The policy of this model's risk tier."""
        return self.tiers.of(self.risk_tier)


class Notifications(_Frozen):
    emails: tuple[
        Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...
    ] = ()
    # The SSM SecureString parameter holding the chat webhook URL (never the URL itself): a full
    # path with its leading slash, e.g. /credit-risk/alerts/chat-webhook (docs/alerts.md).
    chat_webhook_parameter: (
        Annotated[str, StringConstraints(pattern=r"^/[a-zA-Z0-9_.\-/]{1,1010}$")] | None
    ) = None

    @field_validator("chat_webhook_parameter")
    @classmethod
    def _not_reserved(cls, name: str | None) -> str | None:
        if name and name.lstrip("/").lower().startswith(("aws", "ssm")):
            raise ValueError("SSM parameter names cannot begin with aws or ssm")
        return name


class Functions(_Frozen):
    """The project's Lambda functions (the approval handler, the chat notifier)."""

    # Reserved concurrency per function, or none. Off by default: a new account's Lambda quota is
    # 10 concurrent executions and AWS keeps 10 of them unreserved, so any reservation fails the
    # deployment ("decreases account's UnreservedConcurrentExecution below its minimum value").
    # Set it once the account's quota has been raised (docs/deploy.md).
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] | None = None


class Serving(_Frozen):
    """How the approved version serves: a real-time endpoint, or batch scoring on a schedule.

    `serving: batch` (or `{mode: batch, schedule: ...}`) scores the files under the model's input
    prefix in the serving account's data bucket on `schedule`, writes the scores with inference
    ids and the same capture records an endpoint writes, which the same drift and quality jobs
    read (docs/serving.md, "Batch serving")."""

    mode: Literal["realtime", "batch"] = "realtime"
    # batch only: when a scoring run starts (EventBridge cron() or rate(), finmlops.schedules).
    schedule: str | None = Field(default=None, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `serving: batch` reads as `serving: {mode: batch}` (a schedule is then still required).
        return {"mode": data} if isinstance(data, str) else data

    @field_validator("schedule")
    @classmethod
    def _schedule_with_batch(cls, value: str | None, info: ValidationInfo) -> str | None:
        batch = info.data.get("mode") == "batch"
        if value is None:
            if batch:
                raise ValueError(
                    "required with mode batch: when the batch job scores, e.g. cron(0 2 * * ? *)"
                )
            return None
        if not batch:
            raise ValueError("for mode batch only; a real-time endpoint serves continuously")
        try:
            return check_schedule(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None

    @property
    def batch(self) -> bool:
        return self.mode == "batch"


class Config(_Frozen):
    """One model's deployment: the platform's environments and settings, and the model with its
    gates, monitoring, deployment, governance and serving. A portfolio file (`models:`) gives one
    such view per model (`Portfolio.config`); a single-model file is one."""

    project: Name
    environments: Environments
    model: Model
    gates: Gates = Gates()
    monitoring: Monitoring = Monitoring()
    deployment: Deployment = Deployment()
    governance: Governance
    serving: Serving = Serving()
    notifications: Notifications = Notifications()
    tracking: TrackingSettings = TrackingSettings()
    functions: Functions = Functions()
    # The file this config was read from (`load_config`), or None (`parse_config`). Not a field:
    # it is not serialized, so a shipped copy of the config says what the author wrote.
    _source_file: Path | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # Two configs are equal when they say the same thing: where each was read from (a
        # private attribute, which pydantic would compare) is not part of what they say.
        if not isinstance(other, Config):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = _Frozen.__hash__

    @property
    def source_file(self) -> Path | None:
        return self._source_file

    @property
    def source_dir(self) -> Path | None:
        """The folder relative dataset paths are resolved against: the config file's."""
        return self._source_file.parent if self._source_file is not None else None

    @property
    def source(self) -> str:
        """How error messages name this config: its file, or `<config>`."""
        return str(self._source_file) if self._source_file is not None else "<config>"

    def inventory_tags(self) -> dict[str, str]:
        """The tags every resource carries (security bar item 16)."""
        return {
            "model-id": self.model.name,
            "risk-tier": self.governance.risk_tier,
            "owner": self.governance.owner,
            "data-classification": self.governance.data_classification,
        }


def _cross_checks(config: Config) -> list[tuple[str, str]]:
    """Rules that span fields, reported with the exact path of the field to change."""
    problems: list[tuple[str, str]] = []
    envs = config.environments
    if not envs.allow_shared_accounts:
        # Sharing an account defeats the blast-radius and segregation-of-duties argument of a
        # multi-account deployment; allowed only when the file says so explicitly.
        seen: dict[str, str] = {}
        for name in ENVIRONMENT_NAMES:
            account = envs.by_name(name).account
            if account in seen:
                problems.append(
                    (
                        f"environments.{name}.account",
                        f"{account} is also the account of {seen[account]!r}; "
                        "set environments.allow_shared_accounts: true to allow it",
                    )
                )
            seen.setdefault(account, name)
    # One region for all four: the registry CLI, the approval handler and the promotion read dev,
    # stage and prod with clients of the tooling region (a model package or endpoint ARN of
    # another region would be asked of the wrong regional endpoint).
    tooling_region = envs.tooling.region
    for name in ENVIRONMENT_NAMES:
        region = envs.by_name(name).region
        if region != tooling_region:
            problems.append(
                (
                    f"environments.{name}.region",
                    f"{region} differs from the tooling region {tooling_region}: the platform "
                    "runs in one region (the gate reads every environment from tooling's)",
                )
            )
    governance = config.governance
    if governance.break_glass_role == governance.approver_role:
        problems.append(
            (
                "governance.break_glass_role",
                "must not be the approver role: whoever decides must not be able to destroy "
                "the record of the decision",
            )
        )
    elif governance.break_glass_role.startswith(f"{config.project}-"):
        problems.append(
            (
                "governance.break_glass_role",
                f"{governance.break_glass_role!r} is named like the platform's own roles "
                f"({config.project}-<environment>-<purpose>); name a role people assume "
                "only in an emergency",
            )
        )
    if config.monitoring.mode == "model_monitor":
        try:
            check_model_monitor_schedule(config.monitoring.schedule)
        except ScheduleError as exc:
            problems.append(("monitoring.schedule", f"with monitoring.mode model_monitor: {exc}"))
    problems.extend(monitoring_count_problems(config))
    problems += _tier_problems(config, problems)
    problems += _retention_problems(config)
    if config.monitoring.min_auc > config.gates.min_auc:
        problems.append(
            (
                "monitoring.min_auc",
                f"{config.monitoring.min_auc} is above gates.min_auc ({config.gates.min_auc}): "
                "a version that just passed the build's gate could raise the production "
                "quality alarm on its first labelled window",
            )
        )
    problems.extend(reader_problems(config))
    return problems + _endpoint_problems(config, problems)


def _endpoint_problems(config: Config, reported: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The endpoint's rules. A batch model has none: its version switches when the next scoring
    run starts, after the same approvals."""
    if config.serving.batch:
        return []
    envs = config.environments
    problems: list[tuple[str, str]] = []
    prod = envs.prod.instances
    if prod.endpoint_count < 2:
        problems.append(
            (
                "environments.prod.instances.endpoint_count",
                f"prod needs at least 2 endpoint instances (got {prod.endpoint_count})",
            )
        )
    fields = {field for field, _ in reported + problems}
    for name in SERVING_ENVIRONMENTS:
        instances = envs.by_name(name).instances
        problems.extend(
            problem
            for problem in deployment_problems(config.deployment, name, instances)
            if problem[0] not in fields
        )
    return problems


def reader_problems(config: Config) -> list[tuple[str, str]]:
    """Readers of a model's registry group are accounts of the platform, nothing else."""
    envs = config.environments
    accounts = {envs.by_name(name).account: name for name in ENVIRONMENT_NAMES}
    return [
        (
            f"governance.readers[{i}]",
            f"{account!r} is not an account of the platform (environments: "
            f"{', '.join(f'{n} {a}' for a, n in accounts.items())}); a registry group is read "
            "only inside the platform",
        )
        for i, account in enumerate(config.governance.readers or ())
        if account not in accounts
    ]


def monitoring_count_problems(config: Config) -> list[tuple[str, str]]:
    """A drift run spread over several instances needs the pipeline's merge step: a Model
    Monitor schedule runs one job per schedule, with nothing to merge the shards' partials."""
    if config.monitoring.mode != "model_monitor":
        return []
    envs = config.environments
    return [
        (
            f"environments.{name}.instances.monitoring_count",
            f"{envs.by_name(name).instances.monitoring_count} instances: monitoring.mode "
            "model_monitor runs one job per schedule with no step to merge shards; spread a "
            "window over instances with monitoring.mode pipeline, or set 1",
        )
        for name in SERVING_ENVIRONMENTS
        if envs.by_name(name).instances.monitoring_count > 1
    ]


def _retention_problems(config: Config) -> list[tuple[str, str]]:
    """Captured requests (the serving logs) kept at least as long as the risk tier requires."""
    problems: list[tuple[str, str]] = []
    floor = config.governance.tier.min_log_retention_days
    if floor is not None and config.monitoring.capture_retention_days < floor:
        problems.append(
            (
                "monitoring.capture_retention_days",
                f"{config.monitoring.capture_retention_days} days is below governance.tiers."
                f"{config.governance.risk_tier}.min_log_retention_days ({floor}, risk tier "
                f"{config.governance.risk_tier}): logs of a high-risk AI system are kept at "
                "least six months (EU AI Act Art. 19(1), Art. 26(6))",
            )
        )
    return problems


def _tier_problems(config: Config, reported: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The risk tier's monitoring frequency against the schedule (SR 26-2: by tier), unless the
    schedule was already refused for another reason."""
    if any(field == "monitoring.schedule" for field, _ in reported):
        return []
    tier = config.governance.risk_tier
    bound = config.governance.tier.monitoring_every_minutes
    bound_field = f"governance.tiers.{tier}.monitoring_every_minutes"
    schedule = config.monitoring.schedule
    gap = longest_gap_minutes(schedule)
    if gap is None:
        return [
            (
                "monitoring.schedule",
                f"{schedule} restricts days, months or years, so its longest gap cannot be "
                f"checked against {bound_field} ({bound} minutes, risk tier {tier}); use a "
                "rate() or a cron that runs every day",
            )
        ]
    if gap > bound:
        return [
            (
                "monitoring.schedule",
                f"{schedule} leaves up to {gap} minutes between runs; {bound_field} (risk tier "
                f"{tier} from governance.risk_tier) requires a run at least every {bound} minutes",
            )
        ]
    return []


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item.startswith(("function-after", "function-before")) or item in {"tuple"}:
            continue
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


# Fields whose wrong value may be a secret pasted in the wrong place (the webhook URL itself):
# their errors name the field and the rule, never the value.
_UNECHOED_FIELDS = frozenset({("notifications", "chat_webhook_parameter")})


def _reason(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required value is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error" or not error["loc"]:
        return message
    if tuple(error["loc"]) in _UNECHOED_FIELDS:
        return f"{message} (value not shown: it may be a secret)"
    return f"{message} (got {error.get('input')!r})"


def _json_text(data: Any, source: str) -> str:
    """The data as JSON, for pydantic's JSON mode: strict types (no "5" -> 5, no 1 -> True)
    while YAML lists fill tuples; ConfigError for what JSON (and so no field) can hold."""
    if not isinstance(data, dict):
        raise ConfigError(source, [("(top level)", "expected a mapping of keys to values")])
    try:
        return json.dumps(data, default=str, allow_nan=False)
    except ValueError:
        raise ConfigError(
            source,
            [("(file)", "holds .nan or .inf: no field accepts a value that is not a number")],
        ) from None
    except TypeError as exc:
        # A key JSON cannot hold (a date, binary data): no field is named by one.
        raise ConfigError(source, [("(file)", f"holds a key that is not text: {exc}")]) from None


def parse_config(data: Any, source: str = "<config>", *, source_file: Path | None = None) -> Config:
    """Validate already-parsed YAML/JSON data; raises ConfigError naming each bad field.

    `source_file` is the file the data came from (`load_config` passes it): relative dataset
    paths resolve against its folder. Without it a relative dataset path cannot be resolved."""
    text = _json_text(data, source)
    try:
        config = Config.model_validate_json(text)
    except ValidationError as exc:
        problems = [(_field_path(tuple(e["loc"])), _reason(e)) for e in exc.errors()]
        raise ConfigError(source, problems) from None
    problems = _cross_checks(config)
    if problems:
        raise ConfigError(source, problems)
    config._source_file = source_file
    return config


CONFIG_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")


def find_config_file(path: Path, error: type[ValueError] = ValueError) -> Path:
    """The config file itself, or the one config file under a folder (a processing job's input
    is an S3 prefix copied as a folder). Raises `error`, naming the path, otherwise."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise error(f"config: {path} does not exist")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in CONFIG_SUFFIXES)
    if len(files) != 1:
        raise error(f"config: expected one .yaml/.yml/.json file under {path}, found {len(files)}")
    return files[0]


# A portfolio file: the platform's settings once, and one block per model under `models:`.
PLATFORM_KEYS: tuple[str, ...] = (
    "project",
    "environments",
    "governance",
    "notifications",
    "tracking",
    "functions",
    "models",
)
# The sections of a model block that are sections of its view, not fields of `model`.
MODEL_SECTIONS: tuple[str, ...] = ("gates", "monitoring", "deployment", "governance", "serving")
# Governance set once for the platform; everything else in governance is the model's.
PLATFORM_GOVERNANCE: tuple[str, ...] = ("break_glass_role", "tiers")


@dataclass(frozen=True)
class Portfolio:
    """Every model of one platform, each as its `Config` view (its block plus the platform's
    settings), in the order of the file. A single-model file is a portfolio of one."""

    views: Mapping[str, Config]
    source: str = "<config>"

    def __post_init__(self) -> None:
        if not self.views:
            raise ValueError("a portfolio has at least one model")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.views)

    @property
    def configs(self) -> tuple[Config, ...]:
        return tuple(self.views.values())

    @property
    def platform(self) -> Config:
        """A view for what is the same in every view (project, environments, notifications,
        tracking, functions, break-glass role and tiers): the first model's."""
        return next(iter(self.views.values()))

    def config(self, name: str | None = None) -> Config:
        """The view of the model `name`; without a name, the only model's. ConfigError naming
        `models` when the name is unknown, or when there are several and none is named."""
        if name is None:
            if len(self.views) == 1:
                return self.platform
            raise ConfigError(
                self.source,
                [
                    (
                        "models",
                        f"{len(self.views)} models ({', '.join(self.views)}): name one "
                        "(--model NAME)",
                    )
                ],
            )
        if name not in self.views:
            raise ConfigError(
                self.source,
                [("models", f"no model {name!r}; the models are {', '.join(self.views)}")],
            )
        return self.views[name]


def _split_block(
    name: str, block: Any, platform: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A model block and the platform's settings as the data of the model's view."""
    where = f"models.{name}"
    if not isinstance(block, dict):
        return {}, [(where, "expected a mapping: the model's fields and sections")]
    problems: list[tuple[str, str]] = []
    if "name" in block and block["name"] != name:
        problems.append((f"{where}.name", f"{block['name']!r} differs from its key {name!r}"))
    model = {"name": name} | {k: v for k, v in block.items() if k not in MODEL_SECTIONS}
    view: dict[str, Any] = {k: v for k, v in platform.items() if k not in ("models", "governance")}
    view["model"] = model
    view.update({k: block[k] for k in MODEL_SECTIONS if k in block and k != "governance"})
    governance = block.get("governance")
    platform_governance = platform.get("governance")
    if isinstance(governance, dict) and isinstance(platform_governance, dict):
        for key in PLATFORM_GOVERNANCE:
            if key in governance:
                problems.append(
                    (
                        f"{where}.governance.{key}",
                        f"set once for the platform, under the top-level governance.{key}",
                    )
                )
        view["governance"] = dict(platform_governance) | governance
    elif governance is not None or platform_governance is not None:
        view["governance"] = governance if platform_governance is None else platform_governance
    return view, problems


_SECTION_IN_TEXT = re.compile(r"(?<![\w.])(model|gates|monitoring|deployment|serving)\.(?=[a-z_])")
_GOVERNANCE_IN_TEXT = re.compile(r"(?<![\w.])governance\.(?!tiers\b|break_glass_role\b)(?=[a-z_])")


def _in_block(name: str, text: str) -> str:
    """A view's field path (or a message naming one) as the path in the portfolio file."""

    def section(match: re.Match[str]) -> str:
        kind = match.group(1)
        return f"models.{name}." if kind == "model" else f"models.{name}.{kind}."

    text = _SECTION_IN_TEXT.sub(section, text)
    return _GOVERNANCE_IN_TEXT.sub(f"models.{name}.governance.", text)


def _portfolio_problems(views: Mapping[str, Config]) -> list[tuple[str, str]]:
    """Rules between model blocks."""
    problems: list[tuple[str, str]] = []
    groups: dict[str, str] = {}
    for name, view in views.items():
        group = view.model.package_group
        if group in groups:
            problems.append(
                (
                    f"models.{name}.package_group",
                    f"{group!r} is also the package group of model {groups[group]!r}: each "
                    "model has its own registry group (its approvers, readers and versions)",
                )
            )
        groups.setdefault(group, name)
    return problems


def parse_portfolio(
    data: Any, source: str = "<config>", *, source_file: Path | None = None
) -> Portfolio:
    """Validate a portfolio (`models:`) or a single-model (`model:`) file's data; ConfigError
    naming every bad field by its path in the file."""
    _json_text(data, source)
    if "models" not in data:
        config = parse_config(data, source, source_file=source_file)
        return Portfolio({config.model.name: config}, source)
    if "model" in data:
        raise ConfigError(
            source,
            [("model", "a file has either `model:` (one model) or `models:` (a portfolio)")],
        )
    problems: list[tuple[str, str]] = [
        (key, "unknown key (a model's fields and sections go in its block under models)")
        for key in data
        if key not in PLATFORM_KEYS
    ]
    models = data["models"]
    if not isinstance(models, dict) or not models:
        raise ConfigError(
            source, [*problems, ("models", "expected a mapping of model names to model blocks")]
        )
    views: dict[str, Config] = {}
    seen: set[tuple[str, str]] = set()
    for name, block in models.items():
        view_data, block_problems = _split_block(str(name), block, data)
        problems += block_problems
        if not view_data:
            continue
        try:
            views[str(name)] = parse_config(view_data, source, source_file=source_file)
        except ConfigError as exc:
            for field, reason in exc.problems:
                # A platform field's problem is reported once, not once per model.
                mapped = (_in_block(str(name), field), _in_block(str(name), reason))
                if mapped not in seen:
                    seen.add(mapped)
                    problems.append(mapped)
    if not problems:
        problems = _portfolio_problems(views)
    if problems:
        raise ConfigError(source, problems)
    return Portfolio(views, source)


def single_model_data(data: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """A portfolio file's data as the single-model file of its model `name` (or of its only
    model): the shape a model's view is validated in, and what a model's pipeline ships. A
    single-model file's data is returned as it is."""
    if "models" not in data:
        return dict(data)
    models = data["models"]
    if name is None:
        if len(models) != 1:
            raise ValueError(f"{len(models)} models: name one")
        name = next(iter(models))
    view, problems = _split_block(name, models[name], data)
    if problems:
        raise ValueError("; ".join(f"{field}: {reason}" for field, reason in problems))
    return view


def _read(path: str | Path) -> tuple[Any, Path]:
    file = Path(path)
    try:
        return load_yaml(read_text(file)), file
    except ConfigLoadError as problem:
        raise ConfigError(str(file), [(problem.field, problem.reason)]) from None


def load_portfolio(path: str | Path) -> Portfolio:
    """Load and validate a platform file: every model's view (see `load_config`)."""
    data, file = _read(path)
    return parse_portfolio(data, str(file), source_file=file.absolute())


def load_config(path: str | Path, model: str | None = None) -> Config:
    """Load and validate one YAML configuration file (JSON is YAML too): the view of `model`,
    or of the file's only model.

    Reading is bounded and strict (finmlops.config_loader): at most 256 KiB of UTF-8, duplicate
    keys refused, alias expansion and nesting bounded; every refusal is a ConfigError naming
    the file, the key path or line, and the reason. The returned config remembers its file
    (`Config.source_file`, `source_dir`): relative dataset paths resolve against its folder."""
    return load_portfolio(path).config(model)


def dataset_path(config: Config) -> Path:
    """The real path of the config's `package:` or local dataset, confined as
    `finmlops.datasets` describes (symlinks followed); ConfigError naming model.dataset.uri
    otherwise, before anything is read or copied."""
    uri = config.model.dataset.uri
    try:
        return local_dataset_path(uri, config.source_dir)
    except DatasetPathError as exc:
        raise ConfigError(config.source, [("model.dataset.uri", f"{uri!r}: {exc}")]) from None


DEFAULT_CONFIG_NAME = "platform.yaml"


def default_config_path(root: str | Path | None = None) -> Path:
    """config/platform.yaml under the repository root (or the given root)."""
    base = Path(root) if root is not None else Path.cwd()
    return base / "config" / DEFAULT_CONFIG_NAME


__all__ = [
    "ENVIRONMENT_NAMES",
    "SERVING_ENVIRONMENTS",
    "Config",
    "ConfigError",
    "Environment",
    "Portfolio",
    "Serving",
    "dataset_path",
    "default_config_path",
    "load_config",
    "load_portfolio",
    "parse_config",
    "parse_portfolio",
    "single_model_data",
]
