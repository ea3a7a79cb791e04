"""Benchmark: point-in-time joins of a training frame, three engines on the same data.

* ``asof``        modelyard's Feast offline store (its pyarrow/numpy as-of join), through ``FeatureStore.get_historical_features``
* ``file``        Feast's default file (Dask) offline store, same call (run on a smaller entity frame by
                  default: at 100k rows it needs about a minute and 8 GB)
* ``facade``      ``yard.features.training_frame``: the same join without Feast (registry file read directly), plus de-duplication and dtype conforming
* ``merge_asof``  pandas ``merge_asof`` on the same Parquet, as the baseline

Each engine runs in its own subprocess; we report the join's wall time (imports excluded) and the
process's peak RSS (``ru_maxrss``, imports included). Ratios are against ``merge_asof`` at the same size,
measured in the same run (median of ``--repeat`` joins). Default data: 100k entity rows x 5 features over a 500k-row source.

``--mode cold`` times instead what a user waits for: each engine in a fresh process, spawn to exit
(imports, registry read, one join), ``--rounds`` interleaved rounds, min / median / max and ratios
to ``merge_asof``. ``--profile`` writes a cProfile (and py-spy, if installed) summary of a fresh
``facade`` process to ``bench/results/pit_join_facade_cold.txt``.

    python bench/bench_pit_join.py [--rows 100000] [--source-rows 500000] [--file-rows 10000]
                                   [--mode warm|cold|both] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import PY, interleaved, profile_fresh, report, run_fresh

FEATURES = ["f_float_a", "f_float_b", "f_int_a", "f_int_b", "f_cat"]
ENTITIES = 20_000
DAYS = 30
TTL_DAYS = 7

FEATURE_REPO = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
source = FileSource(name="stats_source", path="data/stats.parquet", timestamp_field="event_timestamp")
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=%(ttl)d), source=source,
    schema=[Field(name="driver_id", dtype=Int64), Field(name="f_float_a", dtype=Float64),
            Field(name="f_float_b", dtype=Float64), Field(name="f_int_a", dtype=Int64),
            Field(name="f_int_b", dtype=Int64), Field(name="f_cat", dtype=String)],
)
bench_service = FeatureService(name="bench_service", features=[stats])
"""

STORE_YAML = """project: pitbench
provider: local
registry: data/registry.db
online_store: {type: sqlite, path: data/online.db}
offline_store: {type: %(offline)s}
entity_key_serialization_version: 3
"""

YARD_YAML = """project: pitbench
models:
  bench:
    feature_service: bench_service
    entity_keys: [driver_id]
    task: regression
    label: y
"""

OFFLINE_TYPES = {"asof": "modelyard.features.offline.asof.AsofDuckDBOfflineStore", "file": "file"}


