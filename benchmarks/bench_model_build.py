"""How long the local model build and the offline pipeline-definition build take.

Prints the figures of each and, as the baseline measured in the same run, one plain read of the
dataset with pandas, so the ratios say what the build costs beyond touching the data at all.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from finmlops.config import dataset_path, default_config_path, load_config
from finmlops.modelbuild import run_local

REPEATS = 3


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    config = load_config(default_config_path(Path(__file__).resolve().parent.parent), "credit-risk")
    data = dataset_path(config)
    baseline = statistics.median(timed(lambda: pd.read_csv(data)) for _ in range(REPEATS))

    builds = []
    steps: dict[str, list[float]] = {}
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = run_local(config, Path(tmp))
            builds.append(time.perf_counter() - start)
            for timing in result.timings:
                steps.setdefault(timing.name, []).append(timing.seconds)

    from finmlops_pipelines.definition import build_pipeline_definition

    # The first build imports the sagemaker SDK (seconds); later builds show the build itself.
    cold = timed(lambda: build_pipeline_definition(config))
    definitions = [timed(lambda: build_pipeline_definition(config)) for _ in range(REPEATS)]

    build = statistics.median(builds)
    definition = statistics.median(definitions)
    print(f"dataset: {data.name}, {REPEATS} repeats, medians")
    print(f"  baseline: pandas read_csv of the dataset        {baseline * 1000:8.1f} ms")
    print(
        f"  local model build (preprocess+train+evaluate)  {build * 1000:8.1f} ms  ({build / baseline:.1f}x baseline)"
    )
    for name, values in steps.items():
        print(f"    {name:<12} {statistics.median(values) * 1000:8.1f} ms")
    print(
        f"  pipeline definition build (SDK imported)       {definition * 1000:8.1f} ms  ({definition / baseline:.1f}x baseline)"
    )
    print(f"  first definition build, SDK import included    {cold * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
