"""The bounded shadow pool: a slow shadow cannot hold the fast ones back, drops are counted, shutdown is bounded."""

from __future__ import annotations

import threading
import time

from modelyard.serving.shadows import ShadowPool


class Recorder:
    def __init__(self) -> None:
        self.drops: list[tuple[str, str, int, str]] = []
        self.lock = threading.Lock()

    def __call__(self, model: str, variant: str, rows: int, reason: str) -> None:
        with self.lock:
            self.drops.append((model, variant, rows, reason))


def test_a_slow_shadow_is_bounded_and_the_fast_ones_keep_up() -> None:
    drops = Recorder()
    pool = ShadowPool(workers=2, max_queue=3, drain_seconds=5, on_drop=drops)
    done = {"slow": 0, "fast1": 0, "fast2": 0}
    lock = threading.Lock()

    def job(name: str, delay: float):
        def run() -> None:
            time.sleep(delay)
            with lock:
                done[name] += 1

        return run

    for _ in range(30):  # a request every 5 ms, each mirrored to three shadows
        pool.submit("m", "slow", 2, job("slow", 0.1))
        pool.submit("m", "fast1", 2, job("fast1", 0.0))
        pool.submit("m", "fast2", 2, job("fast2", 0.0))
        time.sleep(0.005)
    time.sleep(0.05)
    assert done["fast1"] == 30 and done["fast2"] == 30  # not delayed behind the slow one
    stats = pool.stats()
    slow = stats["m/slow"]
    assert slow["dropped"] > 0 and stats["m/fast1"]["dropped"] == 0
    assert {d[3] for d in drops.drops} == {"shadow queue full"} and all(d[1] == "slow" for d in drops.drops)
    assert sum(d[2] for d in drops.drops) == 2 * slow["dropped"]  # rows, not jobs
    pool.close()
    final = pool.stats()["m/slow"]
    assert final["submitted"] == final["done"] + final["dropped"]  # every job ran or was counted


def test_shutdown_drains_for_a_bounded_time_and_counts_the_rest() -> None:
    drops = Recorder()
    pool = ShadowPool(workers=1, max_queue=50, drain_seconds=0.3, on_drop=drops)
    for _ in range(20):
        pool.submit("m", "slow", 1, lambda: time.sleep(0.1))
    start = time.monotonic()
    dropped = pool.close()
    took = time.monotonic() - start
    assert took < 0.3 + 0.25  # the drain limit plus at most the job that was running
    assert 10 <= dropped <= 19
    (drop,) = [d for d in drops.drops if d[3] == "shadow backlog at shutdown"]
    assert drop == ("m", "slow", dropped, "shadow backlog at shutdown")
    assert not pool.submit("m", "slow", 1, lambda: None)  # closed: dropped and counted too
    assert drops.drops[-1][3] == "shadow pool closed"
