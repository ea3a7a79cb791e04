"""Ground-truth feedback: record labels for past predictions and join them to the log.

A feedback row names the prediction it labels in one of two ways:

* by request id: ``{"request_id": "9f2c...", "label": 1}``, matching every logged row of
  that request (the live answer and its shadows);
* by entity and time: ``{"driver_id": 1001, "event_timestamp": "2026-03-01T12:00:00Z",
  "label": 1}`` (entity keys flat or under ``"entities"``), matching the nearest live
  prediction for that entity at or before that time (and its shadows). Without a timestamp
  the time the feedback arrives is used, i.e. the entity's latest prediction.

``record_feedback`` validates and stores rows (the HTTP route in
:mod:`modelyard.serving.routes_feedback` and ``modelyard feedback MODEL FILE`` call it);
``join_feedback`` returns the logged predictions of a window with their ``label``, which is
what performance monitors read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelyard.errors import BadRequest
from modelyard.predictions.records import utcnow

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from modelyard.config.schema import ModelConfig
    from modelyard.yard import Yard

_KNOWN = {"request_id", "label", "entities", "event_timestamp", "timestamp"}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def normalize_feedback(
    model: str, config: ModelConfig, rows: Sequence[Mapping[str, Any]], *, source: str = "api"
) -> list[dict[str, Any]]:
    """Validate feedback rows and turn them into stored rows; BadRequest names the row and the problem."""
    import pandas as pd

    if not rows:
        raise BadRequest("no feedback rows given")
    received = utcnow()
    keys = list(config.entity_keys)
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(rows):
        if not isinstance(raw, Mapping):
            raise BadRequest(f"feedback row {i}: expected an object, got {type(raw).__name__}")
        row = {k: _scalar(v) for k, v in raw.items()}
        unknown = sorted(set(row) - _KNOWN - set(keys))
        if unknown:
            raise BadRequest(
                f"feedback row {i}: unknown field(s) {', '.join(unknown)}; expected request_id or the entity keys "
                f"of {model!r} ({', '.join(keys)}), optional event_timestamp, and label"
            )
        label = row.get("label")
        if _missing(label):
            raise BadRequest(f"feedback row {i}: 'label' is missing")
        entities = dict(row.get("entities") or {})
        entities.update({k: row[k] for k in keys if k in row and not _missing(row[k])})
        request_id = None if _missing(row.get("request_id")) else str(row["request_id"])
        bad_keys = sorted(set(entities) - set(keys))
        if bad_keys:
            raise BadRequest(
                f"feedback row {i}: {', '.join(bad_keys)} are not entity keys of {model!r} ({', '.join(keys)})"
            )
        if request_id is None and set(entities) != set(keys):
            raise BadRequest(
                f"feedback row {i}: give a request_id, or every entity key of {model!r} "
                f"(missing: {', '.join(k for k in keys if k not in entities)})"
            )
        when = row.get("event_timestamp", row.get("timestamp"))
        try:
            event_ts = None if _missing(when) else pd.Timestamp(when)
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"feedback row {i}: event_timestamp {when!r} is not a time: {exc}") from None
        if event_ts is not None:
            event_ts = event_ts.tz_localize("UTC") if event_ts.tzinfo is None else event_ts.tz_convert("UTC")
        elif request_id is None:
            event_ts = pd.Timestamp(received)
        if isinstance(label, bool):
            label = int(label)
        numeric = isinstance(label, (int, float))
        if numeric and not math.isfinite(float(label)):
            raise BadRequest(f"feedback row {i}: label {label!r} is not a finite number")
        out.append(
            {
                "model": model,
                "request_id": request_id,
                "entities": json.dumps({k: entities[k] for k in keys if k in entities}, separators=(",", ":"))
                if entities
                else None,
                "event_timestamp": None if event_ts is None else event_ts.to_pydatetime(),
                "label": float(label) if numeric else None,
                "label_text": None if numeric else str(label),
                "received_at": received,
                "source": source,
            }
        )
    return out


def record_feedback(
    yard: Yard, model: str, rows: Sequence[Mapping[str, Any]] | pd.DataFrame, *, source: str = "api"
) -> int:
    """Validate and store feedback rows for ``model``; returns how many were stored."""
    from modelyard.predictions.feedback_store import feedback_store

    config = yard.model(model)
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict(orient="records")  # type: ignore[union-attr]
    stored = normalize_feedback(model, config, list(rows), source=source)  # type: ignore[arg-type]
    store = feedback_store(yard, model)
    try:
        store.append(stored)
    finally:
        store.close()
    return len(stored)


def read_feedback(yard: Yard, model: str) -> pd.DataFrame:
    """Every feedback row of ``model``: the stored columns plus ``label`` as given (number or text)."""
    from modelyard.predictions.feedback_store import feedback_store

    yard.model(model)
    store = feedback_store(yard, model)
    try:
        frame = store.read()
    finally:
        store.close()
    if frame["label_text"].notna().any():
        frame["label"] = frame["label"].astype(object).where(frame["label_text"].isna(), frame["label_text"])
    return frame.drop(columns=["label_text"])


def join_feedback(
    yard: Yard,
    model: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    labelled_only: bool = True,
) -> pd.DataFrame:
    """Logged predictions of ``model`` in ``[since, until)`` (expanded) with their ``label`` and ``feedback_at``."""
    from modelyard.predictions.log import open_log_sink
    from modelyard.predictions.records import expand

    sink = open_log_sink(yard)
    try:
        log = sink.read_frame(model, since, until)
    finally:
        sink.close()
    return attach_labels(
        expand(log),
        read_feedback(yard, model),
        list(yard.model(model).entity_keys),
        labelled_only=labelled_only,
    )


def attach_labels(
    predictions: pd.DataFrame, feedback: pd.DataFrame, entity_keys: list[str], *, labelled_only: bool = True
) -> pd.DataFrame:
    """Join feedback to expanded prediction rows: by request id, else entity + nearest prior live prediction."""
    import pandas as pd

    preds = predictions.reset_index(drop=True)
    if "request_id" not in preds.columns:  # nothing logged in the window
        return preds.assign(label=pd.Series(dtype=object), feedback_at=pd.Series(dtype="datetime64[ns, UTC]"))
    fb = feedback.sort_values("received_at", kind="stable")
    by_id = fb[fb["request_id"].notna()][["request_id", "label", "received_at"]]
    by_entity = fb[fb["request_id"].isna()]
    if len(by_entity) and len(preds) and all(k in preds.columns for k in entity_keys):
        decoded = pd.DataFrame.from_records(
            [json.loads(e) for e in by_entity["entities"]], index=by_entity.index
        )
        left = pd.concat(
            [by_entity[["event_timestamp", "label", "received_at"]], decoded[entity_keys]], axis=1
        )
        left = left.sort_values("event_timestamp", kind="stable")
        live = preds[preds["mode"] == "live"][["timestamp", "request_id", *entity_keys]].sort_values(
            "timestamp"
        )
        for key in entity_keys:  # merge_asof needs one dtype per "by" key
            if left[key].dtype != live[key].dtype:
                left[key] = left[key].astype(live[key].dtype)
        matched = pd.merge_asof(
            left,
            live,
            left_on="event_timestamp",
            right_on="timestamp",
            by=entity_keys,
            direction="backward",
        )
        matched = matched[matched["request_id"].notna()]
        by_id = pd.concat([matched[["request_id", "label", "received_at"]], by_id], ignore_index=True)
    # the last feedback received for a request wins
    by_id = (
        by_id.sort_values("received_at", kind="stable")
        .drop_duplicates("request_id", keep="last")
        .rename(columns={"received_at": "feedback_at"})
    )
    out = preds.drop(columns=[c for c in ("label", "feedback_at") if c in preds.columns]).merge(
        by_id, on="request_id", how="left"
    )
    if labelled_only:
        out = out[out["feedback_at"].notna()].reset_index(drop=True)
    return out
