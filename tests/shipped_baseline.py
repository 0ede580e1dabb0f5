"""The deployed version's drift baseline built from the shipped data as the pipeline builds it
(Preprocess, then the Baseline step), and its test rows (shared by the monitoring and emulator
tests that run drift on real rows)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from finmlops.config import Config, load_config
from finmlops.modelbuild import step_arguments
from finmlops.monitoring import baseline_step
from finmlops.steps import preprocess

REPO = Path(__file__).resolve().parents[1]


def build_shipped_baseline(root: Path, *, thresholds: bool = True) -> tuple[Config, pd.DataFrame]:
    """(config, test features): `root/pre` holds Preprocess's outputs of the shipped data and
    `root/baseline` the baseline of version 1, with the config's drift thresholds unless
    `thresholds` is off."""
    config = load_config(REPO / "config" / "platform.yaml", "credit-risk")
    data = REPO / "src" / "finmlops" / "data" / "lending_club.csv"
    arguments = step_arguments(config)["preprocess"]
    assert preprocess.main(["--input", str(data), "--output", str(root / "pre"), *arguments]) == 0
    model = config.model
    given = [
        *("--input", str(root / "pre" / "baseline"), "--output", str(root / "baseline")),
        *("--numeric", ",".join(model.numeric_features)),
        *("--categorical", ",".join(model.categorical_features)),
        *("--model-id", model.name, "--model-version", "1"),
    ]
    if thresholds:
        given += ["--drift-thresholds", config.monitoring.drift.model_dump_json()]
        given += ["--dataset-drift-share", str(config.monitoring.dataset_drift_share)]
    assert baseline_step.main(given) == 0
    test = pd.read_csv(root / "pre" / "test" / "test.csv", header=None)
    return config, test.iloc[:, 1:]


def int_rate_shifted(config: Config, rows: pd.DataFrame, factor: float = 1.3) -> pd.DataFrame:
    """The rows with `int_rate` multiplied by `factor` (the planted shift)."""
    shifted = rows.copy()
    rate = config.model.numeric_features.index("int_rate")
    shifted.iloc[:, rate] = shifted.iloc[:, rate] * factor
    return shifted
