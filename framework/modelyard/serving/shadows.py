"""Shadow predictions off the response path, bounded: a small pool, a bounded queue per shadow.

A shadow variant scores the requests its live variant answered, after the answer has gone.
:class:`ShadowPool` keeps that work from growing without bound or from one slow shadow
holding the others back:

- every shadow (model, variant) has its own queue of at most ``max_queue`` jobs (one job is
  the shadow's rows of one request); a job arriving at a full queue is **dropped and counted**
  (``modelyard_shadow_dropped_total``, and a drop marker in the prediction log, so the shadow
  report's coverage says so) instead of delaying everything behind it;
- ``workers`` threads serve the queues round-robin, one job at a time per shadow: a shadow
  never runs two jobs at once, so a 400 ms shadow occupies at most one worker while the fast
  ones keep theirs;
- at shutdown, :meth:`ShadowPool.close` stops taking jobs, lets the queued ones run for up to
  ``drain_seconds``, drops (and counts) whatever is still queued, and waits for the jobs
  running at that moment (one model call each): shutdown is bounded by the drain time plus
  one shadow call, and the lost backlog is on the record rather than silently gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

#: ``on_drop(model, variant, rows, reason)``
DropHook = Callable[[str, str, int, str], None]


@dataclass
class _Lane:
    jobs: deque[tuple[int, Callable[[], None]]] = field(default_factory=deque)
    running: bool = False
    submitted: int = 0
    done: int = 0
    dropped: int = 0


class ShadowPool:
    """Runs shadow jobs on ``workers`` threads with a bounded queue per shadow (see the module docstring)."""

    def __init__(
        self,
        *,
        workers: int = 2,
        max_queue: int = 100,
        drain_seconds: float = 10.0,
        on_drop: DropHook | None = None,
    ) -> None:
        self.max_queue = max_queue
        self.drain_seconds = drain_seconds
        self._on_drop = on_drop
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelyard-shadow")
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closed = False
        self._executor_shutdown = False

    def submit(self, model: str, variant: str, rows: int, job: Callable[[], None]) -> bool:
        """Queue ``job`` (scoring ``rows`` rows for shadow ``variant``); False when it was dropped."""
        key = (model, variant)
        with self._lock:
            lane = self._lanes.setdefault(key, _Lane())
            lane.submitted += 1
            if self._closed or len(lane.jobs) >= self.max_queue:
                lane.dropped += 1
                reason = "shadow pool closed" if self._closed else "shadow queue full"
            else:
                lane.jobs.append((rows, job))
                if not lane.running:
                    lane.running = True
                    self._executor.submit(self._step, key)
                return True
        self._dropped(model, variant, rows, reason)
        return False

    def _step(self, key: tuple[str, str]) -> None:
        """Run one job of ``key``'s lane, then go to the back of the line if it has more."""
        with self._lock:
            lane = self._lanes[key]
            if not lane.jobs:
                lane.running = False
                self._idle.notify_all()
                return
            _, job = lane.jobs.popleft()
        try:
            job()
        except Exception:  # a shadow never takes the pool down
            logger.exception("shadow %s of %s failed outside the model call", key[1], key[0])
        with self._lock:
            lane.done += 1
            if lane.jobs and not self._executor_shutdown:
                self._executor.submit(self._step, key)
            else:
                lane.running = False
                self._idle.notify_all()

    def _dropped(self, model: str, variant: str, rows: int, reason: str) -> None:
        if self._on_drop is not None:
            try:
                self._on_drop(model, variant, rows, reason)
            except Exception:  # counting must not break the request path
                logger.exception("recording a dropped shadow job failed")

    def stats(self) -> dict[str, dict[str, int]]:
        """Per ``model/variant``: jobs submitted, done, dropped, queued now."""
        with self._lock:
            return {
                f"{m}/{v}": {
                    "submitted": lane.submitted,
                    "done": lane.done,
                    "dropped": lane.dropped,
                    "queued": len(lane.jobs),
                }
                for (m, v), lane in self._lanes.items()
            }

    def close(self, timeout: float | None = None) -> int:
        """Stop taking jobs, run the backlog for up to ``drain_seconds``, drop the rest; returns jobs dropped."""
        deadline = time.monotonic() + (self.drain_seconds if timeout is None else timeout)
        with self._lock:
            self._closed = True
            while any(lane.jobs or lane.running for lane in self._lanes.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            left_over = [(key, list(lane.jobs)) for key, lane in self._lanes.items() if lane.jobs]
            for key, jobs in left_over:
                self._lanes[key].jobs.clear()
                self._lanes[key].dropped += len(jobs)
            self._executor_shutdown = True
        dropped = 0
        for (model, variant), jobs in left_over:
            dropped += len(jobs)
            self._dropped(model, variant, sum(rows for rows, _ in jobs), "shadow backlog at shutdown")
        if dropped:
            logger.warning(
                "shadow backlog at shutdown: dropped %d jobs after %ss", dropped, self.drain_seconds
            )
        # the jobs running now finish (one model call each) so their rows reach the log before it closes
        self._executor.shutdown(wait=True, cancel_futures=True)
        return dropped
