"""Baseline step: compile the monitoring baseline from the training features.

Runs as a SageMaker processing step (container paths are the defaults) and locally. Writes the
versioned baseline artifact (baseline.json + arrays/), Model Monitor's statistics.json and
constraints.json into the output folder. With `--model` (the version's trained model), also the
attribution profile the explanation-drift check compares windows with (attribution.json:
mean |TreeSHAP| per feature on a seeded sample of the same rows, bound to the model by the
sha256 of its bytes; finmlops.monitoring.explanation). Feature lists, thresholds and the model id come from the
config file and/or the arguments (arguments win).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from finmlops.config import ConfigError, DriftThresholds, ExplanationDrift, load_config
from finmlops.monitoring.baseline import (
    DEFAULT_FINE_BINS,
    BaselineError,
    ModelIdentity,
    build_baseline,
    save_baseline,
)
from finmlops.monitoring.explanation import (
    ExplanationError,
    Profile,
    attribution_profile,
    load_model,
    read_window,
    save_profile,
)
from finmlops.monitoring.readers import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    Chunk,
    DatasetError,
    list_files,
    open_dataset,
    parse_dataset_format,
)

DEFAULT_INPUT = Path("/opt/ml/processing/input/baseline")
DEFAULT_OUTPUT = Path("/opt/ml/processing/output/baseline")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v for v in (s.strip() for s in value.split(",")) if v)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="finmlops-monitor baseline", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="file or folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--config", type=Path, default=None, help="platform config (YAML)")
    parser.add_argument("--numeric", type=_csv, default=None, help="comma-separated")
    parser.add_argument("--categorical", type=_csv, default=None, help="comma-separated")
    parser.add_argument("--ignore-columns", type=_csv, default=())
    parser.add_argument("--format", default="auto", help="auto, csv or parquet")
    parser.add_argument("--model-id", default=None)
    parser.add_argument("--model-version", default="")
    parser.add_argument("--model-package-arn", default="")
    parser.add_argument(
        "--data-fingerprint",
        default="",
        help="the model's data fingerprint (default: sha256 of the input files)",
    )
    parser.add_argument("--fine-bins", type=int, default=DEFAULT_FINE_BINS)
    parser.add_argument(
        "--no-sorted-reference",
        action="store_true",
        help="keep no raw training values in the artifact (drift runs then use mode=binned)",
    )
    parser.add_argument(
        "--drift-thresholds", default=None, help="JSON of Config.monitoring.drift to record"
    )
    parser.add_argument("--dataset-drift-share", type=float, default=None)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="the version's model (model.tar.gz, a folder holding it, or xgboost-model): "
        "record its attribution profile for explanation drift",
    )
    parser.add_argument(
        "--explain-rows",
        type=int,
        default=None,
        help="rows sampled for the attribution profile (default: --config's "
        "monitoring.explanation.sample_rows, else 2000)",
    )
    parser.add_argument(
        "--encoders",
        type=Path,
        default=None,
        help="preprocess's encoders.json (a file, or a folder holding it): the category each "
        "code of a label-encoded feature stands for, shown by name in the drift report",
    )
    return parser.parse_args(argv)


ENCODERS_FILE = "encoders.json"  # finmlops.steps.preprocess.ENCODERS_FILE


def read_category_names(path: Path | None) -> dict[str, list[str]]:
    """The encoder's categories per feature (code k is the k-th), or {} without the file."""
    if path is None:
        return {}
    file = path / ENCODERS_FILE if path.is_dir() else path
    try:
        encoders = json.loads(file.read_text(encoding="utf-8"))
        categorical = encoders["categorical"]
        return {str(k): [str(v) for v in values] for k, values in categorical.items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BaselineError(f"--encoders {file}: not preprocess's encoders file ({exc})") from None


def model_feature_order(path: Path | None, fallback: Sequence[str]) -> tuple[str, ...]:
    """The model's column order: encoders.json's `features` (preprocess writes the training
    columns in that order), else the baseline's own order (the same columns as they arrive)."""
    if path is None:
        return tuple(fallback)
    file = path / ENCODERS_FILE if path.is_dir() else path
    try:
        features = json.loads(file.read_text(encoding="utf-8")).get("features")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"--encoders {file}: not preprocess's encoders file ({exc})") from None
    return tuple(str(f) for f in features) if features else tuple(fallback)


