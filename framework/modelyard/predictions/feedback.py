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
from modelyard.predictions.records import storable_text, utcnow

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from modelyard.config.schema import ModelConfig
    from modelyard.yard import Yard

_KNOWN = {"request_id", "label", "entities", "event_timestamp", "timestamp"}
_SCALARS = (str, int, float, bool)

#: the longest request id a feedback row may name (serving.limits.max_request_id in a served yard)
MAX_REQUEST_ID = 256


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _label(i: int, label: Any, task: str) -> Any:
    """The label as stored, or BadRequest when its type cannot be a label of ``task``."""
    if isinstance(label, bool):
        label = int(label)
    if not isinstance(label, _SCALARS):
        raise BadRequest(f"feedback row {i}: label must be a number or a string, got {type(label).__name__}")
    if isinstance(label, (int, float)):
        try:
            finite = math.isfinite(float(label))
        except OverflowError:
            finite = False
        if not finite:
            raise BadRequest(f"feedback row {i}: label {label!r} is not a finite number")
    if task == "regression" and not isinstance(label, (int, float)):
        raise BadRequest(
            f"feedback row {i}: the model is a regression, so the label must be a number, got {label!r}"
        )
    if task == "classification" and isinstance(label, float) and not label.is_integer():
        raise BadRequest(
            f"feedback row {i}: the model is a classifier, so the label must be a class (an integer, a "
            f"boolean or a string), got {label!r}"
        )
    return label


def _event_time(i: int, when: Any) -> pd.Timestamp | None:
    import pandas as pd

    if _missing(when):
        return None
    if isinstance(when, (bool, Mapping, list, tuple, set)):
        raise BadRequest(
            f"feedback row {i}: event_timestamp must be an ISO 8601 time, got {type(when).__name__}"
        )
    try:
        event_ts = pd.Timestamp(when)
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(f"feedback row {i}: event_timestamp {when!r} is not a time: {exc}") from None
    if event_ts is pd.NaT or _missing(event_ts):
        raise BadRequest(f"feedback row {i}: event_timestamp {when!r} is not a time")
    return event_ts.tz_localize("UTC") if event_ts.tzinfo is None else event_ts.tz_convert("UTC")


def normalize_feedback(
    model: str,
    config: ModelConfig,
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str = "api",
    max_request_id: int = MAX_REQUEST_ID,
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
        label = _label(i, label, config.task)
        given = row.get("entities")
        if given is not None and not isinstance(given, Mapping):
            raise BadRequest(f"feedback row {i}: 'entities' must be an object {{entity key: value}}")
        entities = dict(given or {})
        entities.update({k: row[k] for k in keys if k in row and not _missing(row[k])})
        odd = sorted(k for k, v in entities.items() if not isinstance(v, _SCALARS))
        if odd:
            raise BadRequest(
                f"feedback row {i}: entity key(s) {', '.join(map(str, odd))} must be a string or a number"
            )
        request_id = row.get("request_id")
        if _missing(request_id):
            request_id = None
        elif not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            raise BadRequest(
                f"feedback row {i}: request_id must be a string, got {type(request_id).__name__}"
            )
        else:
            request_id = storable_text(str(request_id))
            if len(request_id) > max_request_id:  # type: ignore[arg-type]
                raise BadRequest(f"feedback row {i}: request_id is longer than {max_request_id} characters")
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
        event_ts = _event_time(i, row.get("event_timestamp", row.get("timestamp")))
        if event_ts is None and request_id is None:
            event_ts = pd.Timestamp(received)
        numeric = isinstance(label, (int, float))
        out.append(
            {
                "model": model,
                "request_id": request_id,
                "entities": json.dumps({k: entities[k] for k in keys if k in entities}, separators=(",", ":"))
                if entities
                else None,
                "event_timestamp": None if event_ts is None else event_ts.to_pydatetime(),
                "label": float(label) if numeric else None,
                "label_text": None if numeric else storable_text(str(label)),
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
        rows = rows.to_dict(orient="records")
    stored = normalize_feedback(
        model,
        config,
        list(rows),
        source=source,
        max_request_id=yard.config.serving.limits.max_request_id,
    )
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
