"""How fresh the online store is, view by view: what was last materialized or pushed, and how long ago.

A view's *lag* is the time since the newest data that reached the online store: the end of
its last materialization (Feast's registry records every interval) or its last push through a
PushSource (kept by :mod:`modelyard.features.push_record`), whichever is later. A
view never loaded has no lag (``None``) and counts as stale. The share of served rows that
were missing or expired comes from the prediction log (the ``freshness`` detector, see
:mod:`modelyard_plugins.detectors.freshness`), so every worker's answers count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore


@dataclass(frozen=True)
class ViewFreshness:
    """The freshness of one online feature view at ``now``."""

    view: str
    ttl: timedelta | None
    last_materialized: datetime | None
    last_pushed: datetime | None
    now: datetime
    models: tuple[str, ...] = field(default=())
    features: tuple[str, ...] = field(default=())

    @property
    def last_loaded(self) -> datetime | None:
        times = [t for t in (self.last_materialized, self.last_pushed) if t is not None]
        return max(times) if times else None

    @property
    def lag(self) -> timedelta | None:
        """Time since the newest data reached the online store (None: never loaded)."""
        loaded = self.last_loaded
        return None if loaded is None else max(self.now - loaded, timedelta(0))

    @property
    def lag_share_of_ttl(self) -> float | None:
        """``lag / ttl`` (None without a ttl or without a lag)."""
        if self.lag is None or not self.ttl:
            return None
        return self.lag / self.ttl

    def to_dict(self) -> dict[str, Any]:
        iso = lambda t: None if t is None else t.isoformat()  # noqa: E731
        return {
            "view": self.view,
            "ttl_seconds": None if not self.ttl else self.ttl.total_seconds(),
            "last_materialized": iso(self.last_materialized),
            "last_pushed": iso(self.last_pushed),
            "lag_seconds": None if self.lag is None else self.lag.total_seconds(),
            "lag_share_of_ttl": self.lag_share_of_ttl,
            "models": list(self.models),
        }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def view_freshness(
    store: FeatureStore,
    pushed: Mapping[str, str],
    *,
    models: Mapping[str, Sequence[str]] | None = None,
    now: datetime | None = None,
) -> list[ViewFreshness]:
    """Every online view's freshness; ``models`` maps a view to the models reading it (for alerts)."""
    now = _utc(now or datetime.now(timezone.utc))
    out = []
    for view in sorted(store.list_feature_views(allow_cache=True), key=lambda v: v.name):
        if not view.online:
            continue
        ends = [_utc(end) for _, end in (view.materialization_intervals or [])]
        push = pushed.get(view.name)
        out.append(
            ViewFreshness(
                view=view.name,
                ttl=view.ttl or None,
                last_materialized=max(ends) if ends else None,
                last_pushed=_utc(datetime.fromisoformat(push)) if push else None,
                now=now,
                models=tuple(sorted((models or {}).get(view.name, ()))),
                features=tuple(f.name for f in view.features),
            )
        )
    return out


def format_span(value: timedelta | None) -> str | None:
    """A timedelta as ``2d 3h``, ``5m``, ``12s`` (None stays None): how the CLI and the UI show lags."""
    if value is None:
        return None
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text or f"{seconds}s"
