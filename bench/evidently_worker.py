"""Worker for bench_monitor_calibration.py: Evidently's DataDriftPreset on frames given as Parquet paths.

Runs in a separate environment that has ``evidently`` (never a project dependency). Reads one
JSON line per job (``{"reference": path, "current": path}``) on stdin, answers one JSON line:
per-column drift verdicts, the dataset verdict, and the seconds Evidently took.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def _verdicts(snapshot: dict) -> tuple[dict[str, bool], bool]:
    columns: dict[str, bool] = {}
    dataset = False
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            dataset = metric["value"]["share"] >= config["drift_share"]
        elif config["type"].endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            is_p_value = "p_value" in config["method"]
            columns[config["column"]] = bool(value < threshold if is_p_value else value >= threshold)
    return columns, dataset


def main() -> int:
    references: dict[str, pd.DataFrame] = {}
    for line in sys.stdin:
        job = json.loads(line)
        try:
            if job["reference"] not in references:
                references.clear()
                references[job["reference"]] = pd.read_parquet(job["reference"])
            current = pd.read_parquet(job["current"])
            started = time.perf_counter()
            snapshot = Report([DataDriftPreset()]).run(
                current_data=current, reference_data=references[job["reference"]]
            )
            seconds = time.perf_counter() - started
            columns, dataset = _verdicts(snapshot.dict())
            answer = {"columns": columns, "dataset": dataset, "seconds": seconds}
        except Exception as exc:  # noqa: BLE001 - reported to the benchmark, which stops
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