def make_data(repo: Path, source_rows: int, rows: int, seed: int = 0) -> None:
    """A Feast repo with one view of ``source_rows`` rows and entity frames of ``rows`` rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    (repo / "data").mkdir(parents=True, exist_ok=True)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    seconds = rng.integers(0, DAYS * 86_400, source_rows)
    pd.DataFrame(
        {
            "driver_id": rng.integers(0, ENTITIES, source_rows).astype("int64"),
            "event_timestamp": start + pd.to_timedelta(seconds, unit="s"),
            "f_float_a": rng.normal(size=source_rows),
            "f_float_b": rng.random(source_rows),
            "f_int_a": rng.integers(0, 100, source_rows).astype("int64"),
            "f_int_b": rng.integers(0, 10_000, source_rows).astype("int64"),
            "f_cat": np.asarray(["a", "b", "c", "d"], dtype=object)[rng.integers(0, 4, source_rows)],
        }
    ).to_parquet(repo / "data" / "stats.parquet", index=False)
    entity_seconds = rng.integers(2 * 86_400, DAYS * 86_400, rows)
    pd.DataFrame(
        {
            "driver_id": rng.integers(0, ENTITIES + 500, rows).astype("int64"),  # some unknown drivers
            "event_timestamp": start + pd.to_timedelta(entity_seconds, unit="s"),
        }
    ).to_parquet(repo / "data" / "entities.parquet", index=False)
    (repo / "features.py").write_text(FEATURE_REPO % {"ttl": TTL_DAYS})
    for engine, offline in OFFLINE_TYPES.items():
        (repo / f"feature_store.{engine}.yaml").write_text(STORE_YAML % {"offline": offline})
    (repo / "feature_store.yaml").write_text(STORE_YAML % {"offline": OFFLINE_TYPES["asof"]})
    (repo / "modelyard.yaml").write_text(YARD_YAML)
    subprocess.run(
        [str(Path(sys.executable).parent / "feast"), "apply"], cwd=repo, check=True, capture_output=True
    )


def _join(engine: str, repo: Path, entities: Any) -> Callable[[], Any]:
    """A no-argument function doing one point-in-time join with ``engine`` (set-up done outside it)."""
    import pandas as pd

    if engine == "merge_asof":

        def join() -> Any:
            source = pd.read_parquet(repo / "data" / "stats.parquet")
            left = entities.reset_index(names="_row").sort_values("event_timestamp")
            right = source.rename(columns={"event_timestamp": "_fts"}).sort_values("_fts")
            out = pd.merge_asof(left, right, left_on="event_timestamp", right_on="_fts", by="driver_id")
            stale = out["_fts"] < out["event_timestamp"] - pd.Timedelta(days=TTL_DAYS)
            out.loc[stale, FEATURES] = None
            return out.sort_values("_row").drop(columns=["_row", "_fts"])

        return join
    if engine == "facade":
        from modelyard.yard import Yard

        features = Yard.load(repo).features
        features.schema("bench")  # registry read, outside the timing
        return lambda: features.training_frame("bench", entities)
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo), fs_yaml_file=repo / f"feature_store.{engine}.yaml")
    service = store.get_feature_service("bench_service")
    return lambda: store.get_historical_features(entity_df=entities, features=service).to_df()


def run_engine(engine: str, repo: Path, rows: int, repeat: int) -> dict[str, float]:
    """Inside the subprocess: ``repeat`` joins, timed. Returns the median seconds, output rows, peak RSS in MB."""
    import pandas as pd

    entities = pd.read_parquet(repo / "data" / "entities.parquet").head(rows)
    join = _join(engine, repo, entities)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = join()
        times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times),
        "rows": len(out),
        "input_rows": len(entities),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def engine_cmd(engine: str, repo: Path, rows: int, repeat: int) -> list[str]:
    """The command running ``repeat`` joins with ``engine`` in a fresh process."""
    return [
        PY,
        __file__,
        "--engine",
        engine,
        "--repo",
        str(repo),
        "--rows",
        str(rows),
        "--repeat",
        str(repeat),
    ]


def measure(engine: str, repo: Path, rows: int, repeat: int) -> dict[str, float]:
    proc = subprocess.run(engine_cmd(engine, repo, rows, repeat), check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cold(repo: Path, rows: int, rounds: int) -> dict[str, object]:
    """Each engine in a fresh process (imports, registry, one join), interleaved rounds."""
    cases = {
        f"{engine}, fresh process": (lambda engine=engine: run_fresh(engine_cmd(engine, repo, rows, 1)))
        for engine in ("merge_asof", "asof", "facade")
    }
    return report(
        f"cold: {rows:,} entity rows, {rounds} interleaved rounds, seconds (spawn to exit)",
        interleaved(cases, rounds),
        "merge_asof, fresh process",
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="entity rows (default 100k)")
    parser.add_argument("--source-rows", type=int, default=500_000, help="feature source rows (default 500k)")
    parser.add_argument(
        "--file-rows", type=int, default=10_000, help="entity rows for Feast's file store (0: skip)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="joins per engine; the median is shown (file: 1)"
    )
    parser.add_argument("--mode", choices=["warm", "cold", "both"], default="warm")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the cold mode")
    parser.add_argument("--profile", action="store_true", help="profile a fresh facade process")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--repo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(run_engine(args.engine, Path(args.repo), args.rows, args.repeat)))
        return 0

    with tempfile.TemporaryDirectory(prefix="pitbench-") as tmp:
        repo = Path(tmp)
        make_data(repo, args.source_rows, args.rows)
        if args.mode in ("cold", "both"):
            print(f"load average {os.getloadavg()}")
            cold(repo, args.rows, args.rounds)
        if args.profile:
            profile_fresh(engine_cmd("facade", repo, args.rows, 1), "pit_join_facade_cold")
        if args.mode == "cold":
            return 0
        runs: list[tuple[str, int, dict[str, float]]] = []
        for engine in ("merge_asof", "asof", "facade"):
            runs.append((engine, args.rows, measure(engine, repo, args.rows, args.repeat)))
        if args.file_rows:
            others = ("file",) if args.file_rows == args.rows else ("merge_asof", "asof", "file")
            for engine in others:
                repeat = 1 if engine == "file" else args.repeat
                runs.append((engine, args.file_rows, measure(engine, repo, args.file_rows, repeat)))

    baseline = {rows: r for engine, rows, r in runs if engine == "merge_asof"}
    print(
        f"point-in-time join, {len(FEATURES)} features over a {args.source_rows:,}-row source "
        "(time excludes imports; peak RSS includes them)"
    )
    print(
        f"{'engine':<12}{'entity rows':>12}{'out rows':>10}{'seconds':>10}{'x merge_asof':>14}{'peak MB':>10}"
    )
    for engine, rows, r in runs:
        ratio = r["seconds"] / baseline[rows]["seconds"]
        print(
            f"{engine:<12}{rows:>12,}{r['rows']:>10,}{r['seconds']:>10.2f}{ratio:>14.1f}{r['peak_mb']:>10.0f}"
        )
        if r["rows"] != r["input_rows"]:
            print(f"  ^ {engine} returned {r['rows']:,} rows for {r['input_rows']:,} entity rows")
    for name in ("asof", "facade"):
        ours = next(r for e, n, r in runs if e == name and n == args.rows)
        goal = ours["seconds"] < 3 and ours["peak_mb"] < 1024
        print(f"goal ({name}, {args.rows:,} rows: < 3 s and < 1 GB): {'met' if goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
