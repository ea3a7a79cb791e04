"""The one rule for when a feature value is fresh, shared by the training join and every online read.

A feature view's row with event time ``event`` is the value at time ``at`` when it is the
latest row with ``event <= at`` (compared exactly, at the nanosecond), and, if the view has
a ttl, when

    floor_to_second(event) + ttl >= at

Whole seconds because that is all every Feast online store keeps of an event time (SQLite
keeps whole seconds, Redis microseconds): judging freshness on the event time rounded down to
the second lets the point-in-time join and an online read reach the same verdict from what
each can see. A value therefore expires up to one second earlier than an exact comparison
would say, never later. See docs/features.md, "What is guaranteed".
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

SECOND_NS = 1_000_000_000


def ttl_ns(ttl: timedelta | None) -> int | None:
    """A view's ttl in integer nanoseconds, or ``None`` when it has none (Feast's ttl 0 means none)."""
    if not ttl:
        return None
    return ((ttl.days * 86_400 + ttl.seconds) * 1_000_000 + ttl.microseconds) * 1000


def floor_second_ns(event_ns: int) -> int:
    """``event_ns`` rounded down to a whole second (in nanoseconds)."""
    return event_ns - event_ns % SECOND_NS


def fresh_from(at_ns: int, ttl: int) -> int:
    """The earliest whole second (Unix seconds) of an event time still fresh at ``at_ns``."""
    return -((ttl - at_ns) // SECOND_NS)  # ceil((at_ns - ttl) / 1e9)


def is_fresh(event_ns: int, at_ns: int, ttl: int | None) -> bool:
    """Whether a value with event time ``event_ns`` is fresh at ``at_ns`` (``event_ns <= at_ns`` assumed)."""
    return ttl is None or floor_second_ns(event_ns) + ttl >= at_ns


def fresh_sql(event_ns: str, at_ns: str, ttl: int) -> str:
    """:func:`is_fresh` as a SQL condition over BIGINT nanosecond expressions (DuckDB)."""
    floored = f"({event_ns} - (({event_ns} % {SECOND_NS}) + {SECOND_NS}) % {SECOND_NS})"
    return f"{floored} + {int(ttl)} >= {at_ns}"


CLOCK_ENV = "MODELYARD_CLOCK"
"""Environment variable fixing the time online reads judge freshness at (ISO 8601, e.g.
``2026-01-29T00:00:00Z``): to serve or replay a store materialized from historical data as of
its end, in demos and tests. Unset (the default): the wall clock."""

_frozen: tuple[str, int] | None = None


def now_ns() -> int:
    """The time every online read judges freshness at, in Unix nanoseconds: ``$MODELYARD_CLOCK``
    if set, else the wall clock. Readers call this module attribute, so one place sets the
    clock of every read path."""
    global _frozen
    text = os.environ.get(CLOCK_ENV)
    if not text:
        return time.time_ns()
    if _frozen is None or _frozen[0] != text:
        _frozen = (text, _parse_clock(text))
    return _frozen[1]


def _parse_clock(text: str) -> int:
    from datetime import datetime, timezone

    from modelyard.errors import ConfigError

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"${CLOCK_ENV}={text!r} is not an ISO 8601 time such as 2026-01-29T00:00:00Z"
        ) from None
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * SECOND_NS + delta.microseconds * 1000


def blank_expired(
    columns: MutableMapping[str, list[Any]], response: Any, ttls: Mapping[str, int | None], at_ns: int
) -> None:
    """Set to ``None`` the values of a Feast ``get_online_features`` response that are stale at ``at_ns``.

    ``columns`` maps output feature names (as in ``response``) to value lists, changed in
    place; ``ttls`` maps those names to their view's ttl in nanoseconds (``None``: no ttl).
    The event time of each value is the one Feast returns with it (for Redis microseconds,
    for SQLite whole seconds: the rule only looks at whole seconds).
    """
    proto = response.proto
    for name, vector in zip(proto.metadata.feature_names.val, proto.results, strict=True):
        ttl = ttls.get(name)
        values = columns.get(name)
        if ttl is None or values is None:
            continue
        oldest = fresh_from(at_ns, ttl)
        for i, ts in enumerate(vector.event_timestamps):
            if ts.seconds < oldest:
                values[i] = None
