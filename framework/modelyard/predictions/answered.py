"""AnsweredRows: the rows of one request as the server hands them to the prediction log, and
their Arrow table.

A request's answers and its feature columns already exist when it is answered; the log keeps
references to them (:class:`AnsweredRows`, one small object per request) instead of a
:class:`~modelyard.predictions.records.PredictionRecord` and two dicts per row. The writer
thread turns a batch of them into one Arrow table of
:func:`~modelyard.predictions.records.arrow_schema` (:func:`answered_to_table`), column by
column, with the common types recognised in a few C calls. The rows it gives equal the
:meth:`PredictionRecord.to_row` rows of :meth:`AnsweredRows.records` (tested), which is also
the path the logger falls back on to find a row that cannot be stored.

Import-light: only the standard library at import time (pyarrow inside functions).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from modelyard.predictions.records import (
    PredictionRecord,
    arrow_schema,
    json_texts,
    prediction_columns,
    storable_text,
    storable_texts,
    stored_score,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class Answer(Protocol):
    """What the log reads of one answered row (the server's ``RowAnswer`` has these)."""

    @property
    def row(self) -> int:
        """The row's position in the request's columns."""

    @property
    def request_id(self) -> str: ...
    @property
    def version(self) -> Any: ...
    @property
    def variant(self) -> str | None: ...
    @property
    def prediction(self) -> Any: ...
    @property
    def score(self) -> Any: ...
    @property
    def cached(self) -> Any: ...
    @property
    def error(self) -> str | None: ...


class AnsweredRows(NamedTuple):
    """The answered rows of one request (or one shadow call) of ``model``, as the log keeps them.

    ``answers`` are the rows' answers; each one's ``row`` indexes the request's columns:
    ``entity_columns[k]`` for each of ``entity_keys`` (and logged request fields), and
    ``feature_columns[f]`` for each of ``feature_names``. These are references, not copies:
    the caller must not change them after handing them over. An answer without a version or
    variant (a row refused before routing) is logged as version 0, variant ``"none"``.
    ``latency_ms`` is each row's share of the request's time; ``time_us`` the time it was
    answered (microseconds since the Unix epoch, UTC).

    A tuple, so that the request path can make one for the price of a tuple
    (``tuple.__new__(AnsweredRows, fields)``, a few times cheaper than calling the class).
    """

    model: str
    mode: str
    answers: Sequence[Answer]
    entity_columns: Mapping[Any, Sequence[Any]]
    entity_keys: Sequence[Any]
    feature_columns: Mapping[Any, Sequence[Any]]
    feature_names: Sequence[Any]
    latency_ms: float
    time_us: int

    def timestamp(self) -> datetime:
        """``time_us`` as an aware UTC datetime."""
        return _EPOCH + timedelta(microseconds=self.time_us)

    def record(self, answer: Answer) -> PredictionRecord:
        """One of the answers as a :class:`PredictionRecord` (for ``on_prediction`` plugins and
        for isolating a row that cannot be stored)."""
        i = answer.row
        entities, features = self.entity_columns, self.feature_columns
        return PredictionRecord(
            request_id=answer.request_id,
            model=self.model,
            version=int(answer.version or 0),
            prediction=answer.prediction,
            entities={k: entities[k][i] for k in self.entity_keys},
            features={f: features[f][i] for f in self.feature_names},
            variant=answer.variant or "none",
            mode=self.mode,  # type: ignore[arg-type]
            score=answer.score,
            latency_ms=self.latency_ms,
            cache_hit=answer.cached,
            error=answer.error,
            timestamp=self.timestamp(),
        )

    def records(self) -> Iterator[PredictionRecord]:
        """Every answer as a :class:`PredictionRecord`, in order."""
        return (self.record(a) for a in self.answers)


def now_us() -> int:
    """The current time in microseconds since the Unix epoch."""
    return time.time_ns() // 1000


class _RecordAnswer(NamedTuple):
    """A :class:`PredictionRecord`'s per-row fields, read as an :class:`Answer`."""

    row: int
    request_id: str
    version: Any
    variant: str | None
    prediction: Any
    score: Any
    cached: Any
    error: str | None


def record_rows(record: PredictionRecord) -> AnsweredRows:
    """A record as one answered row (what :func:`records_to_table` converts)."""
    entities, features = record.entities, record.features
    ts = record.timestamp
    if ts.tzinfo is None:  # naive means UTC, as in to_row
        ts = ts.replace(tzinfo=timezone.utc)
    return AnsweredRows(
        model=record.model,
        mode=record.mode,
        answers=(
            _RecordAnswer(
                0,
                record.request_id,
                record.version,
                record.variant,
                record.prediction,
                record.score,
                record.cache_hit,
                record.error,
            ),
        ),
        entity_columns={k: (v,) for k, v in entities.items()},
        entity_keys=list(entities),
        feature_columns={k: (v,) for k, v in features.items()},
        feature_names=list(features),
        latency_ms=record.latency_ms,
        time_us=(ts - _EPOCH) // _MICROSECOND,
    )


def records_to_table(records: Sequence[PredictionRecord]) -> pa.Table:
    """The Arrow table of ``records``' rows: equal to ``rows_to_table([r.to_row() for r in records])``."""
    return answered_to_table([record_rows(r) for r in records])


_FLOAT = frozenset({float})
_NUMBER = frozenset({float, int})
_SCORE = frozenset({float, type(None)})
_INT = frozenset({int})
_BOOL = frozenset({bool})


def answered_to_table(batches: Sequence[AnsweredRows]) -> pa.Table:
    """One Arrow table of every row of ``batches``, in order (schema :func:`arrow_schema`).

    The writer thread shares the GIL with the requests, so each column is one pass over the
    answers, checked for its common types in a few C calls (all floats, all ASCII text...)
    and handed to Arrow whole; a column holding something else goes value by value through
    the helpers :meth:`PredictionRecord.to_row` uses. Raises what ``to_row`` or Arrow would
    for a row that cannot be stored (the logger then isolates it).
    """
    import pyarrow as pa

    schema = arrow_schema()
    answers = [a for b in batches for a in b.answers]
    n = len(answers)
    counts = None if n == len(batches) else [len(b.answers) for b in batches]

    def per_row(values: list[Any]) -> list[Any]:
        """A value per batch repeated for each of its rows."""
        return values if counts is None else list(chain.from_iterable(map(repeat, values, counts)))

    prediction, label = _prediction_arrays([a.prediction for a in answers])
    entities, features = _mappings(batches)
    scores = [a.score for a in answers]
    latencies = per_row([b.latency_ms for b in batches])
    models = [b.model for b in batches]
    modes = [b.mode for b in batches]
    versions = [a.version for a in answers]
    variants = [a.variant for a in answers]
    errors = [a.error for a in answers]
    hits = [a.cached for a in answers]
    f64, text = pa.float64(), pa.string()
    if None in variants:
        variants = ["none" if v is None else v for v in variants]
    columns: dict[str, Any] = {
        "request_id": storable_texts([a.request_id for a in answers]),
        "timestamp": per_row([b.time_us for b in batches]),
        "model": _repeated(models, n, text) or per_row(models),
        "version": versions if set(map(type, versions)) <= _INT else [int(v or 0) for v in versions],
        "variant": _repeated(variants, n, text) or storable_texts(variants),
        "mode": _repeated(modes, n, text) or per_row(modes),
        "entities": json_texts(entities),
        "features": json_texts(features),
        "prediction": prediction,
        "prediction_label": label,
        "score": pa.array(scores, f64, from_pandas=True)
        if set(map(type, scores)) <= _SCORE
        else pa.array([stored_score(s) for s in scores], f64),
        "latency_ms": latencies if set(map(type, latencies)) <= _FLOAT else [float(x) for x in latencies],
        "cache_hit": hits if set(map(type, hits)) <= _BOOL else [bool(h) for h in hits],
        "error": pa.nulls(n, text) if errors.count(None) == n else storable_texts(errors),
    }
    return pa.Table.from_arrays(
        [
            v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v, schema.field(k).type)
            for k, v in columns.items()
        ],
        schema=schema,
    )


