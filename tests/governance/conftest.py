"""Fixtures for the governance tests: one real local build on the shipped data, and its evidence.

The build runs once per session (about half a second): every test reads the same step outputs,
as the evidence step reads them from S3 in a pipeline run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finmlops.config import Config
from finmlops.governance.bundle import EvidenceBundle, Lineage
from finmlops.modelbuild import LocalBuild, run_local

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

# A drift baseline in SageMaker Model Monitor's statistics.json layout (two features).
STATISTICS: dict[str, Any] = {
    "version": 0.0,
    "dataset": {"item_count": 6407},
    "features": [
        {
            "name": "int_rate",
            "inferred_type": "Fractional",
            "numerical_statistics": {
                "common": {"num_present": 6407, "num_missing": 0},
                "mean": 12.61,
                "sum": 80792.27,
                "std_dev": 4.71,
                "min": 5.32,
                "max": 28.99,
            },
        },
        {
            "name": "term",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 6400, "num_missing": 7},
                "distinct_count": 2.0,
            },
        },
    ],
}
CONSTRAINTS: dict[str, Any] = {
    "version": 0.0,
    "features": [{"name": "int_rate", "inferred_type": "Fractional", "completeness": 1.0}],
    "monitoring_config": {"distribution_constraints": {"comparison_threshold": 0.1}},
}


@pytest.fixture(scope="session")
def local_build(config: Config, tmp_path_factory: pytest.TempPathFactory) -> LocalBuild:
    return run_local(config, tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="session")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("baseline")
    (folder / "statistics.json").write_text(json.dumps(STATISTICS))
    (folder / "constraints.json").write_text(json.dumps(CONSTRAINTS))
    return folder


@pytest.fixture(scope="session")
def complete_bundle(local_build: LocalBuild, config: Config) -> EvidenceBundle:
    """Every piece of evidence a registered version carries."""
    return EvidenceBundle(
        data_quality=local_build.data_quality,
        evaluation=local_build.evaluation,
        baseline_statistics=STATISTICS,
        baseline_constraints=CONSTRAINTS,
        lineage=Lineage(
            git_commit=COMMIT,
            training_image=IMAGE,
            model_artifact="s3://artifacts/model-build/exec-1/train/model.tar.gz",
            training_job_arn="arn:aws:sagemaker:us-east-1:111111111111:training-job/credit-risk-train-1",
            pipeline_execution_arn="arn:aws:sagemaker:us-east-1:111111111111:pipeline/credit-risk-model-build/execution/exec-1",
        ),
        hyperparameters=config.model.hyperparameters.as_sagemaker(),
        split_rows=local_build.rows,
    )
