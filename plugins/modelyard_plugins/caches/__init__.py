"""Prediction caches: in-process LRU (default) and Redis (shared by all workers)."""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import CacheSpec


@hookimpl
def modelyard_caches():
    yield CacheSpec(
        name="lru",
        summary="In-process LRU cache with size and TTL bounds.",
        factory="modelyard_plugins.caches.lru:LruCache",
        config="modelyard_plugins.caches.config:LruCacheConfig",
    )
    yield CacheSpec(
        name="redis",
        summary="Redis cache shared by every serving worker.",
        factory="modelyard_plugins.caches.redis:RedisCache",
        config="modelyard_plugins.caches.config:RedisCacheConfig",
    )
