"""Container entry point: one program for a Model Monitor schedule and for pipeline steps.

    python -m finmlops.monitoring [drift|manifest|partial|merge|quality|explain|baseline] [...]

Without arguments it is a Model Monitor bring-your-own-container job: it reads the contract's
environment (dataset_source, dataset_format, output_path, start_time, end_time,
publish_cloudwatch_metrics, sagemaker_endpoint_name, sagemaker_monitoring_schedule_name,
baseline_statistics, baseline_constraints), from the process environment or the Environment map
of /opt/ml/config/processingjobconfig.json. As a pipeline processing step, arguments override
the environment. `manifest`, `partial` and `merge` are the three steps of a drift run spread
over several instances (docs/decisions/0027). Exit status: 0 when the run completed (with or
without violations), 2 when it could not run (the message says why).

Each command imports the modules it runs when it runs: the job is a process of its own, and most
of its start-up is importing (the drift engine pulls in pandas, pyarrow and scipy; the config
pydantic; `baseline` and `quality` need neither the drift engine nor each other's modules).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmlops.monitoring import cloudwatch
from finmlops.monitoring.modes import MODES
from finmlops.monitoring.readers import CAPTURE_SUFFIXES, list_files, parse_time

if TYPE_CHECKING:
    from finmlops.config import Config, DriftThresholds, ExplanationDrift
    from finmlops.monitoring.baseline import Baseline, ModelIdentity
    from finmlops.monitoring.drift import DriftReport
    from finmlops.monitoring.history import History
    from finmlops.monitoring.quality import AucDropRule
    from finmlops.monitoring.window import WindowAccumulator

PROCESSING_CONFIG = Path("/opt/ml/config/processingjobconfig.json")
RESOURCE_CONFIG = Path("/opt/ml/config/resourceconfig.json")
MESSAGE_FILE = Path("/opt/ml/output/message")
DEFAULT_SOURCE = "/opt/ml/processing/input/endpoint"
DEFAULT_OUTPUT = "/opt/ml/processing/resultdata"
DEFAULT_BASELINE = "/opt/ml/processing/baseline"
DEFAULT_GROUND_TRUTH = "/opt/ml/processing/groundtruth"
DEFAULT_PARTIALS = "/opt/ml/processing/input/partials"
DEFAULT_MODEL = "/opt/ml/processing/model"
# The manifest step's two files: the SageMaker manifest of the window's capture objects (absent
# for an empty window) and the summary the pipeline's condition and the merge step read.
MANIFEST_FILE = "captures.manifest"
WINDOW_FILE = "window.json"
COMMANDS = ("drift", "manifest", "partial", "merge", "quality", "explain", "baseline")
# SageMaker's container paths are the defaults; the offline emulator runs this program with the
# job's /opt/ml tree under another root, named by this variable (as the step code does,
# finmlops.steps.evaluate.CONTAINER_ROOT_ENV).
CONTAINER_ROOT_ENV = "FINMLOPS_CONTAINER_ROOT"


def container_path(path: Path, environ: Mapping[str, str] | None = None) -> Path:
    """A fixed container path (job config, message file) under the job's root."""
    root = (os.environ if environ is None else environ).get(CONTAINER_ROOT_ENV, "/")
    return Path(root) / str(path).lstrip("/")


class UsageError(ValueError):
    """The job cannot run as configured."""


def contract_environment(environ: Mapping[str, str], config_file: Path) -> dict[str, str]:
    """The BYOC environment: the processing job config's Environment map, then the process env."""
    merged: dict[str, str] = {}
    if config_file.is_file():
        try:
            document = json.loads(config_file.read_text(encoding="utf-8"))
            merged.update({k: str(v) for k, v in (document.get("Environment") or {}).items()})
        except ValueError:
            pass  # an unreadable job config leaves the process environment in charge
    merged.update(environ)
    return merged


