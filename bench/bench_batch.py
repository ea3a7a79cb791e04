"""Benchmark: ``modelyard score`` against batch scoring written by hand, cold and warm; Dask scaling.

Set-up (once, in a work directory reused with ``--work``): the rideshare example at ``--rows``
entity rows, ``trip_acceptance`` trained (scikit-learn pipeline on 5000 rows), registered with
the ``onnx`` flavor and promoted; the entity rows (label dropped) written to ``entities.parquet``
and the ONNX graph copied to ``model.onnx`` for the baseline.

The baseline, ``bench/baselines/batch_by_hand.py``, imports nothing from modelyard or Feast:
pandas reads the same Parquet files, ``pd.merge_asof`` joins each view (by key, ttl as tolerance,
created-timestamp tie-break), onnxruntime predicts, pandas writes the output.

* ``--mode cold`` (default with warm): each side a fresh process (``modelyard score ...`` as a
  user runs the CLI; ``python batch_by_hand.py ...``), spawn to exit. Target: <= 1.5x.
* ``--mode warm``: in this process, after one untimed run of each: ``modelyard.batch.engine.score``
  vs the baseline's functions. Target: <= 1.1x.
* ``--dask``: a real ``dask scheduler`` and 1 or 2 ``dask worker`` processes started from the
  command line for every run (start-up included), on ``--dask-rows`` rows. Target: 2 workers
  >= 1.6x faster than 1, output identical to the local engine.
* ``--profile``: a cProfile (and py-spy, if installed) summary of a cold ``modelyard score`` in
  ``bench/results/batch_score_cold.txt`` and of a warm one in ``batch_score_warm.txt``.

Rounds are interleaved (order rotated each round); min / median / max of each side and ratios
are printed and written to ``bench/results/batch.json``.

    python bench/bench_batch.py [--rows 300000] [--rounds 5] [--mode cold|warm|both] [--profile] [--dask]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (
    PY,
    RESULTS,
    compile_modelyard,
    cpu_seconds,
    interleaved,
    profile_fresh,
    profile_here,
    report,
    run_fresh,
    stop_processes,
)

NUMERIC = [
    "conv_rate",
    "acc_rate",
    "avg_daily_trips",
    "rating",
    "avg_rating_given",
    "trips_last_7d",
    "cancel_rate",
]
CATEGORICAL = ["vehicle_type", "customer_tier"]
END = "2026-01-29T00:00:00+00:00"
MODEL = "trip_acceptance"
BASELINE = Path(__file__).resolve().parent / "baselines" / "batch_by_hand.py"


def _pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    categorical = Pipeline(
        [
            ("fill", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    pre = ColumnTransformer(
        [("num", SimpleImputer(strategy="median"), NUMERIC), ("cat", categorical, CATEGORICAL)]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])


def set_up(work: Path, rows: int) -> tuple[Path, Path, Path]:
    """(repo, entities.parquet, model.onnx) in ``work``, made once per row count."""
    repo, inputs, onnx_file = work / "repo", work / "entities.parquet", work / "model.onnx"
    if (work / "ready").exists():
        return repo, inputs, onnx_file
    import pandas as pd

    from modelyard.examples.repo import prepare_example_repo
    from modelyard.yard import Yard

    started = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    prepare_example_repo(repo, trips=rows, drivers=500, customers=5000, days=28, end=END, apply=True)
    yard = Yard.load(repo)
    entities = pd.read_parquet(repo / "data" / "trip_acceptance_entities.parquet")
    train = entities.head(5000)
    frame = yard.features.training_frame(MODEL, train.drop(columns=["accepted"]))
    estimator = _pipeline().fit(frame[NUMERIC + CATEGORICAL], train["accepted"])
    version = yard.registry.register(MODEL, estimator, feature_names=NUMERIC + CATEGORICAL, flavor="onnx")
    yard.registry.promote(MODEL, version.version, reason="benchmark")
    entities.drop(columns=["accepted"]).to_parquet(inputs, index=False)
    local = yard.registry.artifacts.get(
        version.artifact_uri, version.artifact_sha256, work / "artifact", label=version.label
    )
    shutil.copy(next(Path(local).rglob("model.onnx")), onnx_file)
    (work / "ready").write_text(str(rows))
    print(f"set-up: {len(entities)} entity rows in {time.perf_counter() - started:.1f}s ({work})")
    return repo, inputs, onnx_file


def score_cmd(repo: Path, inputs: Path, out: Path, *extra: str) -> list[str]:
    return [
        PY,
        "-m",
        "modelyard.cli.main",
        "--repo",
        str(repo),
        "score",
        MODEL,
        "--entities",
        str(inputs),
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def by_hand_cmd(repo: Path, inputs: Path, onnx_file: Path, out: Path) -> list[str]:
    return [
        PY,
        str(BASELINE),
        "--repo",
        str(repo),
        "--entities",
        str(inputs),
        "--model",
        str(onnx_file),
        "--out",
        str(out),
    ]


def same_labels(ours: Path, theirs: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    a, b = pd.read_parquet(ours), pd.read_parquet(theirs)
    return {
        "rows": len(a),
        "labels_equal": bool(
            len(a) == len(b) and (a["prediction"].to_numpy() == b["prediction"].to_numpy()).all()
        ),
        "scores_max_abs_diff": float(np.max(np.abs(a["score"].to_numpy() - b["score"].to_numpy())))
        if len(a)
        else 0.0,
    }


def cold(repo: Path, inputs: Path, onnx_file: Path, work: Path, rounds: int) -> dict[str, Any]:
    compile_modelyard()
    ours, theirs = work / "cold_ours.parquet", work / "cold_by_hand.parquet"
    cases = {
        "by hand, fresh process": lambda: run_fresh(by_hand_cmd(repo, inputs, onnx_file, theirs)),
        "modelyard score, fresh process": lambda: run_fresh(score_cmd(repo, inputs, ours)),
        "python -c 'import feast' (reference)": lambda: run_fresh([PY, "-c", "import feast"]),
    }
    cpu: dict[str, list[float]] = {}
    times = interleaved(cases, rounds, cpu=cpu)
    rows = report(f"cold: {rounds} interleaved rounds, wall seconds", times, "by hand, fresh process")
    cpu_rows = report("cold: CPU seconds (user + system) of the same runs", cpu, "by hand, fresh process")
    return {"times": rows, "cpu": cpu_rows, "equal": same_labels(ours, theirs)}


def warm(repo: Path, inputs: Path, onnx_file: Path, work: Path, rounds: int) -> dict[str, Any]:
    sys.path.insert(0, str(BASELINE.parent))
    import batch_by_hand
    import onnxruntime as ort
    import pandas as pd

    from modelyard.batch.engine import score
    from modelyard.batch.sources import ParquetSource
    from modelyard.yard import Yard

    yard = Yard.load(repo)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    ours, theirs = work / "warm_ours.parquet", work / "warm_by_hand.parquet"

    def by_hand() -> None:
        entities = pd.read_parquet(inputs)
        joined = batch_by_hand.join(repo, entities)
        out = entities.copy()
        out["prediction"], out["score"] = batch_by_hand.predict(session, joined)
        out.to_parquet(theirs, index=False)

    def modelyard() -> None:
        score(yard, MODEL, ParquetSource(inputs), ours)

    by_hand()
    modelyard()
    cpu: dict[str, list[float]] = {}
    times = interleaved(
        {"by hand, in process": by_hand, "modelyard score(), in process": modelyard}, rounds, cpu=cpu
    )
    rows = report(f"warm: {rounds} interleaved rounds, wall seconds", times, "by hand, in process")
    cpu_rows = report(
        "warm: CPU seconds (user + system, all threads) of the same runs", cpu, "by hand, in process"
    )
    return {"times": rows, "cpu": cpu_rows, "equal": same_labels(ours, theirs), "_profile": modelyard}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dask_run(repo: Path, inputs: Path, out: Path, workers: int, chunk_rows: int, port: int = 0) -> float:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes from the command line, one run, stopped.

    Returns the wall seconds from spawning the scheduler to the ``score`` command's exit: the
    cluster's start-up is included, its shutdown afterwards (a nanny's graceful close can take
    seconds, more with more workers) is not part of the run.
    """
    bin_dir = Path(PY).parent
    port = port or _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                str(bin_dir / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    try:
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "dask"),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--no-dashboard",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
        run_fresh(
            score_cmd(
                repo,
                inputs,
                out,
                "--engine",
                "dask",
                "--scheduler",
                address,
                "--workers",
                str(workers),
                "--chunk-rows",
                str(chunk_rows),
            )
        )
        return time.perf_counter() - started
    finally:
        stop_processes(procs, timeout=20)


