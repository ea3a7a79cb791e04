"""Online feature reads: one FeatureService, many entities, one round trip.

:mod:`~modelyard.features.online.base` holds the :class:`OnlineReader` interface,
:mod:`~modelyard.features.online.feast_reader` Feast's own reader,
:mod:`~modelyard.features.online.redis.reader` the Redis fast path and
:mod:`~modelyard.features.online.build` :func:`online_reader`, which picks one
(:mod:`~modelyard.features.online.reader` re-exports all four). Import-light: Feast, hiredis and
numpy are imported by the submodules that use them.
"""
