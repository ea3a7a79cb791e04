"""The Redis fast path of the online read: Feast's Redis layout read and decoded directly.

:mod:`~modelyard.features.online.redis.codec` (keys, commands and value decoding, with the
compiled row decoder ``_redis_rows`` where it was built), :mod:`~modelyard.features.online.redis.wire`
(a blocking pipelined connection) and :mod:`~modelyard.features.online.redis.async_wire` (the same
on the worker's event loop).
"""
