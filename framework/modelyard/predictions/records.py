"""PredictionRecord: one logged prediction, and its flat row form shared by every log sink.

A record is one logged prediction as plugins (``on_prediction``) and readers see it; the server
hands the :class:`~modelyard.predictions.log.PredictionLogger` its answers and columns
instead (:mod:`modelyard.predictions.answered`), which become the same rows. Sinks store :meth:`PredictionRecord.to_row`
rows, whose columns are fixed (:data:`ROW_COLUMNS`) whatever the model: entity keys and the
feature vector travel as JSON text so one Parquet schema and one SQL table fit every model.
:func:`expand` turns a frame of rows back into one column per entity key and feature, which
is what monitoring windows and feedback joins work on.

Import-light: only the standard library at import time (pyarrow and pandas inside functions).
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the core install without the serve extra
    _orjson = None  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

#: ``fallback:cache`` / ``fallback:default``: answered while the online store was down
#: (see modelyard.serving.fallback); ``dropped``: a drop marker, not a prediction (the count
#: of lost rows in ``prediction``, see modelyard.predictions.log)
Mode = Literal["live", "shadow", "fallback:cache", "fallback:default", "dropped"]

#: The mode of drop-marker rows; readers of predictions leave them out.
DROPPED: Mode = "dropped"

#: Column name -> logical type of a row; the Parquet schema and the SQL table follow it.
ROW_COLUMNS: dict[str, str] = {
    "request_id": "string",
    "timestamp": "timestamp",  # UTC, microseconds
    "model": "string",
    "version": "int",
    "variant": "string",
    "mode": "string",
    "entities": "json",  # JSON object text: entity key -> value
    "features": "json",  # JSON object text: feature name -> value
    "prediction": "float",  # numeric predictions (class labels 0/1, regression values)
    "prediction_label": "string",  # non-numeric predictions (string class labels)
    "score": "float",
    "latency_ms": "float",
    "cache_hit": "bool",
    "error": "string",
}


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str | None) -> str | None:
    """``value`` with what some store cannot hold replaced by U+FFFD: NUL (PostgreSQL text) and
    lone surrogates (not UTF-8, refused by Parquet and every database driver).

    Request ids and labels are cleaned with it before any sink or feedback store sees them, so
    a value a client may legally send never becomes a record a sink refuses.
    """
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    return _UNSTORABLE.sub("\ufffd", value)


def new_request_id() -> str:
    """A fresh request id (32 hex characters)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def _json_default(value: Any) -> Any:
    """Make numpy scalars, datetimes and the like JSON-serialisable."""
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _clean(value: Any) -> Any:
    """NaN -> None so the JSON text is standard (``null``)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def _dumps(mapping: Mapping[Any, Any]) -> str:
    """Compact JSON text of a mapping; NaN becomes ``null``.

    orjson (installed with serving) writes the same JSON about ten times faster than the
    standard library, which matters on the prediction log's writer thread: it shares the
    GIL with the requests. numpy scalars go through ``.item()`` either way, so a float32
    is written as the exact float64 it converts to, as the standard-library path does.
    """
    if _orjson is not None:
        try:  # string keys, the usual case, without OPT_NON_STR_KEYS: the same text, faster
            return _orjson.dumps(mapping, default=_json_default).decode()
        except TypeError:
            pass
        try:
            return _orjson.dumps(mapping, default=_json_default, option=_orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # e.g. a numpy NaN inside .item(): take the careful path
            pass
    return json.dumps(
        {str(k): _clean(v) for k, v in mapping.items()}, default=_json_default, separators=(",", ":")
    )


def prediction_columns(value: Any) -> tuple[float | None, str | None]:
    """A prediction as its two stored columns: ``prediction`` (numbers, booleans as 0/1) and
    ``prediction_label`` (anything else, as text); NaN and ``None`` leave both empty."""
    prediction = _clean(value)
    if isinstance(prediction, bool):
        return float(prediction), None
    if isinstance(prediction, (int, float)):
        return float(prediction), None
    return None, None if prediction is None else storable_text(str(prediction))


def stored_score(value: Any) -> float | None:
    """A score as stored: a float, NaN as ``None``."""
    return None if _clean(value) is None else float(value)


@dataclass(slots=True)
class PredictionRecord:
    """One prediction as it is logged.

    ``prediction`` is the model's answer (a class label or a value), ``score`` the
    positive-class probability of a binary classifier (else ``None``), ``mode`` says whether
    the variant answered the caller (``live``), ran beside it (``shadow``), or answered while
    the online store was down (``fallback:cache`` / ``fallback:default``). ``error`` holds
    the message when the prediction failed (then ``prediction`` is ``None``).
    """

    request_id: str
    model: str
    version: int
    prediction: float | int | str | None
    entities: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    variant: str = "default"
    mode: Mode = "live"
    score: float | None = None
    latency_ms: float = 0.0
    cache_hit: bool = False
    error: str | None = None
    timestamp: datetime = field(default_factory=utcnow)

    def to_row(self) -> dict[str, Any]:
        """The flat row sinks store (keys = :data:`ROW_COLUMNS`).

        :func:`~modelyard.predictions.answered.answered_to_table` builds the same values column by
        column for a batch.
        """
        prediction, label = prediction_columns(self.prediction)
        ts = self.timestamp
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=timezone.utc)
        return {
            "request_id": storable_text(self.request_id),
            "timestamp": ts.astimezone(timezone.utc),
            "model": self.model,
            "version": int(self.version),
            "variant": storable_text(self.variant),
            "mode": self.mode,
            "entities": _dumps(self.entities),
            "features": _dumps(self.features),
            "prediction": prediction,
            "prediction_label": label,
            "score": stored_score(self.score),
            "latency_ms": float(self.latency_ms),
            "cache_hit": bool(self.cache_hit),
            "error": storable_text(self.error),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PredictionRecord:
        """Rebuild a record from a stored row (numeric predictions come back as floats)."""
        prediction: Any = row.get("prediction")
        if prediction is None or (isinstance(prediction, float) and math.isnan(prediction)):
            prediction = row.get("prediction_label")
        ts = row["timestamp"]
        if hasattr(ts, "to_pydatetime"):
            ts = ts.to_pydatetime()
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=timezone.utc)
        score = row.get("score")
        return cls(
            request_id=str(row["request_id"]),
            timestamp=ts,
            model=str(row["model"]),
            version=int(row["version"]),
            variant=str(row["variant"]),
            mode=row["mode"],
            entities=json.loads(row.get("entities") or "{}"),
            features=json.loads(row.get("features") or "{}"),
            prediction=prediction,
            score=None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score),
            latency_ms=float(row.get("latency_ms") or 0.0),
            cache_hit=bool(row.get("cache_hit")),
            error=row.get("error") or None,
        )


@functools.cache
def arrow_schema() -> pa.Schema:
    """The Arrow/Parquet schema of log rows."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "json": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
    }
    return pa.schema([pa.field(name, types[kind]) for name, kind in ROW_COLUMNS.items()])


