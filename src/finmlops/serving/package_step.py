"""Package step: the served model artifact, and the reason codes' evidence on the test split.

Runs as a SageMaker processing job in the project's image, after Train:

    python -m finmlops.serving.package_step --config DIR --model DIR --test DIR --source DIR --output DIR

1. `model.tar.gz`: the trained `xgboost-model` and, under `code/`, the inference script's source
   directory (`inference.py`, `reasons.json`). The endpoint runs with network isolation
   (cdk/endpoint.py), so its container cannot download `SAGEMAKER_SUBMIT_DIRECTORY` from S3:
   sagemaker-containers' `_files.download_and_extract` also takes a local folder, and SageMaker
   extracts the artifact into /opt/ml/model, so the registered container names
   `/opt/ml/model/code` (what the SageMaker SDK's repack does for network-isolated models).
2. `reasons.json`: the texts, k, and their coverage: the share of the test split's adverse
   decisions (score >= model.cutoff) whose top-k reasons all have a specific text, not the
   default (a decision with no feature pushing toward "bad" has no reason to state: not covered); how often each feature is a principal reason; LOW COVERAGE below
   `model.reasons.min_coverage` (a warning in the model card, not a gate: docs/decisions/0026).
Exit codes: 0 written, 2 unusable input (the message names it).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmlops.config import ConfigError, Model, find_config_file, load_config
from finmlops.serving.source import PROGRAM, REASONS_FILE, tar_gz

if TYPE_CHECKING:
    import numpy as np
    import xgboost as xgb

    from finmlops.serving import inference

# xgboost, pandas and the inference script are imported where they are used: the pipeline
# definition imports this module for its constants alone.

MODEL_ARCHIVE = "model.tar.gz"
MODEL_FILE = "xgboost-model"
REASONS_EVIDENCE = "reasons.json"
CODE_DIR = "code"
# Where the registered container finds the script: the artifact is extracted to /opt/ml/model.
SUBMIT_DIRECTORY = f"/opt/ml/model/{CODE_DIR}"


class PackageInputError(ValueError):
    """An input the step cannot use; the message names it."""


def _one(folder: Path, pattern: str, what: str) -> Path:
    if folder.is_file():
        return folder
    found = sorted(p for p in folder.rglob(pattern) if p.is_file())
    if len(found) != 1:
        raise PackageInputError(
            f"--{what}: expected one {pattern} under {folder}, found {len(found)}"
        )
    return found[0]


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, mode="r:gz") as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def served_archive(model_archive: Path, source_archive: Path) -> bytes:
    """The training artifact's files with the source directory under code/, byte-stable."""
    files = _members(model_archive)
    if MODEL_FILE not in files:
        raise PackageInputError(f"--model: {model_archive} holds no {MODEL_FILE}")
    source = _members(source_archive)
    if PROGRAM not in source or REASONS_FILE not in source:
        raise PackageInputError(f"--source: {source_archive} lacks {PROGRAM} or {REASONS_FILE}")
    files.update({f"{CODE_DIR}/{name}": body for name, body in source.items()})
    return tar_gz(files)


def coverage(
    booster: xgb.Booster, x: np.ndarray, reasons: inference.Reasons, cutoff: float, minimum: float
) -> dict[str, Any]:
    """How well the texts cover the reasons the model gives on adverse decisions."""
    import numpy as np
    import xgboost as xgb

    from finmlops.serving import inference

    data = xgb.DMatrix(x, missing=np.nan)
    scores = np.asarray(booster.predict(data), dtype=np.float64)
    adverse = scores >= cutoff
    contributions = inference.contributions(booster, data)[adverse]
    covered = without_reasons = 0
    as_reason: Counter[str] = Counter()
    for row in contributions:
        top = [reasons.features[i] for i in inference.top_reasons(row, reasons.top_k)]
        as_reason.update(top)
        # An adverse decision no feature pushed toward "bad" (a score above the cut-off from the
        # base rate alone) has no specific reason to state: it counts as not covered.
        without_reasons += not top
        covered += bool(top) and all(name in reasons.texts for name in top)
    decisions = int(adverse.sum())
    share = covered / decisions if decisions else None
    return {
        "top_k": reasons.top_k,
        "default_text": reasons.default_text,
        "texts": dict(sorted(reasons.texts.items())),
        "features_without_text": [f for f in reasons.features if f not in reasons.texts],
        "cutoff": cutoff,
        "test_rows": len(scores),
        "adverse_decisions": decisions,
        "covered_decisions": covered,
        "adverse_decisions_without_reasons": without_reasons,
        "coverage": None if share is None else round(share, 6),
        "min_coverage": minimum,
        "low_coverage": share is None or share < minimum,
        # How often each feature is among an adverse decision's principal reasons, most first.
        "principal_reason_counts": dict(sorted(as_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def package(
    model: Model, model_archive: Path, test_csv: Path, source_archive: Path, output: Path
) -> dict[str, Any]:
    """Write model.tar.gz and reasons.json to `output`; returns the evidence."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    from finmlops.serving import inference

    archive = served_archive(model_archive, source_archive)
    files = _members_from_bytes(archive)
    reasons = inference.Reasons.from_document(json.loads(files[f"{CODE_DIR}/{REASONS_FILE}"]))
    if list(reasons.features) != list(model.features):
        raise PackageInputError(
            f"--source: {inference.REASONS_FILE} names features {list(reasons.features)}, the "
            f"config's model {list(model.features)}"
        )
    booster = xgb.Booster()
    booster.load_model(bytearray(files[MODEL_FILE]))
    frame = pd.read_csv(test_csv, header=None)
    x = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    if x.shape[1] != booster.num_features():
        raise PackageInputError(
            f"--test: {test_csv} has {x.shape[1]} features, the model {booster.num_features()}"
        )
    evidence = coverage(booster, x, reasons, model.cutoff, model.reasons.min_coverage)
    output.mkdir(parents=True, exist_ok=True)
    (output / MODEL_ARCHIVE).write_bytes(archive)
    (output / REASONS_EVIDENCE).write_text(json.dumps(evidence, indent=2, sort_keys=True) + "\n")
    return evidence


def _members_from_bytes(archive: bytes) -> Mapping[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    root = Path("/opt/ml/processing/input")
    parser = argparse.ArgumentParser(
        prog="python -m finmlops.serving.package_step", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--config", type=Path, default=root / "config")
    parser.add_argument("--model", type=Path, default=root / "model")
    parser.add_argument("--test", type=Path, default=root / "test")
    parser.add_argument("--source", type=Path, default=root / "source")
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output/package"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(find_config_file(args.config, PackageInputError))
        evidence = package(
            config.model,
            _one(args.model, "*.tar.gz", "model"),
            _one(args.test, "test.csv", "test"),
            _one(args.source, "*.tar.gz", "source"),
            args.output,
        )
    except (ConfigError, PackageInputError, OSError, ValueError, tarfile.TarError) as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 2
    share = evidence["coverage"]
    print(
        f"package: wrote {args.output / MODEL_ARCHIVE}; reason coverage "
        f"{'n/a' if share is None else f'{share:.1%}'} of {evidence['adverse_decisions']} "
        f"adverse test decisions" + (" (LOW COVERAGE)" if evidence["low_coverage"] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
