"""The story's production data: the held-out rows as raw records, the two traffic windows with
their real outcomes, the retraining data and the comparison rows, and the versions' scores.

Who sees what (docs/emulator.md, "Production data"):
- v1 trained on the train and validation splits of the configured data set; its test split (the
  held-out rows) is production traffic: the reference-like window is those rows as they are, the
  shifted window is drawn from them by the plan of `traffic.plan_shift`.
- Ground truth arrives for both windows. A fixed share of the held-out rows (by source row,
  seeded) is kept back as the comparison rows: neither v1 nor v2 trains on them or on a copy of
  them, so both versions are scored on the same labelled rows neither has seen.
- v2 trains on v1's training rows plus every labelled production row that is not a comparison
  row, in the data set's own columns, so the build pipeline reads it like the original.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from finmlops.config import Config
from finmlops.steps import preprocess
from finmlops.steps.evaluate import MODEL_FILE, score_rows

COMPARISON_SHARE = 0.3  # share of the held-out rows kept back for the comparison
COMPARISON_SEED = 7


def spec_of(config: Config) -> preprocess.Spec:
    """The preprocess step's view of the config (the same fields `step_arguments` passes)."""
    model = config.model
    return preprocess.Spec(
        target=model.target,
        positive_class=model.positive_class,
        numeric=tuple(model.numeric_features),
        categorical=tuple(model.categorical_features),
        protected=tuple(dict.fromkeys(a.column for a in model.fairness.protected_attributes)),
        time_column=model.time_column,
        leakage=tuple(model.leakage_columns),
        validation_share=model.split.validation,
        test_share=model.split.test,
        seed=model.split.seed,
    )


@dataclass
class Model:
    """A registered version's booster (from its model artefact) and the encoders it was built
    with; scores raw records as the endpoint scores their encoded rows."""

    booster: Any
    encoders: dict[str, Any]

    @classmethod
    def from_archive(cls, archive: bytes, encoders: dict[str, Any]) -> Model:
        import xgboost as xgb

        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = tar.extractfile(MODEL_FILE)
            if member is None:
                raise LookupError(f"{MODEL_FILE} is missing from the model artefact")
            booster = xgb.Booster()
            booster.load_model(bytearray(member.read()))
        return cls(booster, encoders)

    def encode(self, rows: pd.DataFrame) -> np.ndarray:
        encoded: np.ndarray = preprocess.encode(rows, self.encoders).to_numpy(dtype=np.float32)
        return encoded

    def score(self, rows: pd.DataFrame) -> np.ndarray:
        return score_rows(self.booster, self.encode(rows))

    def gains(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.booster.get_score(importance_type="gain").items()}


@dataclass
class ProductionData:
    """The raw table, v1's splits of it, and the labelled windows as the story builds them."""

    config: Config
    table: pd.DataFrame
    train: pd.Index
    held_out: pd.Index
    comparison: frozenset[int] = field(default_factory=frozenset)
    windows: list[pd.DataFrame] = field(default_factory=list)  # raw rows, index = source row

    @classmethod
    def split(cls, config: Config, table: pd.DataFrame) -> ProductionData:
        """v1's splits, by the preprocess step's own `split` on the same table and config."""
        train, validation, test = preprocess.split(table, spec_of(config))
        rng = np.random.default_rng(COMPARISON_SEED)
        kept = rng.choice(test.to_numpy(), size=round(len(test) * COMPARISON_SHARE), replace=False)
        return cls(config, table, train.append(validation), test, frozenset(int(i) for i in kept))

    def held_out_rows(self) -> pd.DataFrame:
        return self.table.loc[self.held_out]

    def labels(self, rows: pd.DataFrame) -> np.ndarray:
        model = self.config.model
        found: np.ndarray = (rows[model.target].astype(str) == model.positive_class).to_numpy(
            dtype=int
        )
        return found

    def in_comparison(self, rows: pd.DataFrame) -> np.ndarray:
        found: np.ndarray = np.asarray(rows.index.isin(list(self.comparison)))
        return found

    def retraining_table(self) -> pd.DataFrame:
        """v1's training rows plus the labelled production rows outside the comparison, one
        record per applicant (source row), the latest seen: the shifted window draws held-out
        rows with replacement and moves half of them, and copies of one applicant with one
        label would land on both sides of v2's own train/test split and inflate the AUC its
        gates read."""
        production = pd.concat([w[~self.in_comparison(w)] for w in self.windows])
        latest = production[~production.index.duplicated(keep="last")]
        return pd.concat([self.table.loc[self.train], latest], ignore_index=True)

    def comparison_rows(self) -> list[pd.DataFrame]:
        """Each window's labelled rows kept back for the comparison."""
        return [w[self.in_comparison(w)] for w in self.windows]


def matches_held_out(encoded: np.ndarray, requests: pd.DataFrame) -> bool:
    """Whether the held-out rows, encoded here, are the rows v1's preprocess wrote to S3 (the
    story's split and the pipeline's must be the same rows, in the same order)."""
    theirs = requests.to_numpy(dtype=np.float32)
    return encoded.shape == theirs.shape and bool(
        np.allclose(encoded, theirs, equal_nan=True, rtol=1e-6, atol=1e-6)
    )


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC, or None when the rows hold only one class."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels.tolist())) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def comparison(
    data: ProductionData, champion: Model, challenger: Model, names: tuple[str, str]
) -> dict[str, Any]:
    """Both versions scored on the same labelled comparison rows of each window."""
    windows = []
    for number, rows in enumerate(data.comparison_rows()):
        labels = data.labels(rows)
        windows.append(
            {
                "window": number,
                "rows": len(rows),
                "positives": int(labels.sum()),
                "auc": {
                    names[0]: auc(labels, champion.score(rows)),
                    names[1]: auc(labels, challenger.score(rows)),
                },
            }
        )
    return {"champion": names[0], "challenger": names[1], "metric": "auc", "windows": windows}


def to_json(found: dict[str, Any]) -> str:
    return json.dumps(found, indent=2, sort_keys=True, default=str)