def dask_bench(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    work = Path(args.work or tempfile.gettempdir()) / f"modelyard-bench-batch-{args.dask_rows}"
    repo, inputs, _ = set_up(work, args.dask_rows)
    local_out = work / "dask_local.parquet"
    run_fresh(score_cmd(repo, inputs, local_out))
    outs = {w: work / f"dask_{w}.parquet" for w in (1, 2)}
    names = {w: f"dask, {w} worker(s), start-up included" for w in (1, 2)}
    times: dict[str, list[float]] = {name: [] for name in names.values()}
    cpu: dict[str, list[float]] = {name: [] for name in names.values()}
    order = [1, 2]
    for r in range(args.rounds):  # interleaved, order rotated each round
        for w in order[r % 2 :] + order[: r % 2]:
            used = cpu_seconds()
            times[names[w]].append(dask_run(repo, inputs, outs[w], w, args.dask_chunk_rows, args.dask_port))
            cpu[names[w]].append(cpu_seconds() - used)
    print(f"load average {os.getloadavg()}")
    rows = report(
        f"dask: {args.dask_rows} rows, {args.rounds} rounds, wall seconds",
        times,
        "dask, 1 worker(s), start-up included",
    )
    report(
        "dask: CPU seconds of the same runs (client, scheduler and workers)",
        cpu,
        "dask, 1 worker(s), start-up included",
    )
    local = pd.read_parquet(local_out)
    same = {w: bool(pd.read_parquet(p).equals(local)) for w, p in outs.items()}
    print(f"  outputs equal the local engine's: {same}")
    return {"times": rows, "equal_local": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=["cold", "warm", "both", "none"], default="both")
    parser.add_argument("--work", help="directory for the generated yards (reused between runs)")
    parser.add_argument("--profile", action="store_true", help="write cProfile/py-spy summaries of our side")
    parser.add_argument("--dask", action="store_true", help="also run the Dask scaling benchmark")
    parser.add_argument("--dask-rows", type=int, default=3_000_000)
    parser.add_argument("--dask-chunk-rows", type=int, default=250_000)
    parser.add_argument("--dask-port", type=int, default=0, help="the scheduler's port (default: a free one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    work = Path(args.work or tempfile.gettempdir()) / f"modelyard-bench-batch-{args.rows}"
    repo, inputs, onnx_file = set_up(work, args.rows)
    results: dict[str, Any] = {"rows": args.rows, "cpus": os.cpu_count(), "load_avg": os.getloadavg()}
    print(f"load average at the start {os.getloadavg()}")
    if args.mode in ("cold", "both"):
        results["cold"] = cold(repo, inputs, onnx_file, work, args.rounds)
        print(f"  outputs: {results['cold']['equal']}")
    if args.mode in ("warm", "both"):
        results["warm"] = warm(repo, inputs, onnx_file, work, args.rounds)
        print(f"  outputs: {results['warm']['equal']}")
    if args.profile:
        profile_fresh(score_cmd(repo, inputs, work / "profile.parquet"), "batch_score_cold")
        if "warm" in results:
            profile_here(results["warm"]["_profile"], "batch_score_warm")
    results.get("warm", {}).pop("_profile", None)
    if args.dask:
        results["dask"] = dask_bench(args)
    results["load_avg_end"] = os.getloadavg()
    print(f"load average at the end {results['load_avg_end']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written {RESULTS / 'batch.json'}")


if __name__ == "__main__":
    main()
