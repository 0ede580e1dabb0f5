"""A tiny real booster and the inference script's source directory, as the container sees them
(shared by the serving and emulator tests)."""

from __future__ import annotations

import importlib.util
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import xgboost as xgb

FEATURES = ("debt_ratio", "inquiries", "income", "tenure")
TEXTS = {
    "debt_ratio": "Debt too high relative to income",
    "inquiries": "Too many recent inquiries",
    "income": "Income insufficient",
}


def synthetic(rows: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES))).astype(np.float32)
    x[rng.random(size=rows) < 0.05, 3] = np.nan  # some missing values, as the data has
    logit = 1.5 * x[:, 0] + 0.8 * x[:, 1] - 1.0 * x[:, 2] + 0.3 * np.nan_to_num(x[:, 3])
    y = (rng.random(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def train_tiny() -> xgb.Booster:
    x, y = synthetic()
    params: dict[str, Any] = {
        "objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0,
    }  # fmt: skip
    return xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=8)


def import_script(folder: Path, name: str) -> ModuleType:
    """Import a source directory's script as sagemaker-containers does: by module name, with the
    folder on sys.path (here a unique module name, so tests never share module state)."""
    spec = importlib.util.spec_from_file_location(name, folder / "inference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def extract(archive: bytes, folder: Path) -> Path:
    import io

    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")
    return folder


def model_block(model: Any, features: tuple[str, ...], texts: dict[str, str], top_k: int) -> Any:
    """The config's model block for a model over `features` (numeric, no protected attribute)."""
    return model.model_copy(
        update={
            "numeric_features": features,
            "categorical_features": (),
            "fairness": model.fairness.model_copy(update={"protected_attributes": ()}),
            "reasons": model.reasons.model_copy(
                update={"texts": texts, "top_k": top_k, "default_text": "Other reasons"}
            ),
        }
    )
