"""PredictionRecord: one logged prediction, and its flat row form shared by every log sink.

A record is what the server (live and shadow variants) and batch scoring hand to the
:class:`~modelyard.predictions.log.PredictionLogger`. Sinks store :meth:`PredictionRecord.to_row`
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


def _dumps(mapping: Mapping[str, Any]) -> str:
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


def _prediction_columns(value: Any) -> tuple[float | None, str | None]:
    """A prediction as its two stored columns: ``prediction`` (numbers, booleans as 0/1) and
    ``prediction_label`` (anything else, as text); NaN and ``None`` leave both empty."""
    prediction = _clean(value)
    if isinstance(prediction, bool):
        return float(prediction), None
    if isinstance(prediction, (int, float)):
        return float(prediction), None
    return None, None if prediction is None else storable_text(str(prediction))


def _score(value: Any) -> float | None:
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

        :func:`records_to_table` builds the same values column by column for a batch.
        """
        prediction, label = _prediction_columns(self.prediction)
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
            "score": _score(self.score),
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


_FLOAT = frozenset({float})
_NUMBER = frozenset({float, int})
_SCORE = frozenset({float, type(None)})
_INT = frozenset({int})
_BOOL = frozenset({bool})


def records_to_table(records: Sequence[PredictionRecord]) -> pa.Table:
    """The Arrow table of ``records``' rows: equal to ``rows_to_table([r.to_row() for r in records])``.

    The prediction log's writer thread shares the GIL with the requests, so a batch is
    converted column by column: one pass per column over the records, each column checked
    for its common types in a few C calls (all floats, all ASCII text...) and handed to
    Arrow whole; only a column holding something else goes value by value through the
    helpers :meth:`PredictionRecord.to_row` uses. Raises what ``to_row`` or Arrow would for a
    record that cannot be stored (the logger then isolates it).
    """
    import pyarrow as pa

    schema = arrow_schema()
    f64 = pa.float64()
    predictions = [r.prediction for r in records]
    kinds = set(map(type, predictions))
    if kinds <= _NUMBER:  # NaN is stored as null (from_pandas), as to_row's _clean does
        prediction = pa.array(
            predictions
            if kinds <= _FLOAT
            else [float(p) for p in predictions if isinstance(p, (int, float))],
            f64,
            from_pandas=True,
        )
        label = pa.nulls(len(records), pa.string())
    else:
        pairs = [_prediction_columns(p) for p in predictions]
        prediction = pa.array([p for p, _ in pairs], f64)
        label = pa.array([lab for _, lab in pairs], pa.string())
    scores = [r.score for r in records]
    latencies = [r.latency_ms for r in records]
    versions = [r.version for r in records]
    hits = [r.cache_hit for r in records]
    columns = {
        "request_id": _storable_texts([r.request_id for r in records]),
        "timestamp": [r.timestamp for r in records],  # Arrow converts aware times to UTC, naive = UTC
        "model": [r.model for r in records],
        "version": versions if set(map(type, versions)) <= _INT else [int(v) for v in versions],
        "variant": _storable_texts([r.variant for r in records]),
        "mode": [r.mode for r in records],
        "entities": _dumps_all([r.entities for r in records]),
        "features": _dumps_all([r.features for r in records]),
        "prediction": prediction,
        "prediction_label": label,
        "score": pa.array(scores, f64, from_pandas=True)
        if set(map(type, scores)) <= _SCORE
        else pa.array([_score(s) for s in scores], f64),
        "latency_ms": latencies if set(map(type, latencies)) <= _FLOAT else [float(x) for x in latencies],
        "cache_hit": hits if set(map(type, hits)) <= _BOOL else [bool(h) for h in hits],
        "error": _storable_texts([r.error for r in records]),
    }
    return pa.Table.from_arrays(
        [
            v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v, schema.field(k).type)
            for k, v in columns.items()
        ],
        schema=schema,
    )


def _storable_texts(values: list[Any]) -> list[Any]:
    """:func:`storable_text` of every value; the common all-ASCII, NUL-free column in two C calls."""
    try:
        joined = "".join([v for v in values if v is not None])
    except TypeError:  # not text: storable_text raises what to_row would
        return [storable_text(v) for v in values]
    if joined.isascii() and "\x00" not in joined:
        return values
    return [storable_text(v) for v in values]


def _dumps_all(mappings: list[Mapping[str, Any]]) -> list[Any]:
    """:func:`_dumps` of every mapping.

    Each text is decoded at once: a list of orjson's own ``bytes`` results costs several
    times the encoding itself (their buffers are oversized), short ``str`` copies do not.
    """
    if _orjson is not None:
        dumps = _orjson.dumps
        try:
            return [dumps(m, default=_json_default).decode() for m in mappings]
        except TypeError:  # one needs another path (keys that are not text...): each its own
            pass
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
