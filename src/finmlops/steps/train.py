"""Train step: the contract of SageMaker's built-in XGBoost 3.2-0 algorithm, run locally.

On AWS the pipeline's training step runs the built-in container itself; this module does what
that container does, so the offline build and the emulator produce the same kind of artifact:
channels `train` and `validation` (CSV, label first, no header) under /opt/ml/input/data,
hyperparameters as strings in /opt/ml/input/config/hyperparameters.json, and the booster saved
as `xgboost-model` in /opt/ml/model, which SageMaker packs into `model.tar.gz`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from finmlops.steps.evaluate import container_path

MODEL_FILE = "xgboost-model"
MODEL_ARCHIVE = "model.tar.gz"

# Hyperparameters the container handles itself rather than passing to xgboost.train's params.
_CONTAINER_ONLY = {"num_round", "early_stopping_rounds", "csv_weights", "save_model_on_termination"}


@dataclass(frozen=True)
class TrainResult:
    booster: xgb.Booster
    best_iteration: int
    best_score: float | None
    rounds: int


def read_channel(path: Path) -> xgb.DMatrix:
    """A CSV channel: every .csv file in the folder, label first, no header."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no CSV file in channel {path}")
    frame = pd.concat([pd.read_csv(f, header=None) for f in files], ignore_index=True)
    if frame.shape[1] < 2:
        raise ValueError(f"channel {path} needs a label column and at least one feature")
    label = frame.iloc[:, 0].to_numpy(dtype=float)
    features = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    return xgb.DMatrix(features, label=label, missing=np.nan)


def _typed(value: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def booster_params(
    hyperparameters: Mapping[str, str],
) -> tuple[dict[str, int | float | str], int, int | None]:
    """Split the container's string hyperparameters into xgboost params and round settings."""
    if "num_round" not in hyperparameters:
        raise ValueError("hyperparameter num_round is required (as in the built-in container)")
    params = {k: _typed(v) for k, v in hyperparameters.items() if k not in _CONTAINER_ONLY}
    # One thread unless told otherwise: fast and reproducible on small data, and tests share cores.
    params.setdefault("nthread", 1)
    early = hyperparameters.get("early_stopping_rounds")
    return params, int(hyperparameters["num_round"]), int(early) if early else None


def train(
    dtrain: xgb.DMatrix, dvalidation: xgb.DMatrix | None, hyperparameters: Mapping[str, str]
) -> TrainResult:
    params, rounds, early = booster_params(hyperparameters)
    evals = [(dtrain, "train")]
    if dvalidation is not None:
        evals.append((dvalidation, "validation"))
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=evals,
        early_stopping_rounds=early if dvalidation is not None else None,
        verbose_eval=False,
    )
    best_score = getattr(booster, "best_score", None)
    return TrainResult(
        booster=booster,
        best_iteration=int(getattr(booster, "best_iteration", rounds - 1)),
        best_score=float(best_score) if best_score is not None else None,
        rounds=booster.num_boosted_rounds(),
    )


def save_model(booster: xgb.Booster, model_dir: Path) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / MODEL_FILE
    # The file name has no extension, as the container writes it; say the format explicitly.
    booster.save_model(str(path) + ".ubj")
    Path(str(path) + ".ubj").replace(path)
    return path


def pack_model(model_dir: Path, archive: Path) -> Path:
    """Pack the model folder the way SageMaker does: its files at the archive root."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    # gzip stamps the time into its header: fix it, so the same model gives the same bytes.
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for item in sorted(model_dir.iterdir()):
            info = tar.gettarinfo(str(item), arcname=item.name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with item.open("rb") as handle:
                tar.addfile(info, handle)
    return archive


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=container_path("/opt/ml/input/data/train"))
    parser.add_argument(
        "--validation", type=Path, default=container_path("/opt/ml/input/data/validation")
    )
    parser.add_argument(
        "--hyperparameters",
        type=Path,
        default=container_path("/opt/ml/input/config/hyperparameters.json"),
    )
    parser.add_argument("--model-dir", type=Path, default=container_path("/opt/ml/model"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    hyperparameters = {
        str(k): str(v) for k, v in json.loads(args.hyperparameters.read_text()).items()
    }
    dtrain = read_channel(args.train)
    dvalidation = read_channel(args.validation) if args.validation.exists() else None
    result = train(dtrain, dvalidation, hyperparameters)
    path = save_model(result.booster, args.model_dir)
    print(
        f"train: {dtrain.num_row()} rows, {result.rounds} rounds "
        f"(best iteration {result.best_iteration}, validation score {result.best_score}) -> {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
