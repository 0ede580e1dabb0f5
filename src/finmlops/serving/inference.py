"""Inference script: scores with the principal reasons for an adverse decision, for the SageMaker
XGBoost framework container in script mode (and the offline emulator, which calls the same hooks).

ECOA / Regulation B (12 CFR 1002.9(b)(2)) require the principal reasons for an adverse action; the
CFPB's circulars 2022-03 and 2023-03 say a complex model is no excuse. The reasons here come from
the model itself: XGBoost's exact TreeSHAP contributions (`Booster.predict(..., pred_contribs=True)`),
in margin (log-odds) units, one per feature plus the bias. The features with the largest positive
contributions are the ones that pushed the score toward "bad" (label 1); the top k of them, mapped
to the reason texts of the config, are the principal reasons.

The container's serving stack (aws/sagemaker-xgboost-container `serving.main`, sagemaker-containers
`_transformer.Transformer`) imports this module by `SAGEMAKER_PROGRAM` from the source directory
`SAGEMAKER_SUBMIT_DIRECTORY` (extracted to /opt/ml/code, next to `reasons.json`), calls
`model_fn("/opt/ml/model")` once, then per request `input_fn(body, content_type)`,
`predict_fn(data, model)` and `output_fn(prediction, accept)`. A request with no Accept (or */*)
gets `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`, JSON unless set: the registered container sets it to
text/csv, so callers that expect CSV scores keep getting them.

Responses:
- text/csv: one score per line, as the built-in algorithm answers (data capture, monitoring and
  every existing caller read this).
- application/json: `{"predictions": [{"score": s, "reasons": [{"feature", "text",
  "contribution"}, ...]}, ...]}`, the container's own JSON layout with the reasons added.

This file is shipped alone into the container: it imports only the standard library, numpy and
xgboost, which the container has.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost as xgb

REASONS_FILE = "reasons.json"
MODEL_FILE = "xgboost-model"
CSV = "text/csv"
JSON = "application/json"
# Where the reasons document is read from: this file's folder (the container's /opt/ml/code),
# unless the variable names another file.
REASONS_ENV = "FINMLOPS_REASONS_FILE"


def _container_format_error() -> type[Exception]:
    """In the container, the error sagemaker-containers' transformer answers with 415 (input_fn)
    or 406 (output_fn); here and in the emulator, where that package is absent, Exception."""
    try:
        errors = importlib.import_module("sagemaker_containers.beta.framework.errors")
    except ImportError:
        return Exception
    base: type[Exception] = errors.UnsupportedFormatError
    return base


if TYPE_CHECKING:
    _FormatErrorBase = Exception
else:
    _FormatErrorBase = _container_format_error()


class UnsupportedFormatError(_FormatErrorBase):
    """A content type this script does not read or write."""


class RequestError(ValueError):
    """A request body the model cannot score; the message names the row."""


@dataclass(frozen=True)
class Reasons:
    """The reasons document: feature names in model column order, texts, default, k."""

    features: tuple[str, ...]
    texts: Mapping[str, str]
    default_text: str
    top_k: int

    def text(self, feature: str) -> str:
        return self.texts.get(feature, self.default_text)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Reasons:
        features = tuple(str(f) for f in document["features"])
        texts = {str(k): str(v) for k, v in dict(document["texts"]).items()}
        top_k = int(document["top_k"])
        unknown = sorted(set(texts) - set(features))
        if unknown:
            raise ValueError(f"{REASONS_FILE}: texts for features the model lacks: {unknown}")
        if not 1 <= top_k <= len(features):
            raise ValueError(f"{REASONS_FILE}: top_k {top_k} is not in 1..{len(features)}")
        return cls(features, texts, str(document["default_text"]), top_k)


@dataclass(frozen=True)
class Model:
    booster: xgb.Booster
    reasons: Reasons


@dataclass(frozen=True)
class Prediction:
    """Scores of one request. The contributions are computed by `output_fn` only when the answer
    carries reasons: `predict_fn` is not told the Accept header (the transformer passes it to
    `output_fn` alone), and a CSV caller should not pay for them."""

    model: Model
    data: xgb.DMatrix
    scores: np.ndarray


def contributions(booster: xgb.Booster, data: xgb.DMatrix) -> np.ndarray:
    """Exact TreeSHAP contributions, rows x features, in margin units (the bias column dropped)."""
    values = booster.predict(data, pred_contribs=True, validate_features=False)
    return np.asarray(values, dtype=np.float64)[:, :-1]


def top_reasons(row: np.ndarray, k: int) -> list[int]:
    """Indices of the k features with the largest positive contributions, largest first; ties
    go to the earlier feature (a stable order, so the same row always gets the same reasons).
    Fewer than k when fewer features pushed toward "bad"."""
    order = np.argsort(-row, kind="stable")
    return [int(i) for i in order[:k] if row[i] > 0]


def reasons_for(model: Model, data: xgb.DMatrix) -> list[list[dict[str, Any]]]:
    """Per row, the top-k reasons as feature, text and contribution (margin units)."""
    names = model.reasons.features
    rows = contributions(model.booster, data)
    if rows.shape[1] != len(names):
        raise ValueError(
            f"the model has {rows.shape[1]} features, {REASONS_FILE} names {len(names)}"
        )
    return [
        [
            {
                "feature": names[i],
                "text": model.reasons.text(names[i]),
                "contribution": round(float(row[i]), 6),
            }
            for i in top_reasons(row, model.reasons.top_k)
        ]
        for row in rows
    ]


def parse_csv(body: str, features: int) -> np.ndarray:
    """Rows of numbers, empty cells as missing; a wrong width or a word names its row."""
    rows = []
    for number, line in enumerate(body.strip().splitlines(), start=1):
        cells = line.split(",")
        if len(cells) != features:
            raise RequestError(f"row {number} has {len(cells)} values; the model takes {features}")
        try:
            rows.append([float(c) if c.strip() else math.nan for c in cells])
        except ValueError as exc:
            raise RequestError(f"row {number}: {exc}") from None
    if not rows:
        raise RequestError("empty request body")
    return np.asarray(rows, dtype=np.float32)


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def load_reasons(path: Path) -> Reasons:
    return Reasons.from_document(json.loads(path.read_text(encoding="utf-8")))


# ---------- the container's hooks ----------
def model_fn(model_dir: str) -> Model:
    """The booster from the model artifact's folder and the reasons shipped with this script."""
    booster = xgb.Booster()
    # From bytes: the file has no extension (as the container writes it), and the format is
    # told by its content, without xgboost's warning about guessing it from the name.
    booster.load_model(bytearray((Path(model_dir) / MODEL_FILE).read_bytes()))
    reasons_path = Path(os.environ.get(REASONS_ENV) or Path(__file__).with_name(REASONS_FILE))
    reasons = load_reasons(reasons_path)
    if booster.num_features() != len(reasons.features):
        raise ValueError(
            f"{reasons_path}: names {len(reasons.features)} features, the model in {model_dir} "
            f"has {booster.num_features()}"
        )
    return Model(booster, reasons)


