"""Evidently's data-drift preset on two Parquet files; run by the Python of Evidently's own venv.

Evidently 0.7.23 needs pandas < 3 and so cannot share the project's venv: `make evidently-venv`
installs it into .venv-evidently, and benchmarks/bench_drift_real.py calls this script there:

    .venv-evidently/bin/python benchmarks/evidently_drift.py REF.parquet CUR.parquet SPEC.json

SPEC.json names the numeric and categorical columns and the dataset drift share. Prints one JSON
object: wall and CPU seconds of the report run (data loading excluded), each column's method,
score, threshold and verdict (Evidently's own `drift_detected`, read from its tests), and the
dataset verdict (`share >= drift_share`, Evidently's rule).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main() -> None:
    reference_path, current_path, spec_path = sys.argv[1:4]
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    definition = DataDefinition(
        numerical_columns=spec["numeric"], categorical_columns=spec["categorical"]
    )
    report = Report([DataDriftPreset(drift_share=spec["drift_share"])], include_tests=True)
    start = time.perf_counter()
    cpu = time.process_time()
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - start
    columns: dict[str, dict[str, object]] = {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            columns[config["column"]] = {
                "method": config.get("method"),
                "threshold": config.get("threshold"),
                "value": metric.get("value"),
            }
    for test in result.get("tests", []):
        name = test.get("name", "")
        prefix = "Value Drift for column "
        if name.startswith(prefix) and name[len(prefix) :] in columns:
            columns[name[len(prefix) :]]["drifted"] = test.get("status") == "FAIL"
    drifted = sorted(c for c, v in columns.items() if v.get("drifted"))
    share = len(drifted) / max(len(columns), 1)
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "columns": columns,
                "drifted": drifted,
                "dataset_drifted": share >= spec["drift_share"],
            }
        )
    )


if __name__ == "__main__":
    main()