def storable_texts(values: list[Any]) -> list[Any]:
    """:func:`storable_text` of every value; the common all-ASCII, NUL-free column in two C calls."""
    try:
        joined = "".join([v for v in values if v is not None])
    except TypeError:  # not text: storable_text raises what to_row would
        return [storable_text(v) for v in values]
    if joined.isascii() and "\x00" not in joined:
        return values
    return [storable_text(v) for v in values]


def json_texts(mappings: Sequence[Mapping[Any, Any]]) -> list[str]:
    """:func:`_dumps` of every mapping (the same text).

    The batch is encoded in one orjson call and cut at the ``},{`` between the objects when
    that is where every one of them is (no text or nested value holds one): one call per row
    and a ``bytes`` result per row cost more than the encoding itself.
    """
    if _orjson is not None and mappings:
        try:
            text = _orjson.dumps(mappings, default=_json_default).decode()
        except TypeError:  # one needs another path (keys that are not text...): each its own
            return [_dumps(m) for m in mappings]
        parts = text[2:-2].split("},{")
        if len(parts) == len(mappings):
            return ["{" + part + "}" for part in parts]
        dumps = _orjson.dumps
        return [dumps(m, default=_json_default).decode() for m in mappings]
    return [_dumps(m) for m in mappings]


def rows_to_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """An Arrow table of log rows with exactly :func:`arrow_schema` (extra keys ignored)."""
    import pyarrow as pa

    schema = arrow_schema()
    return pa.Table.from_pydict(
        {name: [row.get(name) for row in rows] for name in schema.names}, schema=schema
    )


def expand(frame: pd.DataFrame, *, drop_json: bool = True) -> pd.DataFrame:
    """A frame of log rows with one column per entity key and per feature.

    Entity keys and features come out under their own names; a name that collides with a
    row column (``model``, ``score``...) gets a ``entity.`` / ``feature.`` prefix instead.
    """
    import pandas as pd

    out = frame.reset_index(drop=True)
    pieces = [out.drop(columns=["entities", "features"]) if drop_json else out]
    taken = set(pieces[0].columns)
    for column, prefix in (("entities", "entity."), ("features", "feature.")):
        if column not in out.columns:
            continue
        decoded = pd.DataFrame.from_records([json.loads(v) if v else {} for v in out[column]])
        decoded.index = out.index
        decoded.columns = [c if c not in taken else f"{prefix}{c}" for c in decoded.columns]
        taken.update(decoded.columns)
        pieces.append(decoded)
    return pd.concat(pieces, axis=1)
