"""Pre-flight replay: re-score a candidate version on logged live requests before it takes traffic.

For each logged live request in the window (newest first, up to ``limit``), the
candidate gets the features as they were at the request's time (Feast point-in-time
join over the model's FeatureService, not today's values), and its answer is compared
with what the live version answered: agreement, differences of predictions and scores,
and the model metrics of both where feedback exists.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from modelyard.errors import RolloutError
from modelyard.rollout.metrics import model_metrics
from modelyard.rollout.shadow_report import distribution

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.yard import Yard


@dataclass(frozen=True)
class ReplayResult:
    """How a candidate would have answered the logged requests, compared with live."""

    model: str
    version: int
    since: datetime | None
    until: datetime | None
    requests: int
    live_versions: dict[str, int]
    agreement: float | None
    prediction_difference: dict[str, Any] = field(default_factory=dict)
    score_difference: dict[str, Any] = field(default_factory=dict)
    labelled: int = 0
    candidate_metrics: dict[str, float | None] = field(default_factory=dict)
    live_metrics: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("since", "until"):
            data[key] = data[key].isoformat() if data[key] else None
        return _clean(data)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _live_rows(log: pd.DataFrame, limit: int) -> pd.DataFrame:
    live = log[(log["mode"].astype(str) == "live") & (log["error"].isna() | (log["error"].astype(str) == ""))]
    live = live[live["prediction"].notna()] if "prediction" in live.columns else live
    return live.sort_values("timestamp", ascending=False).head(limit).reset_index(drop=True)


def replay(
    yard: Yard,
    model: str,
    version: int,
    *,
    since: datetime | None,
    until: datetime | None = None,
    limit: int = 10_000,
    tolerance: float = 0.0,
) -> ReplayResult:
    """Re-score ``version`` of ``model`` on its logged live requests in ``[since, until)``."""
    import numpy as np
    import pandas as pd

    from modelyard.rollout.traffic import open_log_sink, read_labels, read_window

    config = yard.model(model)
    until = until or datetime.now(timezone.utc)
    sink = open_log_sink(yard)
    try:
        log = read_window(sink, model, since, until)
    finally:
        sink.close()
    live = _live_rows(log, limit) if len(log) else log
    if not len(live):
        raise RolloutError(f"no logged live requests of {model!r} between {since} and {until}; widen --since")
    keys = list(config.entity_keys)
    decoded = pd.DataFrame.from_records([json.loads(e) if e else {} for e in live["entities"]])
    missing = [k for k in keys if k not in decoded.columns]
    if missing:
        raise RolloutError(f"logged requests of {model!r} lack the entity keys {missing}; cannot replay them")
    entities = decoded[keys].copy()
    entities["event_timestamp"] = pd.to_datetime(live["timestamp"], utc=True).values
    frame = yard.features.training_frame(model, entities)
    names = yard.features.feature_names(model)
    predictor = yard.registry.load_predictor(yard.registry.get_version(model, version))
    features = frame[names].reset_index(drop=True)
    cand = np.asarray(predictor.predict(features))
    cand_score = predictor.predict_proba(features)

    numeric = cand.dtype.kind in "fiub"
    if numeric:
        live_pred = live["prediction"].astype(float).to_numpy()
        delta = cand.astype(float) - live_pred
        diff = distribution(delta)
        agree = np.abs(delta) <= (tolerance if config.task == "regression" else 0.0)
    else:  # string class labels are logged in prediction_label
        live_pred = live["prediction_label"].astype(str).to_numpy()
        diff = {}
        agree = cand.astype(str) == live_pred
    score_diff: dict[str, Any] = {}
    if cand_score is not None and "score" in live.columns and live["score"].notna().any():
        score_diff = distribution(
            np.asarray(cand_score, dtype=float) - live["score"].astype(float).to_numpy()
        )

    labels = read_labels(yard, model, since, until)
    joined = pd.DataFrame({"request_id": live["request_id"], "cand": cand, "live": live_pred}).merge(
        labels, on="request_id", how="inner"
    )
    versions = live["version"].astype(int).astype(str).value_counts().to_dict()
    return ReplayResult(
        model=model,
        version=int(version),
        since=since,
        until=until,
        requests=len(live),
        live_versions={f"v{k}": int(v) for k, v in versions.items()},
        agreement=float(np.mean(agree)),
        prediction_difference=diff,
        score_difference=score_diff,
        labelled=len(joined),
        candidate_metrics=model_metrics(joined["cand"], joined["label"], config.task),
        live_metrics=model_metrics(joined["live"], joined["label"], config.task),
    )
