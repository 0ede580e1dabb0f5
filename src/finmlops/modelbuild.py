"""The model build as the config drives it: step arguments, and the local run of the steps.

`step_arguments` is the one place that turns the config into the steps' command lines; the
SageMaker pipeline definition and the local build both use it, so they run the same code the
same way. `run_local` runs preprocess -> train -> evaluate -> gates in a work folder, laid out
like the S3 prefixes the pipeline writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finmlops.config import Config, dataset_path
from finmlops.fairness import write_spec
from finmlops.gates import GateResult, check
from finmlops.steps import evaluate, preprocess, train


def step_arguments(config: Config) -> dict[str, list[str]]:
    """Command-line arguments of each processing step, from the config."""
    model = config.model
    pre = [
        "--target", model.target,
        "--positive-class", model.positive_class,
        "--numeric", ",".join(model.numeric_features),
        "--categorical", ",".join(model.categorical_features),
        *(item for column in dict.fromkeys(a.column for a in model.fairness.protected_attributes)
          for item in ("--protected", column)),
        "--validation-share", str(model.split.validation),
        "--test-share", str(model.split.test),
        "--seed", str(model.split.seed),
    ]  # fmt: skip
    if model.time_column:
        pre += ["--time-column", model.time_column]
    if model.leakage_columns:
        pre += ["--leakage", ",".join(model.leakage_columns)]
    # The protected groups reach the evaluate step as a file (`finmlops.fairness.shipped_spec`,
    # `--fairness`), never in arguments: each is limited to 256 characters.
    ev = [
        "--cutoff", str(model.cutoff),
        "--label", model.target,
    ]  # fmt: skip
    return {"preprocess": pre, "evaluate": ev}


@dataclass
class StepTiming:
    name: str
    seconds: float


@dataclass
class LocalBuild:
    work_dir: Path
    data_quality: dict[str, Any]
    evaluation: dict[str, Any]
    gates: list[GateResult]
    model_archive: Path
    timings: list[StepTiming] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[str]:
        return [g.gate.name for g in self.gates if not g.passed]


class StepFailedError(RuntimeError):
    pass


def _run(
    name: str, main: Callable[[list[str]], int], argv: list[str], timings: list[StepTiming]
) -> None:
    start = time.perf_counter()
    code = main(argv)
    timings.append(StepTiming(name, time.perf_counter() - start))
    if code != 0:
        raise StepFailedError(f"step {name} failed with exit code {code}")


def run_local(
    config: Config,
    work_dir: Path,
    *,
    progress: Callable[[str], None] = lambda _msg: None,
    champion: tuple[str, Path] | None = None,
    champion_rows: Path | None = None,
) -> LocalBuild:
    """Run the model build locally through the same step code the pipeline runs. The dataset
    is the config's (`finmlops.config.dataset_path`: relative to the config file's folder);
    ConfigError naming model.dataset.uri when it cannot be used, before anything runs.
    `champion` is (model package ARN, model archive) of the version to compare with, scored on
    the same test rows; None: no champion (a local build reads no registry). `champion_rows`:
    its training-row digests (its evaluation's train_rows.txt), left out of the comparison."""
    args = step_arguments(config)
    dataset = dataset_path(config)
    processed = work_dir / "preprocess"
    model_dir = work_dir / "train" / "model"
    archive = work_dir / "train" / "output" / train.MODEL_ARCHIVE
    evaluation_dir = work_dir / "evaluation"
    hyperparameters = work_dir / "train" / "input" / "config" / "hyperparameters.json"
    hyperparameters.parent.mkdir(parents=True, exist_ok=True)
    hyperparameters.write_text(json.dumps(config.model.hyperparameters.as_sagemaker(), indent=2))
    timings: list[StepTiming] = []

    progress(f"preprocess: {dataset.name}")
    _run(
        "preprocess",
        preprocess.main,
        ["--input", str(dataset), "--output", str(processed), *args["preprocess"]],
        timings,
    )
    data_quality = json.loads((processed / "artifacts" / preprocess.DATA_QUALITY_FILE).read_text())
    gates = check(config, {"data_quality": data_quality})
    if not all(g.passed for g in gates):
        return LocalBuild(work_dir, data_quality, {}, gates, archive, timings)

    progress("train: built-in XGBoost contract")
    _run(
        "train",
        train.main,
        [
            "--train", str(processed / "train"),
            "--validation", str(processed / "validation"),
            "--hyperparameters", str(hyperparameters),
            "--model-dir", str(model_dir),
        ],
        timings,
    )  # fmt: skip
    train.pack_model(model_dir, archive)

    progress("evaluate: discrimination, calibration, fairness, uncertainty, SHAP")
    _, fairness_file = write_spec(config.model, config.project, work_dir / "fairness")
    _run(
        "evaluate",
        evaluate.main,
        [
            "--model", str(archive),
            "--test", str(processed / "test"),
            "--fairness", str(fairness_file),
            "--train", str(processed / "train"),
            "--artifacts", str(processed / "artifacts"),
            "--output", str(evaluation_dir),
            *args["evaluate"],
            *(("--champion-arn", champion[0], "--champion", str(champion[1]))
              if champion else ()),
            *(("--champion-rows", str(champion_rows)) if champion_rows else ()),
        ],
        timings,
    )  # fmt: skip
    evaluation = json.loads((evaluation_dir / evaluate.EVALUATION_FILE).read_text())
    gates = check(config, {"data_quality": data_quality, "evaluation": evaluation})
    rows = {
        name: sum(1 for _ in (processed / name / preprocess.SPLIT_FILE[name]).open())
        for name in ("train", "validation", "test")
    }
    return LocalBuild(work_dir, data_quality, evaluation, gates, archive, timings, rows)
