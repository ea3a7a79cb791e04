"""Pushing fresh rows through a Feast ``PushSource``: checked first, written offline before online.

``push(store, source, frame, to=...)`` checks the rows against every feature view fed by the
push source (join keys, features and the event timestamp present; no unknown column; every
value of its Feast type) before anything is written, so bad input writes nothing. With
``to="online_and_offline"`` the offline store is written first: if the online write then fails
(the store is down), the training data already hold the rows and a retry writes them again
with the same values. Writes are keyed by entity and event time, so retrying a push is safe.
The push time of each view is noted in a :mod:`~modelyard.features.push_record` for freshness.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from modelyard.errors import BadRequest, FeatureError, OnlineStoreUnavailable
from modelyard.features.schema import json_value_problem
from modelyard.features.unavailable import is_connection_error

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from feast import FeatureStore, FeatureView

    from modelyard.features.push_record import PushRecord

logger = logging.getLogger(__name__)

PUSH_MODES = ("online", "offline", "online_and_offline")


@dataclass(frozen=True)
class PushResult:
    """What one push wrote."""

    source: str
    rows: int
    to: str
    views: tuple[str, ...]
    pushed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "push_source": self.source,
            "rows": self.rows,
            "to": self.to,
            "feature_views": list(self.views),
            "pushed_at": self.pushed_at.isoformat(),
        }


def push_views(store: FeatureStore, source: str) -> list[FeatureView]:
    """The feature views a push source feeds (BadRequest naming the known sources when there is none)."""
    from feast.data_source import PushSource

    views = [
        v
        for v in store.list_feature_views(allow_cache=True)
        if isinstance(v.stream_source, PushSource) and v.stream_source.name == source
    ]
    if not views:
        known = sorted(
            {
                v.stream_source.name
                for v in store.list_feature_views(allow_cache=True)
                if isinstance(v.stream_source, PushSource)
            }
        )
        raise BadRequest(
            f"unknown push source {source!r}; this repo's push sources: {', '.join(known) or '(none)'}"
        )
    return views


def check_rows(
    store: FeatureStore, source: str, rows: Mapping[str, Sequence[Any]] | pd.DataFrame
) -> pd.DataFrame:
    """``rows`` as a frame of the push source's columns, each of its Feast type (BadRequest otherwise)."""
    import pandas as pd
    from feast.data_source import PushSource

    from modelyard.features.schema import conform_column

    views = push_views(store, source)
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index(drop=True)
    else:
        if not isinstance(rows, Mapping) or not rows:
            raise BadRequest("push rows must be an object of columns: {column: [one value per row]}")
        lengths = {}
        for name, values in rows.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise BadRequest(f"push column {name!r} must be a list of values (one per row)")
            lengths[name] = len(values)
        if len(set(lengths.values())) != 1:
            raise BadRequest(f"push columns have different lengths: {lengths}")
        frame = pd.DataFrame({k: pd.Series(list(v), dtype=object) for k, v in rows.items()})
    if frame.empty:
        raise BadRequest("nothing to push: no rows")
    types: dict[str, str] = {}
    timestamps: set[str] = set()
    for view in views:
        for field in [*view.entity_columns, *view.features]:
            types[field.name] = field.dtype.to_value_type().name
        stream = view.stream_source
        assert isinstance(stream, PushSource)  # push_views keeps the views a push source feeds
        batch = stream.batch_source
        if batch is None:
            raise FeatureError(f"push source {source!r} of view {view.name!r} has no batch source")
        timestamps.add(batch.timestamp_field)
        if batch.created_timestamp_column:
            timestamps.add(batch.created_timestamp_column)
    missing = sorted(set(types) - set(frame.columns))
    missing += sorted(t for t in timestamps if t not in frame.columns)
    if missing:
        raise BadRequest(f"push source {source!r} needs column(s) {missing}")
    unknown = sorted(set(frame.columns) - set(types) - timestamps)
    if unknown:
        raise BadRequest(
            f"push source {source!r} has no column(s) {unknown}; it takes {sorted(types) + sorted(timestamps)}"
        )
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        if name in timestamps:
            try:
                out[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
            except (ValueError, TypeError) as exc:
                raise BadRequest(f"push column {name!r} must hold timestamps (ISO 8601): {exc}") from None
            if out[name].isna().any():
                raise BadRequest(f"push column {name!r} has a missing timestamp")
            continue
        vt = types[name]
        _check_type(name, frame[name], vt)
        try:
            out[name] = conform_column(frame[name], vt, name=name)
        except (ValueError, TypeError, OverflowError) as exc:
            raise BadRequest(f"push column {name!r} cannot be read as Feast type {vt}: {exc}") from None
        is_key = vt in {"INT64", "INT32", "STRING"} and name in {
            c.name for v in views for c in v.entity_columns
        }
        if is_key and out[name].isna().any():
            raise BadRequest(f"push column {name!r} is a join key and has a missing value")
    return out


def _check_type(name: str, column: pd.Series, value_type: str) -> None:
    """Python values (from JSON) of the column's type; numpy columns (from files) are conformed as they are."""
    if column.dtype != object:
        return
    for i, v in enumerate(column.tolist()):
        problem = json_value_problem(v, value_type)
        if problem is not None:
            raise BadRequest(f"push column {name!r} (Feast type {value_type}) {problem}; row {i} is {v!r}")


def push(
    store: FeatureStore,
    source: str,
    rows: Mapping[str, Sequence[Any]] | pd.DataFrame,
    *,
    to: str = "online",
    record: PushRecord | None = None,
) -> PushResult:
    """Check and write ``rows`` through push source ``source`` (see the module docs)."""
    from feast.data_source import PushMode

    if to not in PUSH_MODES:
        raise BadRequest(f"'to' must be one of {', '.join(PUSH_MODES)}, got {to!r}")
    frame = check_rows(store, source, rows)
    views = tuple(v.name for v in push_views(store, source))
    if to != "offline":
        _online_answers(store, source)  # before anything is written, so a down store writes nothing
    try:
        if to in ("offline", "online_and_offline"):
            store.push(source, frame, to=PushMode.OFFLINE)
        if to in ("online", "online_and_offline"):
            store.push(source, frame, to=PushMode.ONLINE)
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise OnlineStoreUnavailable(
            f"pushing to {source!r} failed, the store is unreachable: {exc}"
        ) from None
    except Exception as exc:  # Feast and the store clients raise many types
        if is_connection_error(exc):
            raise OnlineStoreUnavailable(
                f"pushing to {source!r} failed, the online store is unreachable: {exc}; retrying is safe"
            ) from None
        raise FeatureError(f"pushing to {source!r} failed: {type(exc).__name__}: {exc}") from exc
    result = PushResult(source, len(frame), to, views, datetime.now(timezone.utc))
    if record is not None and to != "offline":  # freshness is the online store's: offline rows serve nothing
        record.record(views, result.pushed_at)
    logger.info("pushed %d row(s) to %s (%s): %s", len(frame), source, to, ", ".join(views))
    return result


def _online_answers(store: FeatureStore, source: str) -> None:
    """Raise OnlineStoreUnavailable when the Redis online store does not answer a PING (other stores: no check)."""
    from modelyard.features.push_record import online_redis_client

    client = online_redis_client(store)
    if client is None:
        return
    import redis

    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise OnlineStoreUnavailable(
            f"not pushing to {source!r}: the online store (redis) does not answer ({exc}); nothing was written"
        ) from None
    finally:
        client.close()
