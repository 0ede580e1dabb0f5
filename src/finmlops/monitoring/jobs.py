"""How a scheduled monitoring job of a deployed version is told what to do, defined once.

The CDK monitoring stack puts these into the job definitions (Model Monitor schedule or
monitoring pipeline); the offline emulator runs its jobs with the same values.
"""

from __future__ import annotations

import re

from finmlops.config import Config
from finmlops.contracts import DeploymentManifest

QUALITY_WINDOW = "1h"


def drift_environment(config: Config, manifest: DeploymentManifest) -> dict[str, str]:
    """What the drift run checks the baseline against (the version that is deployed), and the
    thresholds it decides with (the config's, so the job needs no copy of the config file)."""
    identity = {
        "drift_thresholds": config.monitoring.drift.model_dump_json(),
        "dataset_drift_share": str(config.monitoring.dataset_drift_share),
        "max_bad_record_share": str(config.monitoring.max_bad_record_share),
        "expected_model_id": config.model.name,
        "expected_model_version": str(manifest.version),
        "expected_model_package_arn": manifest.model_package_arn,
    }
    if manifest.data_fingerprint:
        identity["expected_data_fingerprint"] = manifest.data_fingerprint
    return identity


def explanation_environment(config: Config) -> dict[str, str]:
    """The explanation-drift step's limits (the config's, so the job needs no copy of it)."""
    return {
        "explanation_thresholds": config.monitoring.explanation.model_dump_json(),
        "max_bad_record_share": str(config.monitoring.max_bad_record_share),
    }


def quality_arguments(config: Config, manifest: DeploymentManifest) -> list[str]:
    """`quality` with the config's cutoff and AUC floor (labels: 1 or the positive class), the
    deployed version's validated AUC and the drop tolerated below it, the label delay (a window
    older than it without a computable AUC is a violation) and the bad-record limit."""
    drop: list[str] = []
    if config.monitoring.max_auc_drop is not None and manifest.validated_auc is not None:
        drop = [
            "--validated-auc",
            repr(manifest.validated_auc),
            "--max-auc-drop",
            str(config.monitoring.max_auc_drop),
            "--auc-drop-confidence",
            str(config.monitoring.auc_drop_confidence),
        ]
    return [
        "quality",
        "--cutoff",
        str(config.model.cutoff),
        "--min-auc",
        str(config.monitoring.min_auc),
        *drop,
        "--positive-labels",
        f"1,{config.model.positive_class}",
        "--window",
        QUALITY_WINDOW,
        "--label-delay-hours",
        str(config.monitoring.label_delay_hours),
        "--max-bad-record-share",
        str(config.monitoring.max_bad_record_share),
    ]


def schedule_window_hours(expression: str) -> float:
    """The hours between two runs of a schedule expression: what one drift run should cover.

    rate(N unit) is exact; for cron(m h dom mon dow y) an hour field of `*` is hourly, `*/k`
    every k hours, anything else once a day (the platform's schedules are one of these).
    """
    rate = re.fullmatch(
        r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)", expression.strip()
    )
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        return (
            count / 60
            if unit.startswith("minute")
            else count * 24
            if unit.startswith("day")
            else float(count)
        )
    fields = expression.strip().removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6:
        raise ValueError(f"not a schedule expression: {expression!r}")
    hour = fields[1]
    if hour == "*":
        return 1.0
    step = re.fullmatch(r"\*/(\d+)", hour)
    return float(step.group(1)) if step else 24.0


def capture_lookback(config: Config) -> dict[str, str]:
    """Environment that bounds what a scheduled job downloads from S3 (finmlops.monitoring.sources):
    drift reads the hours since the previous run; model quality also waits out the label delay."""
    window = schedule_window_hours(config.monitoring.schedule)
    return {
        "drift": f"{window:g}",
        "quality": f"{window + config.monitoring.label_delay_hours:g}",
    }
