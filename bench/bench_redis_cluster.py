"""Online reads from a Redis Cluster: modelyard's fast path vs the single-node fast path vs Feast.

Starts a real three-node Redis Cluster on local ports (``tests/serving/srv_redis_cluster.py``;
``MODELYARD_TEST_REDIS_CLUSTER_PORTS`` picks them), materializes the serving test repo into it
and, under another project, into the local single Redis, then times at 1, 10 and 100 entities
of the ``ride_features`` service (3 views), interleaved batch by batch:

* cluster  - ``RedisClusterOnlineReader.read``: HMGETs grouped by node, one pipeline per node;
* single   - ``RedisOnlineReader.read`` on one Redis (the single-node figure);
* redis-py - the same HMGETs through redis-py's ``RedisCluster`` pipeline, replies not
  decoded (what the usual client costs for the bare commands);
* feast    - ``FeatureStore.get_online_features(...).to_dict()`` on the cluster (what the
  fast reader used to hand cluster mode to).

Every side's values are checked equal to Feast's before timing. Per size it prints the
min / median / max milliseconds per read over the rounds and the ratios of medians.

    .venv/bin/python bench/bench_redis_cluster.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "serving"))

import srv_feast_repo  # noqa: E402
from srv_redis_cluster import LocalCluster, tools_missing  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE = "ride_features"


def _per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    why = tools_missing()
    if why:
        print(f"skipped: {why}")
        return 0
    import redis.cluster
    from feast import FeatureStore

    from modelyard.features.online.reader import RedisClusterOnlineReader, RedisOnlineReader, online_reader

    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp) / "nodes") as cluster:
        crepo, _ = srv_feast_repo.build(
            Path(tmp) / "c", REDIS_URL, n_drivers=120, cluster=cluster.connection_string
        )
        srepo, _ = srv_feast_repo.build(Path(tmp) / "s", REDIS_URL, n_drivers=120)
        try:
            cstore, sstore = FeatureStore(repo_path=str(crepo)), FeatureStore(repo_path=str(srepo))
            creader, sreader = online_reader(cstore, SERVICE), online_reader(sstore, SERVICE)
            assert isinstance(creader, RedisClusterOnlineReader) and isinstance(sreader, RedisOnlineReader)
            client = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
            service = cstore.get_feature_service(SERVICE)
            print(
                f"\nonline read, {SERVICE} (3 views), ms per read: min / median / max over {args.rounds} rounds"
            )
            for n in (1, 10, 100):
                entities = {
                    "driver_id": [1001 + i for i in range(n)],
                    "customer_id": [2001 + (i % 10) for i in range(n)],
                }
                feast_dict = cstore.get_online_features(features=service, entity_rows=entities).to_dict()
                assert _close(creader.read(entities), feast_dict), "cluster values differ from Feast's"
                hmgets = [
                    (key, plan.fields) for plan in creader.plans for key in creader.keys(plan, entities, n)
                ]

                def redis_py(hmgets=hmgets):
                    pipe = client.pipeline(transaction=False)
                    for key, fields in hmgets:
                        pipe.hmget(key, fields)
                    return pipe.execute()

                sides = {
                    "cluster (modelyard)": lambda e=entities: creader.read(e),
                    "single node (modelyard)": lambda e=entities: sreader.read(e),
                    "cluster, redis-py pipeline": redis_py,
                    "cluster, feast": lambda e=entities: cstore.get_online_features(
                        features=service, entity_rows=e
                    ).to_dict(),
                }
                calls = {name: (200 if n < 100 else 40) // (10 if "feast" in name else 1) for name in sides}
                for name, fn in sides.items():
                    _per_call(fn, max(1, calls[name] // 4))  # warm up
                times: dict[str, list[float]] = {name: [] for name in sides}
                names = list(sides)
                for r in range(args.rounds):
                    for name in names[r % len(names) :] + names[: r % len(names)]:
                        times[name].append(_per_call(sides[name], calls[name]) * 1e3)
                base = statistics.median(times["cluster (modelyard)"])
                print(f"  {n} entities")
                for name, values in times.items():
                    med = statistics.median(values)
                    print(
                        f"    {name:<28} {min(values):8.3f} {med:8.3f} {max(values):8.3f}   "
                        f"x cluster (modelyard): {med / base:6.2f}"
                    )
            creader.close()
            sreader.close()
            client.close()
        finally:
            srv_feast_repo.teardown(srepo)
    return 0


def _close(mine: dict, feast: dict) -> bool:
    """Equal to Feast's values, NaN equal to NaN."""
    import math

    for column, values in mine.items():
        for a, b in zip(values, feast[column], strict=True):
            if not (
                a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
            ):
                return False
    return True


if __name__ == "__main__":
    sys.exit(main())
