"""Prediction caches: the key, the in-process LRU and the shared Redis cache (real Redis)."""

from __future__ import annotations

import time
import uuid

import pytest

from modelyard.predictions.cache import CachedPrediction, cache_key


def test_key_is_model_version_and_exact_vector() -> None:
    base = cache_key("m", 1, [0.5, 3, "gold", None])
    assert base == cache_key("m", 1, [0.5, 3.0, "gold", float("nan")])  # same values the model sees
    assert base != cache_key("m", 2, [0.5, 3, "gold", None])  # a new version misses
    assert base != cache_key("other", 1, [0.5, 3, "gold", None])
    assert base != cache_key("m", 1, [0.5000001, 3, "gold", None])  # a re-materialized value misses
    assert base != cache_key("m", 1, [0.5, 3, "3", None])  # text "3" is not the number 3
    assert base != cache_key("m", 1, [0.5, 3, "gold", "None"])
    assert cache_key("m", 1, [True]) != cache_key("m", 1, [1])


def test_lru_bounds_and_ttl() -> None:
    from modelyard_plugins.caches.config import LruCacheConfig
    from modelyard_plugins.caches.lru import LruCache

    cache = LruCache(LruCacheConfig(max_entries=2, ttl_seconds=0.2))
    cache.put("a", CachedPrediction(1, 0.9))
    cache.put("b", CachedPrediction(0, 0.1))
    assert cache.get("a") == CachedPrediction(1, 0.9)  # "a" is now the most recent
    cache.put("c", CachedPrediction(1, 0.7))  # evicts "b", the least recently used
    assert cache.get_many(["a", "b", "c"]) == [CachedPrediction(1, 0.9), None, CachedPrediction(1, 0.7)]
    assert len(cache) == 2
    time.sleep(0.25)
    assert cache.get("a") is None  # expired


def test_cache_config_is_validated_by_the_plugin() -> None:
    from modelyard.errors import ConfigError
    from modelyard.plugins.testing import make_host

    host = make_host()
    with pytest.raises(ConfigError, match="max_entrys"):
        host.spec("cache", "lru").validate_settings({"max_entrys": 3})
    with pytest.raises(ConfigError, match="ttl_seconds"):
        host.spec("cache", "redis").validate_settings({"ttl_seconds": 0})
    cache = host.spec("cache", "lru").build({"max_entries": 5})
    assert cache.config.max_entries == 5


@pytest.mark.redis
def test_redis_cache_shared_ttl_and_clear(redis_url: str) -> None:
    from modelyard_plugins.caches.config import RedisCacheConfig
    from modelyard_plugins.caches.redis import RedisCache

    prefix = f"my_srv_cache_{uuid.uuid4().hex[:8]}:"
    config = RedisCacheConfig(url=redis_url, prefix=prefix, ttl_seconds=1)
    one, two = RedisCache(config), RedisCache(config)  # two workers
    key = cache_key("m", 1, [1.0, "x"])
    assert one.get(key) is None
    one.put(key, CachedPrediction("yes", 0.75))
    assert two.get(key) == CachedPrediction("yes", 0.75)
    assert 0 < two.client.ttl(prefix + key) <= 1
    time.sleep(1.2)
    assert two.get(key) is None
    one.put(key, CachedPrediction(1, None))
    one.clear()
    assert two.get(key) is None and not list(two.client.scan_iter(match=prefix + "*"))
    one.close()
    two.close()


def test_redis_cache_down_is_a_counted_miss() -> None:
    from modelyard_plugins.caches.config import RedisCacheConfig
    from modelyard_plugins.caches.redis import RedisCache

    cache = RedisCache(RedisCacheConfig(url="redis://127.0.0.1:1/0", timeout_seconds=0.1))
    cache.put("k", CachedPrediction(1, 0.5))
    assert cache.get("k") is None
    assert cache.errors == 2
