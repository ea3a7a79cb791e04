"""Settings of the built-in prediction caches (``serving.cache.settings`` in modelyard.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LruCacheConfig(BaseModel):
    """In-process LRU: at most ``max_entries`` answers, each kept ``ttl_seconds`` (0: no expiry)."""

    model_config = ConfigDict(extra="forbid")

    max_entries: int = Field(100_000, ge=1, description="answers kept per worker process")
    ttl_seconds: float = Field(
        300.0, ge=0, description="seconds an answer stays valid; 0 keeps it until evicted"
    )


class RedisCacheConfig(BaseModel):
    """Redis cache shared by every worker: keys ``<prefix><model>:<version>:<hash>`` with a TTL.

    ``max_entries`` is a soft bound: when the Redis database holds that many keys (checked
    every few seconds with ``DBSIZE``), new answers are not stored; Redis' own ``maxmemory``
    policy is the hard bound. Every answer expires after ``ttl_seconds``.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "redis://127.0.0.1:6379/0", description="redis:// URL; ${VAR} is read from the environment"
    )
    prefix: str = Field("modelyard:cache:", min_length=1)
    ttl_seconds: int = Field(300, ge=1)
    max_entries: int = Field(1_000_000, ge=1)
    timeout_seconds: float = Field(0.2, gt=0, description="connect/read timeout; a slow cache is a miss")
