"""How a scheduled monitoring job of a deployed version is told what to do, defined once.

The CDK monitoring stack puts these into the job definitions (Model Monitor schedule or
monitoring pipeline); the offline emulator runs its jobs with the same values.
"""

from __future__ import annotations

from finmlops.config import Config
from finmlops.contracts import DeploymentManifest

QUALITY_WINDOW = "1h"


def drift_environment(config: Config, manifest: DeploymentManifest) -> dict[str, str]:
    """What the drift run checks the baseline against (the version that is deployed), and the
    thresholds it decides with (the config's, so the job needs no copy of the config file)."""
    identity = {
        "drift_thresholds": config.monitoring.drift.model_dump_json(),
        "dataset_drift_share": str(config.monitoring.dataset_drift_share),
        "expected_model_id": config.model.name,
        "expected_model_version": str(manifest.version),
        "expected_model_package_arn": manifest.model_package_arn,
    }
    if manifest.data_fingerprint:
        identity["expected_data_fingerprint"] = manifest.data_fingerprint
    return identity


def quality_arguments(config: Config) -> list[str]:
    """`quality` with the config's cutoff and AUC floor (labels: 1 or the positive class)."""
    return [
        "quality",
        "--cutoff",
        str(config.model.cutoff),
        "--min-auc",
        str(config.monitoring.min_auc),
        "--positive-labels",
        f"1,{config.model.positive_class}",
        "--window",
        QUALITY_WINDOW,
    ]