def input_fn(input_data: str | bytes, content_type: str) -> np.ndarray:
    """CSV rows, no header, the model's column order (what the endpoint has always read).
    The transformer passes text for exactly text/csv and bytes when a charset is appended."""
    if _media_type(content_type) != CSV:
        raise UnsupportedFormatError(f"content type {content_type!r}: send {CSV}")
    text = input_data.decode("utf-8") if isinstance(input_data, bytes) else input_data
    # The width is the first row's: predict_fn, which holds the model, checks it.
    first = text.strip().splitlines()[0] if text.strip() else ""
    return parse_csv(text, len(first.split(",")))


def predict_fn(input_data: np.ndarray, model: Model) -> Prediction:
    expected = model.booster.num_features()
    if input_data.shape[1] != expected:
        raise RequestError(f"rows have {input_data.shape[1]} values; the model takes {expected}")
    data = xgb.DMatrix(input_data, missing=np.nan)
    scores = np.asarray(model.booster.predict(data, validate_features=False), dtype=np.float64)
    return Prediction(model, data, scores)


def output_fn(prediction: Prediction, accept: str) -> tuple[str, str]:
    """(body, content type): CSV scores, or JSON scores with their reasons."""
    media = _media_type(accept)
    if media == CSV:
        return format_scores(prediction.scores), CSV
    if media == JSON:
        reasons = reasons_for(prediction.model, prediction.data)
        predictions = [
            {"score": round(float(s), 6), "reasons": r}
            for s, r in zip(prediction.scores, reasons, strict=True)
        ]
        return json.dumps({"predictions": predictions}, separators=(",", ":")), JSON
    raise UnsupportedFormatError(f"accept {accept!r}: ask for {CSV} or {JSON}")


def format_scores(scores: Sequence[float] | np.ndarray) -> str:
    return "\n".join(f"{s:.6f}" for s in scores)