def _repeated(values: list[Any], n: int, kind: pa.DataType) -> pa.Array | None:
    """``n`` rows of one value when ``values`` (per batch or per row) are all that value (a
    batch's model, mode, variant...): one Arrow call instead of one conversion per row."""
    import pyarrow as pa

    if not values or values.count(values[0]) != len(values):
        return None
    first = values[0]
    return pa.repeat(pa.scalar(storable_text(first) if kind == pa.string() else first, kind), n)


def _prediction_arrays(predictions: list[Any]) -> tuple[pa.Array, pa.Array]:
    """The ``prediction`` and ``prediction_label`` columns of ``predictions``."""
    import pyarrow as pa

    f64 = pa.float64()
    kinds = set(map(type, predictions))
    if kinds <= _NUMBER:  # NaN is stored as null (from_pandas), as to_row's _clean does
        values = predictions if kinds <= _FLOAT else [float(p) for p in predictions]
        return pa.array(values, f64, from_pandas=True), pa.nulls(len(predictions), pa.string())
    pairs = [prediction_columns(p) for p in predictions]
    return pa.array([p for p, _ in pairs], f64), pa.array([lab for _, lab in pairs], pa.string())


def _mappings(batches: Sequence[AnsweredRows]) -> tuple[list[dict[Any, Any]], list[dict[Any, Any]]]:
    """Each row's ``{key: value}`` of its entity keys, and of its features (the JSON columns)."""
    entities: list[dict[Any, Any]] = []
    features: list[dict[Any, Any]] = []
    add_entities, add_features = entities.append, features.append
    for _, _, answers, ecols, keys, fcols, names, _, _ in batches:
        if len(answers) != 1:
            for a in answers:
                i = a.row
                add_entities({k: ecols[k][i] for k in keys})
                add_features({f: fcols[f][i] for f in names})
            continue
        i = answers[0].row  # the usual request: one row, often one entity key
        if len(keys) == 1:
            key = keys[0]
            add_entities({key: ecols[key][i]})
        else:
            add_entities({k: ecols[k][i] for k in keys})
        add_features({f: fcols[f][i] for f in names})
    return entities, features
