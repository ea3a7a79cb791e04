"""Benchmark: ``modelyard materialize`` into Redis against ``feast materialize`` and a raw pipelined HSET.

Set-up (once, in a work directory reused with ``--work``): a Feast repo with one feature view of
``--rows`` rows over ``--entities`` drivers (Int64 key; Float64, Float32, Int64, String and Bool
features; a created-timestamp column), the modelyard ASOF offline store and a Redis online store,
applied. Each side writes the same view over the same interval into its own Redis database,
emptied (untimed) before every run:

* ``modelyard``: ``modelyard materialize --start S --end E`` (the fast Redis writer);
* ``feast``: ``feast materialize S E`` on the same repo (Feast's own path, same offline store);
* ``hset-redispy``: ``bench/baselines/redis_hset.py``, which imports neither: it loads the exact
  hashes a materialization wrote (dumped once to a pickle) and writes them with redis-py's
  pipelined ``HSET`` (``--mode redispy``), and ``hset-resp`` the same bytes as raw RESP over a
  socket (the floor: Redis's own work and the wire).

``--mode cold``: each side a fresh process (spawn to exit, imports included), wall and CPU
seconds (user + system of the child: on a loaded machine wall time is mostly waiting for a
core). ``modelyard materialize`` on this repo (local file registry, ASOF offline store, Redis)
runs from the registry file without importing Feast; ``feast materialize`` pays its full import,
as its users do. ``--mode warm``: in this process after one untimed run of each (the Feast store
object and the hashes already loaded). Rounds are interleaved (order rotated each round); min /
median / max and ratios are printed and written to ``bench/results/materialize.json``. Before
timing, the modelyard and Feast databases are checked to hold the same bytes. ``--profile``
writes a cProfile summary of one cold modelyard run to ``bench/results/materialize_cold.txt``.

    python bench/bench_materialize.py [--rows 1000000] [--entities 200000] [--rounds 3] [--mode cold|warm|both] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import PY, RESULTS, compile_modelyard, profile_fresh, report, run_fresh

HOST, PORT = "127.0.0.1", 6379
DBS = {"modelyard": 11, "feast": 12, "hset-redispy": 13, "hset-resp": 14}
END = "2026-01-29T00:00:00+00:00"
START = "2026-01-20T00:00:00+00:00"
BASELINE = Path(__file__).resolve().parent / "baselines" / "redis_hset.py"
BIN = Path(sys.executable).parent


def build(work: Path, rows: int, entities: int, db: int) -> Path:
    """The repo in ``work/repo`` for Redis database ``db`` (data written once, applied)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = work / "repo"
    data = repo / "data"
    if not (data / "driver_stats.parquet").exists():
        data.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        end = np.datetime64(END[:19], "ns").astype(np.int64)
        ids = rng.permutation(np.repeat(np.arange(entities, dtype=np.int64), -(-rows // entities))[:rows])
        events = end - rng.integers(3600 * 10**9, 8 * 86_400 * 10**9, rows)
        table = pa.table(
            {
                "driver_id": ids,
                "conv_rate": rng.random(rows),
                "acc_rate": rng.random(rows).astype(np.float32),
                "trips": rng.integers(0, 10_000, rows),
                "city": pa.array(
                    np.array(["berlin", "paris", "são paulo", "oslo", "lima"])[rng.integers(0, 5, rows)]
                ),
                "active": rng.random(rows) < 0.8,
                "event_timestamp": pa.array(events, pa.timestamp("ns", tz="UTC")),
                "created": pa.array(events + rng.integers(0, 60 * 10**9, rows), pa.timestamp("ns", tz="UTC")),
            }
        )
        pq.write_table(table, data / "driver_stats.parquet")
    (repo / "features.py").write_text(
        textwrap.dedent(
            """
            from datetime import timedelta

            from feast import Entity, FeatureView, Field, FileSource, ValueType
            from feast.types import Bool, Float32, Float64, Int64, String

            driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
            driver_stats = FeatureView(
                name="driver_stats",
                entities=[driver],
                ttl=timedelta(days=30),
                schema=[
                    Field(name="driver_id", dtype=Int64),
                    Field(name="conv_rate", dtype=Float64),
                    Field(name="acc_rate", dtype=Float32),
                    Field(name="trips", dtype=Int64),
                    Field(name="city", dtype=String),
                    Field(name="active", dtype=Bool),
                ],
                source=FileSource(
                    name="driver_stats_source",
                    path="data/driver_stats.parquet",
                    timestamp_field="event_timestamp",
                    created_timestamp_column="created",
                ),
            )
            """
        )
    )
    set_db(repo, db)
    (repo / "modelyard.yaml").write_text("project: benchmat\nmodels: {}\n")
    if not (data / "registry.db").exists():
        from modelyard.yard import Yard

        Yard.load(repo).features.apply()
    return repo


def set_db(repo: Path, db: int) -> None:
    (repo / "feature_store.yaml").write_text(
        "project: benchmat\nprovider: local\nregistry: data/registry.db\n"
        f'online_store:\n  type: redis\n  connection_string: "{HOST}:{PORT},db={db}"\n'
        "offline_store:\n  type: modelyard.features.offline.asof.AsofDuckDBOfflineStore\n"
        "entity_key_serialization_version: 3\n"
    )


def flush(db: int) -> None:
    import redis

    client = redis.Redis(host=HOST, port=PORT, db=db)
    client.flushdb()
    client.close()


def dump(db: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
    import redis

    client = redis.Redis(host=HOST, port=PORT, db=db)
    keys = sorted(client.scan_iter(count=10_000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    hashes = list(zip(keys, pipe.execute(), strict=True))
    client.close()
    return hashes


def cold_commands(repo: Path, hashes: Path) -> dict[str, tuple[list[str], int]]:
    return {
        "modelyard": (
            [
                str(BIN / "modelyard"),
                "--repo",
                str(repo),
                "materialize",
                "--start",
                START,
                "--end",
                END,
                "--no-progress",
            ],
            DBS["modelyard"],
        ),
        "feast": ([str(BIN / "feast"), "-c", str(repo), "materialize", START, END], DBS["feast"]),
        "hset-redispy": (
            [PY, str(BASELINE), "--dump", str(hashes), "--db", str(DBS["hset-redispy"]), "--mode", "redispy"],
            DBS["hset-redispy"],
        ),
        "hset-resp": (
            [PY, str(BASELINE), "--dump", str(hashes), "--db", str(DBS["hset-resp"]), "--mode", "resp"],
            DBS["hset-resp"],
        ),
    }


def child_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_cold(repo: Path, hashes: Path, rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds of each side, fresh processes, interleaved."""
    cases = cold_commands(repo, hashes)
    compile_modelyard()  # as an installed modelyard has its bytecode
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            cmd, db = cases[name]
            flush(db)
            set_db(repo, db)  # the Feast sides write where feature_store.yaml says
            used = child_cpu()
            times[name].append(run_fresh(cmd))
            cpu[name].append(child_cpu() - used)
            print(
                f"  round {r + 1} {name}: {times[name][-1]:.2f} s wall, {cpu[name][-1]:.2f} s CPU "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    return times, cpu


def run_warm(repo: Path, hashes_path: Path, rounds: int) -> dict[str, list[float]]:
    from datetime import datetime

    from modelyard.yard import Yard

    sys.path.insert(0, str(BASELINE.parent))
    import redis_hset

    hashes = redis_hset.load(str(hashes_path))
    start, end = datetime.fromisoformat(START), datetime.fromisoformat(END)
    yards = {}
    for name in ("modelyard", "feast"):
        set_db(repo, DBS[name])
        yards[name] = Yard.load(repo)
        yards[name].feature_store  # noqa: B018 - load the Feast store (and import Feast) before timing
    cases: dict[str, Any] = {
        "modelyard": lambda: yards["modelyard"].features.materialize(end, start=start, progress=False),
        "feast": lambda: yards["feast"].feature_store.materialize(start, end, feature_views=["driver_stats"]),
        "hset-redispy": lambda: redis_hset.write_redispy(hashes, HOST, PORT, DBS["hset-redispy"], 5000),
        "hset-resp": lambda: redis_hset.write_resp(hashes, HOST, PORT, DBS["hset-resp"], 5000),
    }
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds + 1):  # the first round is untimed (warm-up)
        k = r % len(names)
        for name in names[k:] + names[:k]:
            flush(DBS[name])
            began = time.perf_counter()
            cases[name]()
            if r:
                times[name].append(time.perf_counter() - began)
                print(f"  warm round {r} {name}: {times[name][-1]:.2f} s", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=["cold", "warm", "both"], default="both")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="cProfile one cold modelyard run")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_materialize_"))
    repo = build(work, args.rows, args.entities, DBS["modelyard"])
    print(f"repo: {repo} ({args.rows} rows, {args.entities} entities); load average {os.getloadavg()}")

    # the same bytes on both sides, and the hashes the baselines write
    from datetime import datetime

    from modelyard.yard import Yard

    for name in ("modelyard", "feast"):
        flush(DBS[name])
        set_db(repo, DBS[name])
    set_db(repo, DBS["modelyard"])
    Yard.load(repo).features.materialize(
        datetime.fromisoformat(END), start=datetime.fromisoformat(START), progress=False
    )
    set_db(repo, DBS["feast"])
    Yard.load(repo).feature_store.materialize(
        datetime.fromisoformat(START), datetime.fromisoformat(END), feature_views=["driver_stats"]
    )
    ours, feasts = dump(DBS["modelyard"]), dump(DBS["feast"])
    assert len(ours) == args.entities and ours == feasts, "modelyard and Feast wrote different bytes"
    print(f"modelyard and feast materialize wrote the same {len(ours)} hashes, byte for byte")
    hashes = work / "hashes.pkl"
    with hashes.open("wb") as f:
        pickle.dump(ours, f)

    results: dict[str, Any] = {"rows": args.rows, "entities": args.entities, "load_before": os.getloadavg()}
    if args.mode in ("cold", "both"):
        times, cpu = run_cold(repo, hashes, args.rounds)
        results["cold"] = report("cold (fresh process each, spawn to exit)", times, "hset-redispy")
        results["cold_vs_feast"] = report("cold, against feast materialize", times, "feast")
        results["cold_cpu"] = report("cold, CPU seconds of each process", cpu, "hset-redispy")
        results["cold_cpu_vs_feast"] = report("cold CPU seconds, against feast materialize", cpu, "feast")
        results["load_after_cold"] = os.getloadavg()
    if args.profile:
        cmd, db = cold_commands(repo, hashes)["modelyard"]
        flush(db)
        set_db(repo, db)
        profile_fresh([PY, *cmd], "materialize_cold")
    if args.mode in ("warm", "both"):
        times = run_warm(repo, hashes, args.rounds)
        results["warm"] = report("warm (in process)", times, "hset-redispy")
        results["warm_vs_feast"] = report("warm, against feast materialize", times, "feast")
    results["load_after"] = os.getloadavg()
    print(f"load average after: {results['load_after']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "materialize.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
