"""A prediction cache in Redis, shared by every serving worker (and every replica)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from typing import cast

from modelyard.predictions.cache import CachedPrediction, PredictionCache
from modelyard_plugins.caches.config import RedisCacheConfig

logger = logging.getLogger(__name__)

_SIZE_CHECK_SECONDS = 5.0


class RedisCache(PredictionCache):
    """Answers stored as small JSON values with a TTL; any Redis error is a miss, counted in ``errors``."""

    def __init__(self, config: RedisCacheConfig | None = None, **_: object) -> None:
        import redis

        self.config = config or RedisCacheConfig()
        url = os.path.expandvars(self.config.url)
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=self.config.timeout_seconds,
            socket_timeout=self.config.timeout_seconds,
        )
        self.errors = 0
        self._full = False
        self._size_checked = 0.0
        self._errors_logged = 0.0

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        now = time.monotonic()
        if now - self._errors_logged > 10:
            self._errors_logged = now
            logger.warning("prediction cache (redis) failed, answering as a miss: %s", exc)

    def get_many(self, keys: Sequence[str]) -> list[CachedPrediction | None]:
        import redis

        prefix = self.config.prefix
        try:
            raw = cast("list[bytes | None]", self.client.mget([prefix + k for k in keys]))
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return [None] * len(keys)
        out: list[CachedPrediction | None] = []
        for value in raw:
            if value is None:
                out.append(None)
                continue
            try:
                out.append(CachedPrediction.from_list(json.loads(value)))
            except (ValueError, TypeError, IndexError):
                out.append(None)
        return out

    def _room(self) -> bool:
        """Whether the prefix is under ``max_entries`` (checked at most every few seconds)."""
        now = time.monotonic()
        if now - self._size_checked > _SIZE_CHECK_SECONDS:
            self._size_checked = now
            # DBSIZE counts the whole database: a cheap, conservative bound on our share of it
            self._full = cast(int, self.client.dbsize()) >= self.config.max_entries
        return not self._full

    def put_many(self, items: Sequence[tuple[str, CachedPrediction]]) -> None:
        import redis

        try:
            if not self._room():
                return
            pipe = self.client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(self.config.prefix + key, json.dumps(value.to_list()), ex=self.config.ttl_seconds)
            pipe.execute()
        except (redis.RedisError, OSError, TypeError) as exc:
            self._failed(exc)

    def clear(self) -> None:
        import redis

        try:
            batch = []
            for key in self.client.scan_iter(match=self.config.prefix + "*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self.client.delete(*batch)
                    batch = []
            if batch:
                self.client.delete(*batch)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def close(self) -> None:
        self.client.close()
