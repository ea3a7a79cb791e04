"""Train/serve skew: the online feature values a server used vs Feast's offline values (``skew`` detector).

For logged predictions (entity keys, the time of the request and the feature vector the
server read online), the offline store's point-in-time join for the same entity and time
(``yard.features.training_frame``) should give the same values. Per feature this reports the
share of rows where they differ (numbers beyond a tolerance, anything else by equality,
missing on one side only), with examples. A mismatch means training and serving disagree:
a materialization lag, a transformation applied on one path only, a type coercion...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import MonitoringError
from modelyard.monitoring.detector import Detector
from modelyard.monitoring.results import DetectorResult, dataset_result

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile
    from modelyard.yard import Yard


class SkewConfig(BaseModel):
    """Settings of the ``skew`` detector."""

    model_config = ConfigDict(extra="forbid")

    rel_tolerance: float = Field(1e-6, ge=0)
    abs_tolerance: float = Field(1e-9, ge=0)
    max_mismatch_rate: float = Field(0.01, ge=0, le=1)
    timestamp_column: str = "timestamp"
    examples: int = Field(5, ge=0)
    share_threshold: float = Field(0.5, gt=0, le=1)


def mismatches(online: pd.Series, offline: pd.Series, *, rel: float, abs_: float) -> np.ndarray:
    """Boolean mask of rows where two aligned columns disagree (missing on both sides agrees)."""
    import pandas as pd

    on_na, off_na = online.isna().to_numpy(), offline.isna().to_numpy()
    on_num = pd.to_numeric(online, errors="coerce")
    off_num = pd.to_numeric(offline, errors="coerce")
    numeric = (on_num.notna() | on_na).all() and (off_num.notna() | off_na).all()
    if numeric:
        a, b = on_num.to_numpy(np.float64), off_num.to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            differ = ~np.isclose(a, b, rtol=rel, atol=abs_)
    else:
        differ = online.astype(str).to_numpy() != offline.astype(str).to_numpy()
    return np.where(on_na & off_na, False, np.where(on_na | off_na, True, differ))


def compare(
    online: pd.DataFrame,
    offline: pd.DataFrame,
    features: Sequence[str],
    *,
    keys: Sequence[str],
    config: SkewConfig,
    detector: str = "skew",
) -> list[DetectorResult]:
    """Per-feature mismatch rates between row-aligned online and offline frames, with examples."""
    out = []
    n = len(online)
    for name in features:
        mask = mismatches(
            online[name].reset_index(drop=True),
            offline[name].reset_index(drop=True),
            rel=config.rel_tolerance,
            abs_=config.abs_tolerance,
        )
        rate = float(mask.mean()) if n else 0.0
        examples: list[dict[str, Any]] = []
        for i in np.flatnonzero(mask)[: config.examples]:
            row = {k: _plain(online[k].iloc[i]) for k in keys if k in online.columns}
            row.update(online=_plain(online[name].iloc[i]), offline=_plain(offline[name].iloc[i]))
            examples.append(row)
        out.append(
            DetectorResult(
                detector=detector,
                feature=name,
                statistic="mismatch_rate",
                value=rate,
                p_value=None,
                threshold=config.max_mismatch_rate,
                drifted=rate > config.max_mismatch_rate,
                n_reference=n,
                n_current=n,
                details={"mismatches": int(mask.sum()), "examples": examples},
            )
        )
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


class SkewDetector(Detector):
    """Online (logged) vs offline (Feast point-in-time) feature values of a model.

    Bind it to a yard and model with :meth:`bind`; ``score`` takes the logged window with one
    column per entity key and feature (as ``modelyard.predictions.records.expand`` gives) and the
    request time in ``timestamp_column``.
    """

    kind: ClassVar[str] = "skew"
    name: ClassVar[str] = "skew"

    def __init__(self, config: SkewConfig | None = None) -> None:
        super().__init__(config or SkewConfig())
        self._yard: Yard | None = None
        self._model: str | None = None

    def fit(self, reference: Profile | None = None) -> SkewDetector:
        """Skew compares with the offline store, not a profile."""
        self._reference = reference
        return self

    def bind(self, yard: Yard, model: str) -> SkewDetector:
        """Read offline values of ``model`` from ``yard``'s feature store; returns ``self``."""
        yard.model(model)
        self._yard, self._model = yard, model
        return self

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        if self._yard is None or self._model is None:
            raise MonitoringError("the skew detector is not bound to a model: call bind(yard, model) first")
        cfg = self.config
        keys = list(self._yard.model(self._model).entity_keys)
        keys += list(self._yard.features.request_fields(self._model))  # logged beside the entity keys
        names = list(features) if features is not None else self._yard.features.feature_names(self._model)
        needed = [*keys, cfg.timestamp_column, *names]
        absent = [c for c in needed if c not in current.columns]
        if absent:
            raise MonitoringError(
                f"skew detector for {self._model!r}: the logged window has no column(s) {absent}; "
                "expand the log's entities and features into columns first"
            )
        entities = current[[*keys, cfg.timestamp_column]].rename(
            columns={cfg.timestamp_column: "event_timestamp"}
        )
        offline = self._yard.features.training_frame(self._model, entities)
        results = compare(
            current, offline, names, keys=[*keys, cfg.timestamp_column], config=cfg, detector=self.name
        )
        results.append(dataset_result(self.name, results, share_threshold=cfg.share_threshold))
        return results
