"""On-demand view cost: predict with one on-demand view vs the same model without it, same run.

Setup (temp dir): the generated repo of tests/ondemand_repo.py on the real local Redis (the fast
read path; SQLite with ``--sqlite``), applied and materialized; one scikit-learn model on
``conv_rate`` and ``live_acceptance`` registered for three models: ``plain`` (FeatureService
``trip_plain``), ``one_odfv`` (``trip_one``: the same features plus the python-mode view
``trip_python``, computed on every request from the request's ``pickup_hour`` and the read
``tier``) and ``one_pandas_odfv`` (``trip_one_pandas``: the same features plus the pandas-mode
view ``trip_pandas``, from the request's ``trip_distance_km`` and the read ``conv_rate`` and
``trips``). So the only difference between them is the on-demand view.

Measured in-process as a serving worker runs (Feast's typeguard checks off, see
:mod:`modelyard.features.feast_checks`; ``PredictionService.predict``, prediction cache off, log off), warm, one
entity per call, in ``--rounds`` rounds over the three models (order rotated each round); per-call wall and CPU
microseconds (this process's CPU: on a loaded machine it moves much less than wall time)
min / median / max over rounds and the ratios of medians and of minimums. Target (issue 16): at most 1.3x.
Run: ``.venv/bin/python bench/bench_ondemand.py [--calls 2000] [--rounds 7]``.
"""

from __future__ import annotations

import os

# one OpenMP thread for the model: a gradient-boosting predict on one row otherwise spins a thread
# pool per tree, which on a loaded machine costs milliseconds and buries the feature path measured here
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

YAML = """
project: bench_odfv
serving:
  cache: null
models:
  plain:
    feature_service: trip_plain
    entity_keys: [driver_id]
    task: regression
    label: y
    flavor: sklearn
  one_odfv:
    feature_service: trip_one
    entity_keys: [driver_id]
    task: regression
    label: y
    flavor: sklearn
  one_pandas_odfv:
    feature_service: trip_one_pandas
    entity_keys: [driver_id]
    task: regression
    label: y
    flavor: sklearn
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sqlite", action="store_true", help="SQLite online store instead of Redis")
    args = parser.parse_args()

    # as in a `modelyard serve` worker: Feast's typeguard instrumentation off (modelyard.features.feast_checks)
    from modelyard.features.feast_checks import skip_feast_typechecks

    skip_feast_typechecks()
    import numpy as np
    import redis
    from ondemand_repo import END, build, request_rows
    from sklearn.ensemble import HistGradientBoostingRegressor

    from modelyard.serving.app import build_state
    from modelyard.yard import Yard

    with tempfile.TemporaryDirectory() as tmp:
        url = None if args.sqlite else "redis://127.0.0.1:6379/0"
        repo, project = build(Path(tmp), redis_url=url)
        (repo / "modelyard.yaml").write_text(YAML)
        yard = Yard.load(repo)
        yard.features.apply()
        yard.features.materialize(END, progress=False)
        rows = request_rows(200, seed=uuid.uuid4().int % 1000)
        frame = yard.features.training_frame("plain", rows[["driver_id", "event_timestamp"]])
        cols = ["conv_rate", "live_acceptance"]
        x = frame[cols].astype("float64")
        model = HistGradientBoostingRegressor(max_iter=10).fit(x, np.arange(len(x), dtype=float))
        models = ("plain", "one_odfv", "one_pandas_odfv")
        for name in models:
            v = yard.registry.register(name, model, feature_names=cols)
            yard.registry.promote(name, v.version, reason="bench")
        state = build_state(yard, cache=False, prediction_log=False)
        svc = state.service
        request = {"trip_distance_km": [3.2], "pickup_hour": [8]}
        drivers = [int(d) for d in rows.driver_id if d != 999][:50]

        def run(model: str) -> tuple[float, float]:
            extra = {"request_data": request} if model != "plain" else {}
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(args.calls):
                svc.predict(model, {"driver_id": [drivers[i % len(drivers)]]}, **extra)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            return wall / args.calls * 1e6, cpu / args.calls * 1e6

        for model in models:
            run(model)  # warm up
        times: dict[str, list[float]] = {m: [] for m in models}
        cpus: dict[str, list[float]] = {m: [] for m in models}
        for r in range(args.rounds):
            k = r % len(models)
            for model in models[k:] + models[:k]:  # order rotated each round
                wall, cpu = run(model)
                times[model].append(wall)
                cpus[model].append(cpu)
        state.close()
        if url is not None:
            client = redis.Redis.from_url(url)
            for key in client.scan_iter(match=b"*" + project.encode()):
                client.delete(key)
    store = "sqlite" if args.sqlite else "redis (fast path)"
    load = os.getloadavg()[0]
    print(f"predict, one entity, {store}, {args.calls} calls x {args.rounds} rounds, load average {load:.1f}")
    for label, table in (("wall", times), ("CPU", cpus)):
        print(f"  {label} microseconds per call")
        for model, values in table.items():
            print(
                f"    {model:15s} min {min(values):8.1f}  median {statistics.median(values):8.1f}"
                f"  max {max(values):8.1f}"
            )
        for model, mode in (("one_odfv", "python"), ("one_pandas_odfv", "pandas")):
            ratio = statistics.median(table[model]) / statistics.median(table["plain"])
            low = min(table[model]) / min(table["plain"])
            print(
                f"    ratio (one {mode}-mode view / none): {ratio:.2f}x of medians, {low:.2f}x of minimums"
                " (target <= 1.3x)"
            )


if __name__ == "__main__":
    main()
