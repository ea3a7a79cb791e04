"""Online feature reads, all in one import: the interface, both readers and the builder.

The pieces live one per module:

* :mod:`modelyard.features.online.base`: the :class:`OnlineReader` interface (and :func:`timed_read`);
* :mod:`modelyard.features.online.feast_reader`: :class:`FeastOnlineReader`, Feast's own read;
* :mod:`modelyard.features.online.redis.reader`: :class:`RedisOnlineReader` and
  :class:`RedisClusterOnlineReader`, the Redis fast path;
* :mod:`modelyard.features.online.build`: :func:`online_reader`, which picks one for a FeatureService.

This module keeps the names importable from where they used to be defined.
"""

from __future__ import annotations

from modelyard.features.online.base import Columns, OnlineReader, timed_read
from modelyard.features.online.build import online_reader
from modelyard.features.online.feast_reader import FeastOnlineReader
from modelyard.features.online.redis.reader import RedisClusterOnlineReader, RedisOnlineReader

__all__ = [
    "Columns",
    "FeastOnlineReader",
    "OnlineReader",
    "RedisClusterOnlineReader",
    "RedisOnlineReader",
    "online_reader",
    "timed_read",
]
