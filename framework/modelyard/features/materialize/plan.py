"""Where each view's run starts, which rows count as new, and when a winner replaces what is online.

The rules (docs/features.md, "What ``materialize`` writes"):

* the first run of a view reads event times in ``[end - ttl, end]`` (all of history without
  a ttl); a later run starts where the previous one ended; ``--start`` sets the start of
  every view;
* a view with a created-timestamp column also picks up, on later runs, every entity with a
  row created after the watermark (:mod:`~modelyard.features.materialize.state`); a view
  without one starts ``lookback`` (``features.materialize.lookback``) before the previous
  end instead, so rows appended late within that window are read again;
* a winner (:mod:`~modelyard.features.materialize.select`) replaces the stored row of its
  entity when it is newer, never when it is older; on an equal event time (at the store's
  resolution) only when it is new since the previous run (a correction: a later created
  time) or the run was given ``--start`` (a reload).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from modelyard.features.materialize.views import ViewSpec

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_ns(value: datetime) -> int:
    """A datetime (naive means UTC) as integer Unix nanoseconds."""
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


@dataclass(frozen=True)
class ViewPlan:
    """One view's run: the event window, the created pickup and how ties with the store are decided."""

    view: str
    begin: datetime
    end: datetime
    last_end_ns: int | None
    """Where the previous run ended (``None``: first run, or ``--start`` given)."""
    created_after_ns: int | None
    """Pick up entities with a row created after this (``None``: no created pickup)."""
    reload: bool
    """``--start`` given: a winner equal to the stored row is written again."""
    oldest: datetime | None = None
    """``end - ttl``: an older row is expired at ``end`` (the join gives nothing), so late rows and
    the lookback do not reach before it (the window from ``begin`` is read as Feast reads it)."""
    read_from: datetime | None = None
    """Where the event window read starts (``begin`` unless the lookback moves it earlier)."""

    @property
    def begin_ns(self) -> int:
        return to_ns(self.begin)

    @property
    def read_from_ns(self) -> int:
        return to_ns(self.read_from or self.begin)

    @property
    def oldest_ns(self) -> int | None:
        return None if self.oldest is None else to_ns(self.oldest)

    @property
    def end_ns(self) -> int:
        return to_ns(self.end)

    def is_new(self, ts_ns: np.ndarray, created_ns: np.ndarray | None) -> np.ndarray:
        """Per winner: new since the previous run (so it wins a tie with the stored row)."""
        if self.reload or self.last_end_ns is None:
            return np.ones(len(ts_ns), dtype=bool)
        new = ts_ns > self.last_end_ns
        if created_ns is not None and self.created_after_ns is not None:
            new |= created_ns > self.created_after_ns
        return new


def plan_view(
    view: ViewSpec,
    end: datetime,
    *,
    start: datetime | None,
    lookback: timedelta,
    watermark_ns: int | None,
) -> ViewPlan:
    """The run of ``view`` up to ``end`` (see the module docs)."""
    created = bool(view.batch_source().created_column)
    ttl = view.ttl_ns
    oldest = max(end - timedelta(microseconds=ttl // 1000), _EPOCH) if ttl else None
    if start is not None:
        return ViewPlan(view.name, start, end, None, None, reload=True, oldest=oldest)
    last = view.last_end
    if last is None:
        return ViewPlan(view.name, oldest or _EPOCH, end, None, None, reload=False, oldest=oldest)
    if created:
        after = watermark_ns if watermark_ns is not None else to_ns(last)
        return ViewPlan(view.name, last, end, to_ns(last), after, reload=False, oldest=oldest)
    read_from = min(last, max(last - lookback, oldest or _EPOCH))
    return ViewPlan(view.name, last, end, to_ns(last), None, reload=False, oldest=oldest, read_from=read_from)


def replaces(
    stored_ns: np.ndarray, present: np.ndarray, winner_ns: np.ndarray, new: np.ndarray, resolution_ns: int
) -> np.ndarray:
    """Per winner: whether it is written over the stored row (``present`` False: nothing stored).

    Times are compared at the store's resolution (``resolution_ns``: 1 for Redis, which keeps
    the event time to the microsecond Feast gives it, 10**9 for SQLite's whole seconds).
    """
    stored = stored_ns // resolution_ns
    winner = winner_ns // resolution_ns
    return ~present | (winner > stored) | ((winner == stored) & new)
