"""The per-request cost of reason codes at the endpoint's batch size.

Builds the default config's model locally, packages it as the Package step does, loads the
inference script from the packaged artifact as the container does (model_fn), then times the
container's per-request path (input_fn, predict_fn, output_fn) on requests of the endpoint's
batch size from the test split: text/csv (scores only) against application/json (scores and the
top-k TreeSHAP reasons), in the same run. Prints (never asserts) medians and the ratio, and the
reason-code coverage of the test split's adverse decisions.

    .venv/bin/python benchmarks/bench_reasons.py [--batch 20] [--requests 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from finmlops.config import default_config_path, load_config
from finmlops.modelbuild import run_local
from finmlops.serving import package_step
from finmlops.serving.source import source_archive

BATCH = 20  # rows per request, as the emulator's traffic sends them (emulator/story/traffic.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    config = load_config(default_config_path(Path(__file__).resolve().parent.parent), "credit-risk")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build = run_local(config, work / "build")
        source = work / "sourcedir.tar.gz"
        source.write_bytes(source_archive(config.model))
        test_csv = work / "build" / "preprocess" / "test" / "test.csv"
        evidence = package_step.package(
            config.model, build.model_archive, test_csv, source, work / "package"
        )
        model_dir = work / "opt-ml-model"
        archive = (work / "package" / package_step.MODEL_ARCHIVE).read_bytes()
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(model_dir, filter="data")
        spec = importlib.util.spec_from_file_location(
            "inference", model_dir / "code" / "inference.py"
        )
        assert spec is not None and spec.loader is not None
        script = importlib.util.module_from_spec(spec)
        sys.modules["inference"] = script
        spec.loader.exec_module(script)
        model = script.model_fn(str(model_dir))

        rows = pd.read_csv(test_csv, header=None).iloc[:, 1:].to_numpy()
        bodies = []
        for i in range(args.requests):
            start = (i * args.batch) % max(1, len(rows) - args.batch)
            batch = rows[start : start + args.batch]
            bodies.append(
                "\n".join(",".join("" if np.isnan(v) else f"{v:g}" for v in r) for r in batch)
            )

        def request(body: str, accept: str) -> float:
            begin = time.perf_counter()
            data = script.input_fn(body, "text/csv")
            script.output_fn(script.predict_fn(data, model), accept)
            return time.perf_counter() - begin

        for body in bodies[:20]:  # warm-up
            request(body, "text/csv")
            request(body, "application/json")
        # Interleaved, so both see the same machine load.
        csv_times, json_times = [], []
        for body in bodies:
            csv_times.append(request(body, "text/csv"))
            json_times.append(request(body, "application/json"))
    csv_ms = statistics.median(csv_times) * 1000
    json_ms = statistics.median(json_times) * 1000
    rounds = model.booster.num_boosted_rounds()
    print(
        f"model: default config, {rounds} trees of depth <= "
        f"{config.model.hyperparameters.max_depth}, {len(config.model.features)} features; "
        f"{args.requests} requests of {args.batch} rows, medians, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}"
    )
    print(f"  scores only (text/csv)                {csv_ms:8.3f} ms per request")
    print(
        f"  scores + top-{config.model.reasons.top_k} reasons (application/json)"
        f" {json_ms:8.3f} ms per request  ({json_ms / csv_ms:.1f}x scores only, "
        f"+{json_ms - csv_ms:.3f} ms)"
    )
    share = evidence["coverage"]
    print(
        f"  reason coverage of adverse test decisions: "
        f"{'n/a' if share is None else f'{share:.1%}'} "
        f"({evidence['covered_decisions']} of {evidence['adverse_decisions']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