def _common(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    parser.add_argument("--output-path", default=env.get("output_path", DEFAULT_OUTPUT))
    parser.add_argument("--config", default=env.get("FINMLOPS_CONFIG"), help="platform YAML")
    parser.add_argument(
        "--config-model",
        default=env.get("FINMLOPS_MODEL"),
        metavar="NAME",
        help="the model (its key under `models:`) of a --config with several; default: "
        "--expected-model-id where the command has it",
    )
    parser.add_argument(
        "--publish-cloudwatch-metrics",
        default=env.get("publish_cloudwatch_metrics", "Disabled"),
        help="Enabled: write the BYOC metrics file",
    )
    parser.add_argument("--metrics-dir", default=str(container_path(cloudwatch.METRICS_DIR, env)))
    parser.add_argument(
        "--put-metric-data", action="store_true", help="call PutMetricData (pipeline mode)"
    )
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--region", default=env.get("AWS_REGION"))
    parser.add_argument("--endpoint-name", default=env.get("sagemaker_endpoint_name"))
    parser.add_argument("--schedule-name", default=env.get("sagemaker_monitoring_schedule_name"))
    parser.add_argument("--start-time", default=env.get("start_time"))
    parser.add_argument("--end-time", default=env.get("end_time"))
    parser.add_argument(
        "--lookback-hours",
        type=float,
        default=env.get("lookback_hours"),
        help="with s3:// sources: download only the hour folders of [end - N h, end)",
    )
    parser.add_argument(
        "--message-file",
        default=(
            str(container_path(MESSAGE_FILE, env))
            if env.get("sagemaker_monitoring_schedule_name")
            else None
        ),
    )


def _drift_inputs(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    parser.add_argument("--baseline", default=_baseline_default(env))
    parser.add_argument(
        "--drift-thresholds",
        default=env.get("drift_thresholds"),
        help="JSON of Config.monitoring.drift (instead of shipping the config to the job)",
    )
    parser.add_argument(
        "--dataset-drift-share",
        type=float,
        default=env.get("dataset_drift_share"),  # argparse converts (and rejects) the text
    )
    parser.add_argument(
        "--max-bad-record-share",
        type=float,
        default=env.get("max_bad_record_share"),
        help="above this share of unreadable records the window is a violation "
        "(default: --config's monitoring.max_bad_record_share, else 0.01)",
    )
    parser.add_argument("--mode", choices=MODES, default=env.get("drift_mode", "exact"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--expected-model-id", default=env.get("expected_model_id", ""))
    parser.add_argument("--expected-model-version", default=env.get("expected_model_version", ""))
    parser.add_argument(
        "--expected-data-fingerprint", default=env.get("expected_data_fingerprint", "")
    )
    parser.add_argument(
        "--expected-model-package-arn", default=env.get("expected_model_package_arn", "")
    )
    parser.add_argument(
        "--history",
        default=env.get("history_uri"),
        help="folder or s3:// prefix of earlier runs' outputs: the report's trend reads their "
        "drift_report.json (default: none, no trend)",
    )
    parser.add_argument(
        "--history-windows",
        type=int,
        default=env.get("history_windows", 8),
        help="at most this many earlier windows in the trend",
    )


def _baseline_default(env: Mapping[str, str]) -> str:
    # The artifact sits next to statistics.json when the step mounts the whole baseline folder.
    if env.get("baseline_uri"):
        return env["baseline_uri"]
    for key in ("baseline_statistics", "baseline_constraints"):
        if env.get(key):
            return str(Path(env[key]).parent)
    return DEFAULT_BASELINE


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finmlops-monitor", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    drift = sub.add_parser("drift", help="compare the window with the baseline")
    partial = sub.add_parser("partial", help="one shard's partial result")
    for command in (drift, partial):
        command.add_argument("--dataset-source", default=env.get("dataset_source", DEFAULT_SOURCE))
        command.add_argument("--dataset-format", default=env.get("dataset_format"))
        command.add_argument("--ignore-columns", default="")
        command.add_argument("--chunk-rows", type=int, default=100_000)
        _drift_inputs(command, env)
        _common(command, env)
    partial.add_argument("--shard", default=None, help="default: this instance's host name")
    manifest = sub.add_parser("manifest", help="list the window's capture objects for shards")
    manifest.add_argument("--dataset-source", default=env.get("dataset_source"))
    _common(manifest, env)
    merge = sub.add_parser("merge", help="merge shard partials into the report")
    merge.add_argument("--partials", default=env.get("partials_source", DEFAULT_PARTIALS))
    merge.add_argument(
        "--expect-shards",
        type=int,
        default=None,
        help="refuse to judge unless exactly this many partials are found",
    )
    merge.add_argument(
        "--window",
        default=env.get("window_source"),
        help=f"the manifest step's {WINDOW_FILE} (or its folder): the partials must have read "
        "every object it lists",
    )
    _drift_inputs(merge, env)
    _common(merge, env)
    model_quality = sub.add_parser("quality", help="model quality with delayed labels")
    model_quality.add_argument("--captures", default=env.get("dataset_source", DEFAULT_SOURCE))
    model_quality.add_argument(
        "--ground-truth", default=env.get("ground_truth_source", DEFAULT_GROUND_TRUTH)
    )
    model_quality.add_argument("--cutoff", type=float, default=None)
    model_quality.add_argument(
        "--positive-labels", default=None, help="default: 1 and the config's positive class"
    )
    model_quality.add_argument(
        "--negative-labels",
        default="0",
        help="class strings read as 0 besides 0/false (default: 0); any other label is refused",
    )
    model_quality.add_argument("--window", default=env.get("quality_window", "1h"))
    model_quality.add_argument("--min-auc", type=float, default=None)
    model_quality.add_argument(
        "--validated-auc",
        type=float,
        default=None,
        help="the deployed version's validated (test-set) AUC, from its deployment manifest: "
        "with --max-auc-drop, a window whose AUC is lower by more than the tolerance beyond "
        "sampling noise is a violation",
    )
    model_quality.add_argument(
        "--max-auc-drop",
        type=float,
        default=None,
        help="the AUC drop tolerated below --validated-auc (default: --config's "
        "monitoring.max_auc_drop)",
    )
    model_quality.add_argument(
        "--auc-drop-confidence",
        type=float,
        default=None,
        help="one-sided confidence of the drop's lower bound (default: --config's "
        "monitoring.auc_drop_confidence, else 0.95)",
    )
    model_quality.add_argument(
        "--label-delay-hours",
        type=float,
        default=None,
        help="windows ending more than this before --end-time are due: without a computable "
        "AUC they are a violation (default: --config's monitoring.label_delay_hours; without "
        "either, every window is due)",
    )
    model_quality.add_argument(
        "--max-bad-record-share",
        type=float,
        default=None,
        help="default: --config's monitoring.max_bad_record_share, else 0.01",
    )
    _common(model_quality, env)
    explain = sub.add_parser(
        "explain", help="explanation drift: the window's attribution profile against the baseline's"
    )
    explain.add_argument("--dataset-source", default=env.get("dataset_source", DEFAULT_SOURCE))
    explain.add_argument("--dataset-format", default=env.get("dataset_format"))
    explain.add_argument("--baseline", default=_baseline_default(env))
    explain.add_argument(
        "--model",
        default=env.get("model_source", DEFAULT_MODEL),
        help="the deployed model: its model.tar.gz, a folder holding it, or xgboost-model",
    )
    explain.add_argument(
        "--explanation-thresholds",
        default=env.get("explanation_thresholds"),
        help="JSON of Config.monitoring.explanation (instead of shipping the config to the job)",
    )
    explain.add_argument(
        "--max-bad-record-share",
        type=float,
        default=env.get("max_bad_record_share"),
        help="default: --config's monitoring.max_bad_record_share, else 0.01",
    )
    explain.add_argument("--chunk-rows", type=int, default=100_000)
    _common(explain, env)
    sub.add_parser("baseline", help="compile a baseline (see baseline_step)", add_help=False)
    return parser


# --------------------------------------------------------------------------------------------


def fetch_baseline(s3_client: Any, uri: str, destination: Path) -> Path:
    """Download an artifact folder from s3://bucket/prefix with the given S3 client."""
    if not uri.startswith("s3://"):
        raise UsageError(f"not an S3 URI: {uri}")
    bucket, _, prefix = uri[5:].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    paginator = s3_client.get_paginator("list_objects_v2")
    count = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            target = (destination / relative).resolve()
            if not target.is_relative_to(destination.resolve()):
                raise UsageError(f"refusing S3 key outside the artifact folder: {item['Key']}")
            target.parent.mkdir(parents=True, exist_ok=True)
            s3_client.download_file(bucket, item["Key"], str(target))
            count += 1
    if not count:
        raise UsageError(f"no baseline artifact at {uri}")
    return destination


def _load_baseline(location: str) -> Baseline:
    from finmlops.monitoring.baseline import load_baseline

    if location.startswith("s3://"):
        import boto3

        # Not under output_path: the artifact holds training values and must not be uploaded
        # again with the job's results.
        with tempfile.TemporaryDirectory(prefix="baseline-") as folder:
            return load_baseline(fetch_baseline(boto3.client("s3"), location, Path(folder)))
    return load_baseline(location)


def _expected(args: argparse.Namespace) -> ModelIdentity | None:
    values = (
        args.expected_model_id,
        args.expected_model_version,
        args.expected_model_package_arn,
        args.expected_data_fingerprint,
    )
    if not any(values):
        return None
    from finmlops.monitoring.baseline import ModelIdentity

    return ModelIdentity(
        model_id=args.expected_model_id,
        model_version=args.expected_model_version,
        model_package_arn=args.expected_model_package_arn,
        data_fingerprint=args.expected_data_fingerprint,
    )


def _thresholds(
    args: argparse.Namespace,
) -> tuple[DriftThresholds | None, float | None, float | None]:
    """Arguments first, then the config file; None leaves the baseline's recorded values (and,
    for the bad-record share, the config's default)."""
    thresholds: DriftThresholds | None = None
    share: float | None = args.dataset_drift_share
    bad_share: float | None = args.max_bad_record_share
    if args.config:
        from finmlops.config import load_config

        config = load_config(args.config, _config_model(args))
        thresholds = config.monitoring.drift
        share = share if share is not None else config.monitoring.dataset_drift_share
        if bad_share is None:
            bad_share = config.monitoring.max_bad_record_share
    if args.drift_thresholds:
        from finmlops.monitoring.baseline_step import parse_thresholds

        thresholds = parse_thresholds(args.drift_thresholds)
    return thresholds, share, bad_share


def _metric_time(args: argparse.Namespace) -> datetime:
    end = parse_time(args.end_time)
    return end if end is not None else datetime.now(UTC).replace(microsecond=0)


def _publish(args: argparse.Namespace, data: list[dict[str, Any]], namespace: str) -> list[str]:
    done = []
    if str(args.publish_cloudwatch_metrics).lower() == "enabled":
        done.append(str(cloudwatch.write_metrics_file(data, args.metrics_dir)))
    if args.put_metric_data:
        import boto3

        client = boto3.client("cloudwatch", region_name=args.region)
        cloudwatch.put_metrics(client, data, namespace=args.namespace or namespace)
        done.append(f"PutMetricData {args.namespace or namespace}")
    return done


def _write_message(path: str | None, text: str) -> None:
    """The job's one-line status, as AWS's bring-your-own-container samples write it."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text[:1000], encoding="utf-8")


def _status(violations: int, first: str) -> str:
    if violations:
        return f"CompletedWithViolations: {violations} violation(s), first: {first}"
    return "Completed: Job completed successfully with no violations."


def _finish_drift(args: argparse.Namespace, report: DriftReport, baseline: Baseline) -> int:
    from finmlops.monitoring.report import write_outputs

    written = write_outputs(report, args.output_path, history=_history(args, report))
    dims = cloudwatch.dimensions(
        endpoint=args.endpoint_name, schedule=args.schedule_name, model=baseline.identity.model_id
    )
    data = cloudwatch.drift_metrics(report, timestamp=_metric_time(args), dims=dims)
    published = _publish(args, data, cloudwatch.DATA_NAMESPACE)
    first = report.violations[0].description if report.violations else ""
    _write_message(args.message_file, _status(len(report.violations), first))
    dataset = report.dataset
    print(
        f"drift: {report.window['rows']} rows, {dataset['drifted_features']}/{dataset['features']} "
        f"features drifted (share {dataset['drift_share']:.3f} >= {dataset['threshold']} is "
        f"{dataset['drifted']}), {len(report.violations)} violation(s) -> "
        + ", ".join([*(str(p) for p in written.values()), *published])
    )
    for message in report.messages:
        print(f"drift: {message}")
    return 0


def _history(args: argparse.Namespace, report: DriftReport) -> History | None:
    """Earlier windows for the report's trend; a history that cannot be read is said and
    skipped: the trend is context, the window's verdict does not depend on it."""
    source = getattr(args, "history", None)
    if not source:
        return None
    from finmlops.monitoring.history import read_history

    client = None
    if str(source).startswith("s3://"):
        import boto3

        client = boto3.client("s3", region_name=args.region)
    try:
        history = read_history(
            str(source), s3_client=client, limit=max(1, int(args.history_windows)),
            exclude_end=str(report.window.get("end") or ""),
        )  # fmt: skip
    except Exception as error:  # any failure to read leaves the report without a trend
        print(f"drift: history {source} not read ({error}); the report has no trend")
        return None
    for problem in history.problems:
        print(f"drift: history: {problem}")
    return history


def _accumulate(args: argparse.Namespace, baseline: Baseline) -> WindowAccumulator:
    from finmlops.monitoring.readers import open_dataset, parse_dataset_format
    from finmlops.monitoring.window import WindowAccumulator

    accumulator = WindowAccumulator(
        baseline,
        args.mode,
        ignore_columns=tuple(c for c in args.ignore_columns.split(",") if c.strip()),
        threads=args.threads,
    )
    if "captures" in getattr(args, "empty_sources", ()):
        return accumulator
    chunks = open_dataset(
        Path(args.dataset_source),
        parse_dataset_format(args.dataset_format),
        feature_order=baseline.feature_order,
        start=parse_time(args.start_time),
        end=parse_time(args.end_time),
        chunk_rows=args.chunk_rows,
    )
    for chunk in chunks:
        accumulator.add(chunk)
    return accumulator


def _local(args: argparse.Namespace, source: str, name: str) -> str:
    """An s3:// source fetched for this run's hours (see monitoring.sources); a path as it is.

    The download goes to a temporary folder owned by the run's `scratch` stack (see `main`),
    which removes it however the run ends.
    """
    if not str(source).startswith("s3://"):
        return str(source)
    import boto3

    from finmlops.monitoring.sources import fetch

    end = parse_time(args.end_time)
    scratch: contextlib.ExitStack = args.scratch
    folder = scratch.enter_context(tempfile.TemporaryDirectory(prefix=f"finmlops-{name}-"))
    fetched = fetch(
        boto3.client("s3", region_name=args.region),
        source,
        Path(folder),
        end=end,
        lookback_hours=args.lookback_hours,
    )
    print(
        f"{name}: {fetched.objects} object(s) from {source}"
        + (f" ({fetched.skipped} outside the window)" if fetched.skipped else "")
    )
    if not fetched.objects:
        # An hour without traffic is an empty window, reported as not evaluated (sources.py),
        # not a failed job: the scheduled run of every idle hour would fail otherwise.
        args.empty_sources = {*getattr(args, "empty_sources", ()), name}
    return str(fetched.path)


def _judge_window(
    args: argparse.Namespace,
    baseline: Any,
    window: Any,
    limits: tuple[DriftThresholds | None, float | None, float | None],
) -> int:
    """A whole window's statistics (one job's, or merged shards') judged against the baseline."""
    from finmlops.monitoring.drift import evaluate

    thresholds, share, bad_share = limits
    report = evaluate(
        baseline,
        window,
        thresholds,
        share,
        expected_identity=_expected(args),
        window_start=parse_time(args.start_time),
        window_end=parse_time(args.end_time),
        threads=args.threads,
        max_bad_record_share=bad_share,
    )
    return _finish_drift(args, report, baseline)


def run_drift_command(args: argparse.Namespace) -> int:
    args.dataset_source = _local(args, args.dataset_source, "captures")
    baseline = _load_baseline(args.baseline)
    limits = _thresholds(args)  # a bad threshold fails before the window is read
    return _judge_window(args, baseline, _accumulate(args, baseline).result(), limits)


def _shard_name(given: str | None) -> str:
    if given:
        return given
    resource_config = container_path(RESOURCE_CONFIG)
    if resource_config.is_file():
        try:
            return str(json.loads(resource_config.read_text(encoding="utf-8"))["current_host"])
        except (ValueError, KeyError):
            pass  # not a processing instance: fall back to the machine's name
    return os.uname().nodename or "shard"


def _shard_files(source: Path) -> list[Path]:
    """The capture files of this instance's share: none when SageMaker handed it no object.

    With `ShardedByS3Key` and more instances than objects some instances get no data (SageMaker
    API Reference, S3DataSource.S3DataDistributionType: "some nodes won't get any data"); such a
    shard is empty, not a failed job. The merge step checks that the shards together read every
    object the manifest listed, so an input that went missing is still caught there.
    """
    if source.exists():
        from finmlops.monitoring.readers import CSV_SUFFIXES, PARQUET_SUFFIXES

        return list_files(source, CAPTURE_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES)
    return []


def run_partial_command(args: argparse.Namespace) -> int:
    from finmlops.monitoring.window import save_partial

    args.dataset_source = _local(args, args.dataset_source, "captures")
    baseline = _load_baseline(args.baseline)
    shard = _shard_name(args.shard)
    files = _shard_files(Path(args.dataset_source))
    if not files:
        args.empty_sources = {*getattr(args, "empty_sources", ()), "captures"}
    partial = _accumulate(args, baseline).result()
    partial.shards = [shard]
    partial.files = len(files)
    path = save_partial(baseline, partial, Path(args.output_path) / "partials" / shard, shard)
    print(f"partial: shard {shard}, {len(files)} file(s), {partial.rows} rows -> {path}")
    return 0


def run_manifest_command(args: argparse.Namespace) -> int:
    """List the window's capture objects into a SageMaker manifest for the sharded step.

    Writes `captures.manifest` (ProcessingS3Input `S3DataType: ManifestFile`, see
    sources.manifest_document) when the window has objects, and always `window.json`:
    `{"objects": K, "skipped": S, ...}`, the pipeline's condition (`Std:JsonGet` on
    `objects`) and the merge step's completeness check.
    """
    if not str(args.dataset_source or "").startswith("s3://"):
        raise UsageError("manifest: --dataset-source must be the s3:// capture prefix")
    import boto3

    from finmlops.monitoring import formats
    from finmlops.monitoring.sources import manifest_document, window_objects

    end = parse_time(args.end_time)
    found = window_objects(
        boto3.client("s3", region_name=args.region),
        args.dataset_source,
        end=end,
        lookback_hours=args.lookback_hours,
    )
    output = Path(args.output_path)
    output.mkdir(parents=True, exist_ok=True)
    document = manifest_document(found)
    if document:
        formats.write_json(output / MANIFEST_FILE, document)
    formats.write_json(
        output / WINDOW_FILE,
        {
            "source": args.dataset_source,
            "end": end.isoformat() if end else None,
            "lookback_hours": args.lookback_hours,
            "objects": len(found.keys),
            "skipped": found.skipped,
            "manifest": MANIFEST_FILE if document else None,
        },
    )
    print(
        f"manifest: {len(found.keys)} object(s) in the window from {args.dataset_source}"
        + (f" ({found.skipped} outside it)" if found.skipped else "")
        + (f" -> {output / MANIFEST_FILE}" if document else ": no manifest (empty window)")
    )
    return 0


def _window_objects(location: str) -> int:
    """The object count the manifest step recorded in window.json (a file or its folder)."""
    path = Path(location)
    path = path / WINDOW_FILE if path.is_dir() else path
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["objects"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: no object count of the window ({exc})") from None


def run_merge_command(args: argparse.Namespace) -> int:
    from finmlops.monitoring.window import find_partials, load_partial, merge_partials

    baseline = _load_baseline(args.baseline)
    files = find_partials(args.partials)
    if not files:
        raise UsageError(f"no partial.json under {args.partials}")
    if args.expect_shards is not None and len(files) != args.expect_shards:
        # An instance whose partial is missing would leave its share of the window unjudged.
        raise UsageError(
            f"{len(files)} partial(s) under {args.partials}, expected {args.expect_shards} "
            "(one per instance): refusing to judge part of the window"
        )
    partials = [load_partial(f) for f in files]
    if args.window:
        listed = _window_objects(args.window)
        read = sum(p.files for p in partials)
        if read != listed:
            raise UsageError(
                f"the shards read {read} file(s), the window's manifest lists {listed}: "
                "refusing to judge part of the window"
            )
    merged = merge_partials(partials)
    return _judge_window(args, baseline, merged, _thresholds(args))


def _words(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _auc_drop_rule(args: argparse.Namespace, config: Config | None) -> AucDropRule | None:
    """The AUC-drop rule of the run: needs the version's validated AUC (the stacks pass it from
    the deployment manifest) and a tolerance (argument, else the config's)."""
    from finmlops.monitoring.quality import AucDropRule

    tolerance = args.max_auc_drop
    if tolerance is None and config is not None:
        tolerance = config.monitoring.max_auc_drop
    confidence = args.auc_drop_confidence
    if confidence is None:
        confidence = config.monitoring.auc_drop_confidence if config is not None else 0.95
    if args.validated_auc is None:
        if args.max_auc_drop is not None:
            raise UsageError("--max-auc-drop needs --validated-auc (the deployed version's AUC)")
        return None
    if tolerance is None:
        raise UsageError(
            "--validated-auc needs --max-auc-drop (or --config's monitoring.max_auc_drop)"
        )
    try:
        return AucDropRule(args.validated_auc, tolerance, confidence)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _config_model(args: argparse.Namespace) -> str | None:
    """The model of a portfolio file --config names: --config-model, else --expected-model-id
    (the model's name); a single-model file, what a pipeline ships, needs neither."""
    return args.config_model or getattr(args, "expected_model_id", "") or None


def run_quality_command(args: argparse.Namespace) -> int:
    from finmlops.monitoring import quality

    config = None
    if args.config:
        from finmlops.config import load_config

        config = load_config(args.config, _config_model(args))
    cutoff = args.cutoff if args.cutoff is not None else (config.model.cutoff if config else None)
    if cutoff is None:
        raise UsageError("give --cutoff or --config (model.cutoff)")
    min_auc = (
        args.min_auc
        if args.min_auc is not None
        else (config.monitoring.min_auc if config else None)
    )
    auc_drop = _auc_drop_rule(args, config)
    delay = args.label_delay_hours
    if delay is None and config is not None:
        delay = config.monitoring.label_delay_hours
    bad_share = args.max_bad_record_share
    if bad_share is None and config is not None:
        bad_share = config.monitoring.max_bad_record_share
    capture_root = Path(_local(args, args.captures, "captures"))
    captures = list_files(capture_root, CAPTURE_SUFFIXES)
    args.ground_truth = _local(args, args.ground_truth, "ground-truth")
    truth_root = Path(args.ground_truth)
    truth: list[Path] = []
    if truth_root.exists():
        truth = list_files(truth_root, CAPTURE_SUFFIXES)
    else:
        # Labels arrive late: before the first ones the folder may not exist yet.
        print(f"quality: no ground truth at {args.ground_truth} yet: label coverage is 0")
    if args.positive_labels is not None:
        positives = _words(args.positive_labels)
    else:
        positives = ("1", config.model.positive_class) if config else ("1",)
    report = quality.compute_model_quality(
        quality.read_jsonl(captures, capture_root),
        quality.read_jsonl(truth, truth_root),
        cutoff,
        positive_labels=positives,
        negative_labels=_words(args.negative_labels),
        window=args.window,
        start=parse_time(args.start_time),
        end=parse_time(args.end_time),
        min_auc=min_auc,
        auc_drop=auc_drop,
        labels_due_before=(
            _metric_time(args) - timedelta(hours=delay) if delay is not None else None
        ),
        max_bad_record_share=bad_share,
    )
    written = quality.write_quality_outputs(report, args.output_path)
    model = config.model.name if config else None
    dims = cloudwatch.dimensions(
        endpoint=args.endpoint_name, schedule=args.schedule_name, model=model
    )
    data = cloudwatch.quality_metrics(report, dims=dims, timestamp=_metric_time(args))
    published = _publish(args, data, cloudwatch.QUALITY_NAMESPACE)
    first = report.violations[0]["description"] if report.violations else ""
    _write_message(args.message_file, _status(len(report.violations), first))
    overall = report.overall
    print(
        f"quality: {overall.captured} predictions, {overall.labelled} labelled "
        f"(coverage {overall.label_coverage:.3f}), AUC {overall.metrics['auc']} -> "
        + ", ".join([*(str(p) for p in written.values()), *published])
    )
    return 0


def _explanation_limits(args: argparse.Namespace) -> tuple[ExplanationDrift, float]:
    """The explanation thresholds and the bad-record limit: arguments, then --config, then the
    defaults of Config.monitoring (a bad value fails before any input is read)."""
    from pydantic import ValidationError

    from finmlops.config import ExplanationDrift

    limits = ExplanationDrift()
    bad_share = args.max_bad_record_share
    if args.config:
        from finmlops.config import load_config

        config = load_config(args.config, _config_model(args))
        limits = config.monitoring.explanation
        if bad_share is None:
            bad_share = config.monitoring.max_bad_record_share
    if args.explanation_thresholds:
        try:
            limits = ExplanationDrift.model_validate_json(args.explanation_thresholds)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise UsageError(f"--explanation-thresholds: {problems}") from None
    return limits, 0.01 if bad_share is None else float(bad_share)


def _model_file(args: argparse.Namespace) -> str:
    """The model as a local file: a processing input already is one; an s3:// object is
    downloaded into the run's scratch folder."""
    model = str(args.model)
    if model.startswith("s3://"):
        import boto3

        bucket, _, key = model[5:].partition("/")
        folder = args.scratch.enter_context(tempfile.TemporaryDirectory(prefix="model-"))
        target = Path(folder) / (key.rsplit("/", 1)[-1] or "model.tar.gz")
        boto3.client("s3", region_name=args.region).download_file(bucket, key, str(target))
        model = str(target)
    return model


def run_explain_command(args: argparse.Namespace) -> int:
    """Explanation drift of the window (finmlops.monitoring.explanation): the deployed model's
    attribution profile of a seeded sample of the window against the one its baseline step
    recorded. A window of fewer than `min_rows` rows (an idle hour) is reported as not
    evaluated, publishes no NDCG, and says so; a missing feature, another model than the
    profile's, or an unreadable profile fails the job (exit 2)."""
    from finmlops.monitoring import explanation
    from finmlops.monitoring.readers import open_dataset, parse_dataset_format

    limits, bad_share = _explanation_limits(args)
    model = _model_file(args)
    baseline_dir = args.baseline
    if str(baseline_dir).startswith("s3://"):
        import boto3

        folder = args.scratch.enter_context(tempfile.TemporaryDirectory(prefix="baseline-"))
        baseline_dir = str(fetch_baseline(boto3.client("s3"), baseline_dir, Path(folder)))
    profile = explanation.load_profile(baseline_dir)
    booster, digest = explanation.load_model(model)
    args.dataset_source = _local(args, args.dataset_source, "captures")
    if "captures" in getattr(args, "empty_sources", ()):
        import numpy as np

        window = explanation.Window(x=np.empty((0, len(profile.features))))
    else:
        chunks = open_dataset(
            Path(args.dataset_source),
            parse_dataset_format(args.dataset_format),
            feature_order=profile.features,
            start=parse_time(args.start_time),
            end=parse_time(args.end_time),
            chunk_rows=args.chunk_rows,
        )
        window = explanation.read_window(chunks, profile.features, str(args.dataset_source))
    report = explanation.evaluate_window(
        booster,
        digest,
        profile,
        window,
        min_ndcg=limits.min_ndcg,
        max_attribution_shift=limits.max_attribution_shift,
        sample_rows=limits.sample_rows,
        min_rows=limits.min_rows,
        max_bad_record_share=bad_share,
        window_start=parse_time(args.start_time),
        window_end=parse_time(args.end_time),
    )
    written = explanation.write_outputs(report, args.output_path)
    dims = cloudwatch.dimensions(endpoint=args.endpoint_name, schedule=args.schedule_name)
    data = cloudwatch.explanation_metrics(report, timestamp=_metric_time(args), dims=dims)
    published = _publish(args, data, cloudwatch.EXPLANATION_NAMESPACE)
    first = report.violations[0]["description"] if report.violations else ""
    status = _status(len(report.violations), first)
    if not report.evaluated and not report.violations:
        status = f"Completed: not evaluated: {report.reason}"  # never reads as a pass
    _write_message(args.message_file, status)
    verdict = (
        f"NDCG {report.ndcg:.4f}, attribution shift {report.attribution_shift:.4f}, "
        f"{'EXPLANATION DRIFT' if report.drifted else 'no explanation drift'}"
        if report.evaluated
        else f"not evaluated ({report.reason})"
    )
    print(
        f"explain: {report.window_rows} rows; {verdict}; {len(report.violations)} violation(s) -> "
        + ", ".join([*(str(p) for p in written.values()), *published])
    )
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "baseline":
        from finmlops.monitoring import baseline_step

        return baseline_step.main(arguments[1:])
    process = os.environ if environ is None else environ
    env = contract_environment(process, container_path(PROCESSING_CONFIG, process))
    if not arguments or (arguments[0] not in COMMANDS and arguments[0].startswith("-")):
        arguments = ["drift", *arguments]  # Model Monitor starts the container with no arguments
    args = build_parser(env).parse_args(arguments)
    runners = {
        "drift": run_drift_command,
        "manifest": run_manifest_command,
        "partial": run_partial_command,
        "merge": run_merge_command,
        "quality": run_quality_command,
        "explain": run_explain_command,
    }
    try:
        # Every temporary folder of the run (s3:// downloads) is removed on the way out: after
        # success, a reported failure, or an exception nobody expected.
        with contextlib.ExitStack() as scratch:
            args.scratch = scratch
            return runners[args.command](args)
    except (ValueError, OSError) as exc:
        # UsageError and the engine's BaselineError, DatasetError, PartialError and ConfigError
        # are ValueErrors: caught here without importing their modules for every command.
        print(f"finmlops-monitor {args.command}: error: {exc}", file=sys.stderr)
        _write_message(getattr(args, "message_file", None), f"Failed: {exc}")
        return 2


__all__ = ["contract_environment", "fetch_baseline", "main"]
