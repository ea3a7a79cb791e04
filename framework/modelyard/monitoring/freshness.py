"""How stale the online store is for a model (``freshness`` detector).

For every plain feature view the model reads (its on-demand views' inputs included), two
verdicts:

* ``lag_seconds``: time since the newest data reached the online store (last materialization
  or push, :mod:`modelyard.features.freshness`); it fails when it exceeds ``max_lag`` or
  ``max_lag_share_of_ttl`` of the view's ttl (a view never loaded fails too);
* ``missing_share``: the share of the window's served rows where every feature of the view
  was missing (no row for the entity, or older than the ttl); it fails above
  ``max_missing_share`` when that is set, over at least ``min_rows`` rows.

Each failing verdict names the view, and its details name every model the view feeds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import MonitoringError
from modelyard.monitoring.detector import Detector
from modelyard.monitoring.results import DetectorResult

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile
    from modelyard.yard import Yard


class FreshnessConfig(BaseModel):
    """Settings of the ``freshness`` detector."""

    model_config = ConfigDict(extra="forbid")

    max_lag_seconds: float | None = Field(None, gt=0, description="fail when a view's lag exceeds this")
    max_lag_share_of_ttl: float | None = Field(
        0.5, gt=0, description="fail when a view's lag exceeds this share of its ttl (views with a ttl)"
    )
    max_missing_share: float | None = Field(
        None, ge=0, le=1, description="fail when more of the served rows had none of a view's features"
    )
    min_rows: int = Field(50, ge=1, description="rows a window needs before its missing share is judged")


class FreshnessDetector(Detector):
    """Lag and missing share of every online view a model reads; bind it with :meth:`bind`."""

    kind: ClassVar[str] = "freshness"
    name: ClassVar[str] = "freshness"

    def __init__(self, config: FreshnessConfig | None = None) -> None:
        super().__init__(config or FreshnessConfig())
        self._yard: Yard | None = None
        self._model: str | None = None

    def fit(self, reference: Profile | None = None) -> FreshnessDetector:
        """Freshness compares with the clock, not a profile."""
        self._reference = reference
        return self

    def bind(self, yard: Yard, model: str) -> FreshnessDetector:
        """Judge ``model``'s views in ``yard``; returns ``self``."""
        yard.model(model)
        self._yard, self._model = yard, model
        return self

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        if self._yard is None or self._model is None:
            raise MonitoringError(
                "the freshness detector is not bound to a model: call bind(yard, model) first"
            )
        cfg: FreshnessConfig = self.config
        model = self._model
        wanted = set(self._yard.features.views_of(model))
        model_features = set(self._yard.features.feature_names(model))
        out = []
        for view in self._yard.features.freshness():
            if view.view not in wanted:
                continue
            details = {"view": view.view, "models": list(view.models), **view.to_dict()}
            bound = _lag_bound(cfg, view.ttl)
            lag = view.lag.total_seconds() if view.lag is not None else float("inf")
            out.append(
                DetectorResult(
                    detector=self.name,
                    feature=view.view,
                    statistic="lag_seconds",
                    value=lag,
                    p_value=None,
                    threshold=bound if bound is not None else float("inf"),
                    drifted=bound is not None and lag > bound,
                    n_reference=0,
                    n_current=len(current),
                    details=details,
                )
            )
            served = [f for f in view.features if f in model_features and f in current.columns]
            if cfg.max_missing_share is None or not served:
                continue
            share = missing_share(current, served)
            out.append(
                DetectorResult(
                    detector=self.name,
                    feature=view.view,
                    statistic="missing_share",
                    value=share,
                    p_value=None,
                    threshold=cfg.max_missing_share,
                    drifted=len(current) >= cfg.min_rows and share > cfg.max_missing_share,
                    n_reference=0,
                    n_current=len(current),
                    details={**details, "features": served},
                )
            )
        return out


def _lag_bound(cfg: FreshnessConfig, ttl: timedelta | None) -> float | None:
    """The tightest configured lag bound for a view, in seconds (None: no bound applies)."""
    bounds = []
    if cfg.max_lag_seconds is not None:
        bounds.append(cfg.max_lag_seconds)
    if cfg.max_lag_share_of_ttl is not None and ttl:
        bounds.append(cfg.max_lag_share_of_ttl * ttl.total_seconds())
    return min(bounds) if bounds else None


def missing_share(frame: pd.DataFrame, features: list[str]) -> float:
    """The share of ``frame``'s rows where every one of ``features`` is missing (0.0 for no rows):
    a view's rows served expired, or never loaded."""
    if not len(frame) or not features:
        return 0.0
    return float(frame[features].isna().all(axis=1).mean())
