"""Routing cost on the request path: ``RoutingTable.decide`` against the cheapest possible choice.

In the same run, per decision (median of ``REPEAT`` timed loops of ``N`` decisions):

* baseline - ``random.random()`` placed on two cumulative weights: a non-sticky split, the floor;
* hash     - ``routing.hashing.bucket`` + ``pick``: sticky assignment alone;
* ab       - ``RoutingTable.decide`` for an ``ab`` deployment (cache hit: what every request pays);
* canary   - the same for a ``canary`` deployment.

The deployment lives in a real SQLite registry; the table refreshes never during the
loop (``refresh_interval`` 1 h), as between two polls of a worker.
Target: a decision costs under 20 microseconds, i.e. invisible next to a Feast read (~1 ms).
Run: ``.venv/bin/python bench/bench_routing.py``.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

N = 20_000
REPEAT = 5
TARGET_US = 20.0


def _per_call_us(func: Callable[[int], object]) -> float:
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        for i in range(N):
            func(i)
        samples.append((time.perf_counter() - start) / N * 1e6)
    return statistics.median(samples)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "routing"))
    from routing_helpers import add_versions, make_store

    from modelyard.rollout import changes
    from modelyard.routing.hashing import bucket, pick
    from modelyard.routing.router import Variant
    from modelyard.routing.runtime import RoutingTable

    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(f"sqlite:///{tmp}/registry.db")
        add_versions(store.backend, "rides", 2)
        store.backend.move_alias("rides", "production", action="promote", to_version=1, actor="b", reason="b")
        keys = [f"user-{i}" for i in range(N)]

        def baseline(i: int) -> int:
            return 0 if random.random() < 0.5 else 1

        def hashed(i: int) -> int:
            return pick([0.5, 0.5], bucket("salt", keys[i]))

        changes.deploy(
            store,
            "rides",
            router="ab",
            variants=[Variant("v1", 1, 0.5), Variant("v2", 2, 0.5)],
            actor="bench",
            reason="bench",
        )
        ab_table = RoutingTable(store=store, refresh_interval=3600)
        ab_table.decide("rides", "warm")
        ab_us = _per_call_us(lambda i: ab_table.decide("rides", keys[i]))

        changes.deploy(
            store, "rides", router="canary", variants=[Variant("v2", 2)], actor="bench", reason="bench"
        )
        canary_table = RoutingTable(store=store, refresh_interval=3600)
        canary_table.decide("rides", "warm")
        canary_us = _per_call_us(lambda i: canary_table.decide("rides", keys[i]))
        store.backend.close()

    base_us = _per_call_us(baseline)
    rows = {"baseline": base_us, "hash": _per_call_us(hashed), "ab": ab_us, "canary": canary_us}
    print(f"{'case':<10}{'us/decision':>14}{'x baseline':>12}")
    for name, us in rows.items():
        print(f"{name:<10}{us:>14.2f}{us / base_us:>12.1f}")
    ok = max(ab_us, canary_us) < TARGET_US
    print(f"target: decide() < {TARGET_US:g} us -> {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
