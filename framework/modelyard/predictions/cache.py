"""The prediction cache: identical input to the same model version answers from memory.

The key is the model name, the version and a hash of the exact feature vector the model
would see (never the request id: two requests with the same features share an answer). A
re-materialized entity whose features changed therefore misses, and so does a new version.
Backends are plugins (role ``cache``): ``lru`` (in-process, the default) and ``redis``
(shared by every worker); their size and TTL bounds are in their own config.

A cache must never fail a request: backends swallow their own I/O errors, count them
(:attr:`PredictionCache.errors`) and answer a miss.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CachedPrediction:
    """What the cache keeps for one feature vector: the prediction and its score."""

    prediction: Any
    score: float | None

    def to_list(self) -> list[Any]:
        return [self.prediction, self.score]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> CachedPrediction:
        return cls(data[0], data[1])


def _canonical(value: Any) -> str:
    """One text per value, equal for equal feature values (NaN, None and pd.NA alike are missing)."""
    if value is None:
        return "~"
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return "~" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return repr(float(value)) if abs(value) < 2**53 else repr(value)
    if isinstance(value, str):
        return "s" + repr(value)
    if isinstance(value, datetime):
        return "t" + value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (bytes, bytearray)):
        try:
            return _canonical(value.item())
        except (ValueError, TypeError):
            pass
    if value.__class__.__name__ == "NAType":
        return "~"
    return "r" + repr(value)


def cache_key(model: str, version: int, features: Sequence[Any]) -> str:
    """The cache key of one feature vector (features in the model's order).

    Integers and floats of equal value hash alike (``3`` and ``3.0``), since the model
    sees the same number either way.
    """
    text = "\x1f".join(_canonical(v) for v in features)
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
    return f"{model}:{int(version)}:{digest}"


class PredictionCache(ABC):
    """A bounded key -> :class:`CachedPrediction` store shared by the requests of a server."""

    #: backend errors swallowed (answered as misses) since start
    errors: int = 0

    @abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[CachedPrediction | None]:
        """The cached answer of each key, ``None`` for a miss (and on any backend error)."""

    @abstractmethod
    def put_many(self, items: Sequence[tuple[str, CachedPrediction]]) -> None:
        """Store answers; errors are swallowed and counted."""

    def get(self, key: str) -> CachedPrediction | None:
        return self.get_many([key])[0]

    def put(self, key: str, value: CachedPrediction) -> None:
        self.put_many([(key, value)])

    @abstractmethod
    def clear(self) -> None:
        """Forget every entry (this server's namespace only)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""
