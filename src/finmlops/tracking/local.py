"""Tracking the local model build (`finmlops.modelbuild.run_local`): what `make demo` calls.

The same run content as the pipeline's Track step: the folders `run_local` writes stand in for
the processing inputs (preprocess/artifacts, train/output/model.tar.gz, evaluation/).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from finmlops.tracking.content import RunTag
from finmlops.tracking.runs import TrackingOutcome, record_build
from finmlops.tracking.settings import TrackingSettings

if TYPE_CHECKING:
    from finmlops.config import Config
    from finmlops.modelbuild import LocalBuild


def local_artifacts(build: LocalBuild, evidence_dir: Path | None = None) -> dict[str, Path]:
    """What the local build produced that a run keeps, as the Track step names it.

    Only what exists: a failed data-quality gate stops the build before training, and the
    evidence (model card, validation report) is there only when it was written.
    """
    candidates = {"data": build.work_dir / "preprocess" / "artifacts"}
    # A build stopped before training may sit in a folder that holds an earlier build's model.
    if build.evaluation:
        candidates["evaluation"] = build.work_dir / "evaluation"
        candidates["model"] = build.model_archive
    if evidence_dir is not None:
        candidates["evidence"] = evidence_dir
    return {name: path for name, path in candidates.items() if path.exists()}


def track_local_build(
    tracking: TrackingSettings,
    config: Config,
    build: LocalBuild,
    *,
    store_dir: Path,
    git_commit: str = "unknown",
    evidence_dir: Path | None = None,
    run_name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> TrackingOutcome:
    """Log a local build under the configured policy; the local store lives in `store_dir`.

    `evidence_dir` is the folder holding model_card.json and validation_report.html, when the
    build wrote them.
    """
    tags = {
        RunTag.MODEL_PACKAGE_GROUP: config.model.package_group,
        RunTag.GIT_COMMIT: git_commit,
        RunTag.PIPELINE_EXECUTION: "local",
        **(extra_tags or {}),
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return record_build(
        tracking,
        run_name=run_name or f"{config.model.name}-local-{stamp}",
        hyperparameters=config.model.hyperparameters.as_sagemaker(),
        data_quality=build.data_quality,
        evaluation=build.evaluation,
        gates=build.gates,
        artifacts=local_artifacts(build, evidence_dir),
        tags=tags,
        dataset_sizes=build.rows,
        work_dir=store_dir,
    )


__all__ = ["local_artifacts", "track_local_build"]
