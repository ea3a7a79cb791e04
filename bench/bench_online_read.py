"""Online feature read: modelyard's Redis fast path vs the raw Redis floor vs Feast.

Builds a fresh Feast repo (3 feature views, every scalar value type and a list type) in a
temp dir, materializes it into the local Redis under its own project name, then times, at
1, 10 and 100 entities, in the same run:

* floor  - the same HMGET commands, bytes prebuilt, one pipelined round trip on the same
  socket, replies parsed by hiredis, values not decoded: the strictest floor, nothing but
  the round trip and the reply parse;
* fast   - ``modelyard.features.online.reader.RedisOnlineReader.read`` (keys, pipeline, decode);
* redis-py - the same HMGET commands through redis-py's pipeline (keys prebuilt, replies
  not decoded): what "the raw Redis calls" cost with the usual client, for reference;
* feast  - ``FeatureStore.get_online_features(service, ...).to_dict()``.

Target: fast / floor <= 2.0 at each size (the median of per-batch ratios, floor and fast
alternating batch by batch). Run: ``.venv/bin/python bench/bench_online_read.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serving"))

import srv_feast_repo

REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE = "ride_features"


def _time(fn, repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls, in batches to dampen timer noise."""
    for _ in range(min(50, repeat)):
        fn()
    samples = []
    batch = 20
    for _ in range(max(1, repeat // batch)):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples)


def _paired(floor, fast, repeat: int) -> tuple[float, float, float]:
    """Median seconds of ``floor`` and ``fast``, and the median of their per-batch ratios.

    The two alternate batch by batch, so a burst of other load on the machine lands on both
    sides of a ratio instead of on one of two back-to-back runs.
    """
    for _ in range(min(50, repeat)):
        floor()
        fast()
    floors, fasts, ratios = [], [], []
    batch = 20
    for _ in range(max(1, repeat // batch)):
        start = time.perf_counter()
        for _ in range(batch):
            floor()
        mid = time.perf_counter()
        for _ in range(batch):
            fast()
        end = time.perf_counter()
        floors.append((mid - start) / batch)
        fasts.append((end - mid) / batch)
        ratios.append((end - mid) / (mid - start))
    return statistics.median(floors), statistics.median(fasts), statistics.median(ratios)


def main() -> None:
    import hiredis
    import redis
    from feast import FeatureStore

    from modelyard.features.online.reader import RedisOnlineReader, online_reader

    with tempfile.TemporaryDirectory() as tmp:
        repo, _ = srv_feast_repo.build(Path(tmp), REDIS_URL, n_drivers=120)
        try:
            store = FeatureStore(repo_path=str(repo))
            service = store.get_feature_service(SERVICE)
            reader = online_reader(store, SERVICE)
            assert isinstance(reader, RedisOnlineReader), "the fast path did not apply"
            wire = reader.wire
            client = redis.Redis(host=wire.host, port=wire.port, db=wire.db)
            print(
                f"{'entities':>8} {'floor ms':>9} {'fast ms':>9} {'redis-py ms':>11} {'feast ms':>9} "
                f"{'fast/floor':>10} {'redis-py/floor':>14} {'feast/floor':>11}"
            )
            for n in (1, 10, 100):
                drivers = [1001 + i for i in range(n)]
                customers = [2001 + (i % 10) for i in range(n)]
                entities = {"driver_id": drivers, "customer_id": customers}
                # the floor: the very bytes the reader sends, prebuilt; replies parsed, not decoded
                commands = [
                    hiredis.pack_command(("HMGET", key, *plan.fields))
                    for plan in reader.plans
                    for key in reader.keys(plan, entities, n)
                ]
                payload = b"".join(commands)
                count = len(commands)

                def floor(payload=payload, count=count):
                    return wire.execute(payload, count)

                def fast(entities=entities):
                    return reader.read(entities)

                hmgets = [
                    (key, plan.fields) for plan in reader.plans for key in reader.keys(plan, entities, n)
                ]

                def redis_py(hmgets=hmgets):
                    pipe = client.pipeline(transaction=False)
                    for key, fields in hmgets:
                        pipe.hmget(key, fields)
                    return pipe.execute()

                def feast(entities=entities):
                    return store.get_online_features(features=service, entity_rows=entities).to_dict()

                repeat = 2000 if n < 100 else 400
                t_floor, t_fast, ratio = _paired(floor, fast, repeat)
                t_redis_py = _time(redis_py, repeat // 2)
                t_feast = _time(feast, repeat // 4)
                print(
                    f"{n:>8} {t_floor * 1e3:>9.3f} {t_fast * 1e3:>9.3f} {t_redis_py * 1e3:>11.3f} "
                    f"{t_feast * 1e3:>9.3f} {ratio:>10.2f} {t_redis_py / t_floor:>14.2f} {t_feast / t_floor:>11.2f}"
                )
        finally:
            srv_feast_repo.teardown(repo)


if __name__ == "__main__":
    main()
