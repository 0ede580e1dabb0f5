"""Write a version's evidence files: `model_card.json`, `model_card.html`,
`validation_report.html`, and `registry_card.json`, the whole card as the RegisterModel step
passes it to CreateModelPackage (a property file the step reads with JsonGet, ADR 0032).

`write_bundle` is the one writer; the pipeline's evidence step (`evidence_step`) fills the bundle
from the processing inputs, the local build (`write_evidence`) from a `LocalBuild`. Both render
the same functions, so the files of a local run and of a SageMaker run have the same layout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finmlops.config import Config
from finmlops.governance.bundle import (
    CONSTRAINTS_FILE,
    DATA_QUALITY_FILE,
    EVALUATION_FILE,
    STATISTICS_FILE,
    Decision,
    EvidenceBundle,
    Lineage,
    find_file,
    gate_rows,
    missing_evidence,
    read_json,
)
from finmlops.governance.card_document import MODEL_CARD_HTML, render_model_card_html
from finmlops.governance.model_card import (
    REGISTRATION_CARD_STATUS,
    build_model_card,
    card_json,
    card_problems,
    registry_card_content,
)
from finmlops.governance.report import render_validation_report

if TYPE_CHECKING:
    from finmlops.modelbuild import LocalBuild

MODEL_CARD_FILE = "model_card.json"
# Written by finmlops.serving.package_step (same name; not imported: it loads the config module's
# heavier neighbours for nothing here).
REASONS_EVIDENCE = "reasons.json"
VALIDATION_REPORT_FILE = "validation_report.html"
# The registry's card: the Evidence step's property file `RegistryCard`, read by RegisterModel's
# ModelCard.ModelCardContent (pipelines/definition.py; ADR 0032). Its keys are JsonGet paths.
REGISTRY_CARD_FILE = "registry_card.json"
REGISTRY_CARD_CONTENT = "model_card_content"
REGISTRY_CARD_STATUS = "model_card_status"


@dataclass(frozen=True)
class Written:
    files: dict[str, Path]
    missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing


def write_bundle(
    config: Config,
    bundle: EvidenceBundle,
    out_dir: Path,
    *,
    generated_at: str = "",
    require_drift_baseline: bool = True,
) -> Written:
    """Render and write the files; the card records what the report lists as missing."""
    missing = missing_evidence(config, bundle, require_drift_baseline=require_drift_baseline)
    lineage = bundle.lineage
    card = build_model_card(
        config,
        evaluation=bundle.evaluation,
        data_quality=bundle.data_quality,
        training_image=lineage.training_image,
        hyperparameters=bundle.hyperparameters,
        model_package_arn=lineage.model_package_arn or None,
        git_commit=lineage.git_commit,
        training_job_arn=lineage.training_job_arn,
        model_artifact=lineage.model_artifact,
        gates=gate_rows(config, bundle),
        missing=missing,
        reasons=bundle.reasons,
    )
    problems = card_problems(card)
    if problems:
        # A card the registry would refuse is a bug here, not the user's data: fail loudly.
        raise ValueError("the model card does not fit the schema:\n  " + "\n  ".join(problems))
    content = registry_card_content(card)
    html = render_validation_report(
        config, bundle, generated_at=generated_at, require_drift_baseline=require_drift_baseline
    )
    document = render_model_card_html(
        config, card, bundle, missing=missing, generated_at=generated_at
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    card_path = out_dir / MODEL_CARD_FILE
    document_path = out_dir / MODEL_CARD_HTML
    report_path = out_dir / VALIDATION_REPORT_FILE
    card_path.write_text(card_json(card), encoding="utf-8")
    document_path.write_text(document, encoding="utf-8")
    report_path.write_text(html, encoding="utf-8")
    registry_path = out_dir / REGISTRY_CARD_FILE
    registry_path.write_text(
        json.dumps(
            {REGISTRY_CARD_CONTENT: content, REGISTRY_CARD_STATUS: REGISTRATION_CARD_STATUS},
            sort_keys=True,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return Written(
        {
            "model_card": card_path,
            "model_card_html": document_path,
            "validation_report": report_path,
            "registry_card": registry_path,
        },
        missing,
    )


def write_evidence(
    config: Config,
    build: LocalBuild,
    out_dir: Path,
    *,
    git_commit: str,
    training_image: str,
    baseline_statistics: Path | None,
    baseline_constraints: Path | None = None,
    model_package_arn: str = "",
    created_by: str = "",
    decision: Decision | None = None,
    generated_at: str = "",
    require_drift_baseline: bool = True,
) -> dict[str, Path]:
    """The evidence of a local build, written to `out_dir`; returns the file paths.

    A build stopped by its data-quality gates has no evaluation: its report carries the
    INCOMPLETE EVIDENCE banner naming what is missing. A `baseline_statistics` path that does not
    exist is reported missing too, never silently skipped.
    """
    bundle = EvidenceBundle(
        data_quality=build.data_quality or None,
        evaluation=build.evaluation or None,
        baseline_statistics=read_json(baseline_statistics) if baseline_statistics else None,
        baseline_constraints=read_json(baseline_constraints) if baseline_constraints else None,
        lineage=Lineage(
            git_commit=git_commit,
            training_image=training_image,
            model_artifact=str(build.model_archive) if build.model_archive.exists() else "",
            model_package_arn=model_package_arn,
            created_by=created_by,
        ),
        hyperparameters=config.model.hyperparameters.as_sagemaker(),
        split_rows=dict(build.rows),
        decision=decision,
    )
    written = write_bundle(
        config,
        bundle,
        out_dir,
        generated_at=generated_at,
        require_drift_baseline=require_drift_baseline,
    )
    return written.files


def bundle_from_folders(
    *,
    artifacts: Path | None,
    evaluation: Path | None,
    baseline: Path | None,
    lineage: Lineage,
    hyperparameters: Mapping[str, str],
    threshold_overrides: Mapping[str, float] | None = None,
    reasons: Path | None = None,
) -> EvidenceBundle:
    """The bundle from the processing job's input folders; an absent file is left None so the
    report names it missing. A file that is there but is not a JSON object is an error."""

    def load(folder: Path | None, name: str) -> dict[str, object] | None:
        path = find_file(folder, name)
        return read_json(path) if path else None

    return EvidenceBundle(
        data_quality=load(artifacts, DATA_QUALITY_FILE),
        evaluation=load(evaluation, EVALUATION_FILE),
        baseline_statistics=load(baseline, STATISTICS_FILE),
        baseline_constraints=load(baseline, CONSTRAINTS_FILE),
        lineage=lineage,
        hyperparameters=dict(hyperparameters),
        threshold_overrides=dict(threshold_overrides or {}),
        reasons=load(reasons, REASONS_EVIDENCE),
    )