def record_attribution(
    args: argparse.Namespace, feature_order: Sequence[str], sample_rows: int
) -> Profile:
    """The attribution profile of the baseline rows with the version's model."""
    booster, digest = load_model(args.model)
    features = model_feature_order(args.encoders, feature_order)
    chunks = open_dataset(
        args.input,
        parse_dataset_format(args.format),
        feature_order=features,
        chunk_rows=args.chunk_rows,
    )
    rows = read_window(complete(chunks), features, str(args.input))
    return attribution_profile(
        booster, rows.x, features, model_sha256=digest, sample_rows=sample_rows
    )


def parse_thresholds(text: str) -> DriftThresholds:
    """Config.monitoring.drift from its JSON, validated like the config file.

    Lets a pipeline pass `config.monitoring.drift.model_dump_json()` as an argument instead of
    shipping the config to the job.
    """
    try:
        return DriftThresholds.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ValueError(f"--drift-thresholds: {problems}") from None


def file_fingerprint(paths: Sequence[Path]) -> str:
    """sha256 over the input files' bytes, in order (the preprocess step's format)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def complete(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    """The chunks of training data, refusing any bad record (an empty file among them).

    Unlike a monitoring window, a baseline is not judged with a share of bad records: a
    baseline that silently skipped part of the training data would describe data the model was
    not trained on, and every later drift verdict would inherit that.
    """
    for chunk in chunks:
        if chunk.malformed:
            where = str(chunk.bad_samples[0]) if chunk.bad_samples else "a record"
            raise DatasetError(
                f"{where}: the baseline's training data must be complete "
                f"({chunk.malformed} unreadable record(s))"
            )
        yield chunk


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # --model-id names the model of a portfolio file (a single-model file needs none).
        config = load_config(args.config, args.model_id or None) if args.config else None
        numeric = args.numeric
        categorical = args.categorical
        ignore = tuple(args.ignore_columns)
        thresholds: DriftThresholds | None = None
        share = None
        model_id = args.model_id
        if config is not None:
            numeric = numeric if numeric is not None else config.model.numeric_features
            categorical = (
                categorical if categorical is not None else config.model.categorical_features
            )
            ignore += (config.model.target, *config.model.leakage_columns)
            if config.model.time_column:
                ignore += (config.model.time_column,)
            thresholds = config.monitoring.drift
            share = config.monitoring.dataset_drift_share
            model_id = model_id or config.model.name
        if args.drift_thresholds:
            thresholds = parse_thresholds(args.drift_thresholds)
        if args.dataset_drift_share is not None:
            share = args.dataset_drift_share
        if not model_id:
            raise BaselineError("give --model-id or --config (the model's name)")
        files = list_files(args.input, CSV_SUFFIXES + PARQUET_SUFFIXES)
        if not files:
            raise DatasetError(f"no .csv or .parquet file under {args.input}")
        fingerprint = file_fingerprint(files)
        chunks = open_dataset(
            args.input,
            parse_dataset_format(args.format),
            feature_order=(),
            chunk_rows=args.chunk_rows,
        )
        baseline = build_baseline(
            complete(chunks),
            numeric,
            categorical,
            identity=ModelIdentity(
                model_id=model_id,
                model_version=args.model_version,
                model_package_arn=args.model_package_arn,
                data_fingerprint=args.data_fingerprint or fingerprint,
            ),
            ignore_columns=tuple(dict.fromkeys(ignore)),
            thresholds=thresholds,
            dataset_drift_share=share,
            data_fingerprint=fingerprint,
            fine_bins=args.fine_bins,
            keep_sorted_reference=not args.no_sorted_reference,
            category_names=read_category_names(args.encoders),
        )
        profile = None
        if args.model is not None:
            explain_rows = args.explain_rows or (
                config.monitoring.explanation.sample_rows
                if config is not None
                else ExplanationDrift().sample_rows
            )
            profile = record_attribution(args, baseline.feature_order, explain_rows)
    except (BaselineError, DatasetError, ConfigError, ExplanationError, ValueError) as exc:
        print(f"baseline: error: {exc}", file=sys.stderr)
        return 2
    save_baseline(baseline, args.output)
    if profile is not None:
        save_profile(profile, args.output)
        print(
            f"baseline: attribution profile of {profile.rows} rows with model "
            f"{profile.model_sha256}; top {', '.join(profile.ranking()[:3])}"
        )
    print(
        f"baseline: {baseline.rows} rows, {len(baseline.feature_order)} features "
        f"({len(baseline.numeric)} numeric, {len(baseline.categorical)} categorical) -> "
        f"{args.output}; {baseline.baseline_id}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
