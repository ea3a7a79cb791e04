"""The default prediction cache: an in-process LRU with a TTL (one per worker process)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from modelyard.predictions.cache import CachedPrediction, PredictionCache
from modelyard_plugins.caches.config import LruCacheConfig


class LruCache(PredictionCache):
    """Least-recently-used eviction past ``max_entries``; entries older than ``ttl_seconds`` miss."""

    def __init__(self, config: LruCacheConfig | None = None, **_: object) -> None:
        self.config = config or LruCacheConfig()
        self._data: OrderedDict[str, tuple[float, CachedPrediction]] = OrderedDict()
        self._lock = threading.Lock()
        self.errors = 0

    def __len__(self) -> int:
        return len(self._data)

    def get_many(self, keys: Sequence[str]) -> list[CachedPrediction | None]:
        ttl = self.config.ttl_seconds
        now = time.monotonic()
        out: list[CachedPrediction | None] = []
        with self._lock:
            for key in keys:
                entry = self._data.get(key)
                if entry is None:
                    out.append(None)
                elif ttl and now - entry[0] > ttl:
                    del self._data[key]
                    out.append(None)
                else:
                    self._data.move_to_end(key)
                    out.append(entry[1])
        return out

    def put_many(self, items: Sequence[tuple[str, CachedPrediction]]) -> None:
        now = time.monotonic()
        limit = self.config.max_entries
        with self._lock:
            for key, value in items:
                self._data[key] = (now, value)
                self._data.move_to_end(key)
            while len(self._data) > limit:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
