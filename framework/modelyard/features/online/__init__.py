"""Online feature reads: one FeatureService, many entities, one round trip.

:mod:`~modelyard.features.online.reader` holds the :class:`OnlineReader` interface, Feast's own
reader and :func:`online_reader`, which picks the Redis fast path
(:mod:`~modelyard.features.online.redis`) where it applies. Import-light: Feast, hiredis and
numpy are imported by the submodules that use them.
"""
