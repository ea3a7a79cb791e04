"""One prediction request, from entity keys to answered rows: the serving hot path.

``PredictionService.predict`` reads the model's online features (one round trip), applies
request-time overrides and the model's missing-value policy, routes each row to a variant,
answers cached rows from the prediction cache, predicts the rest with one call per variant
(on the event loop, stacked with the calls of concurrent requests: :mod:`modelyard.serving.batching`),
hands its answers and columns to the prediction log (one call per request; rows are built
off the request path; rows the model raised on are logged too, with ``error`` set, before the request is answered
422) and hands shadow variants to a bounded pool (:mod:`modelyard.serving.shadows`). While the online store is down,
``serving.online_store_fallback`` may answer instead (see :mod:`modelyard.serving.fallback`).
Both HTTP protocols (v1 JSON and v2 Open Inference) call it, so they behave the same.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.artifacts.flavor import predict_with_proba
from modelyard.errors import (
    BadRequest,
    BatchTooLarge,
    ConfigError,
    ModelNotReady,
    ModelyardError,
    OnlineStoreUnavailable,
    PredictionFailed,
    RolloutError,
)
from modelyard.features.online.ondemand import no_request_data
from modelyard.serving.batching import ModelAnswer, ModelBatcher
from modelyard.serving.fallback import FALLBACKS, LastVectors, fallback_columns, row_keys
from modelyard.serving.frames import build_frame, is_missing
from modelyard.serving.shadows import ShadowPool

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.predictions.cache import PredictionCache
    from modelyard.predictions.log import PredictionLogger
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.serving.models import LoadedVersion, ModelTable, ServedModel

logger = logging.getLogger(__name__)

_NUMERIC = {"DOUBLE", "FLOAT", "INT64", "INT32"}
_ID_PREFIX = uuid.uuid4().hex[:16]
_ids = itertools.count()


def new_request_id() -> str:
    """A unique request id (32 hex characters): a per-process random prefix and a counter.

    ``uuid4()`` reads the OS random source on every call, which costs more than a cache hit.
    """
    return f"{_ID_PREFIX}{next(_ids) & 0xFFFFFFFFFFFFFFFF:016x}"


@dataclass
class RowAnswer:
    """The answer for one input row."""

    row: int
    request_id: str
    model: str
    version: int | None
    variant: str | None
    prediction: Any = None
    score: float | None = None
    cached: bool = False
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "row": self.row,
            "request_id": self.request_id,
            "model": self.model,
            "version": self.version,
            "variant": self.variant,
            "prediction": self.prediction,
            "score": self.score,
            "cached": self.cached,
        }
        if self.missing:
            out["missing"] = self.missing
        if self.error is not None:
            out["error"] = self.error
        if self.fallback is not None:
            out["fallback"] = self.fallback
        return out


@dataclass(slots=True)
class _FeatureRequest:
    """A checked request, between its checks and its feature read."""

    served: ServedModel
    entities: Mapping[str, Sequence[Any]] | None
    overrides: dict[str, Any]
    started: float
    #: request-time values for the model's on-demand views (RequestSource fields), as sent
    request_data: Mapping[str, Any] | None = None


@dataclass
class _Batch:
    """The rows of one request routed to one version."""

    loaded: LoadedVersion
    variant: str
    rows: list[int]


@dataclass(slots=True)
class _ModelCall:
    """The rows of a batch the cache did not answer: one call of the model."""

    batch: _Batch
    rows: list[int]
    cache_keys: list[str]  # the cache key of each row (empty without a cache)


@dataclass(slots=True)
class _Plan:
    """A request after routing and the cache: its answers so far and the model calls left."""

    request: _FeatureRequest
    served: ServedModel
    columns: dict[str, list[Any]]
    keys: list[str]  # entity keys ([] when every feature came with the request)
    answers: list[RowAnswer]
    fallback: str | None
    calls: list[_ModelCall] = field(default_factory=list)
    failures: list[_ModelRaised] = field(default_factory=list)


class _ModelRaised(Exception):
    """The model itself raised on some rows (not a modelyard error): carries what to log per row."""

    def __init__(self, model: str, version: int, exc: BaseException) -> None:
        self.row_error = f"{type(exc).__name__}: {exc}"
        super().__init__(f"model {model!r} v{version} failed on this input: {self.row_error}")


def _python(value: Any) -> Any:
    """numpy scalars -> Python scalars; NaN -> None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class PredictionService:
    """Answers prediction and feature requests for the models of a :class:`ModelTable`."""

    def __init__(
        self,
        table: ModelTable,
        *,
        cache: PredictionCache | None = None,
        prediction_log: PredictionLogger | None = None,
        metrics: ServingMetrics | None = None,
        max_batch: int = 1000,
        online_store_fallback: str = "error",
        remembered_entities: int = 100_000,
        batching: bool = True,
        shadow_workers: int = 2,
        shadow_queue: int = 100,
        shadow_drain_seconds: float = 10.0,
    ) -> None:
        if online_store_fallback not in FALLBACKS:
            raise ConfigError(
                f"expected one of {list(FALLBACKS)}, got {online_store_fallback!r}",
                key="serving.online_store_fallback",
            )
        if online_store_fallback == "cache" and cache is None:
            raise ConfigError(
                "'cache' answers from the prediction cache, which is turned off; set serving.cache "
                "or choose 'error' / 'default'",
                key="serving.online_store_fallback",
            )
        self.table = table
        self.cache = cache
        self.log = prediction_log
        self.metrics = metrics
        self.max_batch = max_batch
        self.online_store_fallback = online_store_fallback
        #: entity keys -> last feature vector, kept only for the ``cache`` fallback
        self.last_vectors = LastVectors(remembered_entities) if online_store_fallback == "cache" else None
        self._shadows = ShadowPool(
            workers=shadow_workers,
            max_queue=shadow_queue,
            drain_seconds=shadow_drain_seconds,
            on_drop=self._shadow_dropped,
        )
        #: stacks the model calls of concurrent requests (``predict_async`` only; see modelyard.serving.batching)
        self.batcher = (
            ModelBatcher(self._run_model, max_rows=max_batch, on_call=self._count_model_call)
            if batching
            else None
        )

    def close(self) -> None:
        """Finish queued shadow predictions (for up to ``shadow_drain_seconds``; the rest is dropped and counted)."""
        self._shadows.close()

    def _shadow_dropped(self, model: str, variant: str, rows: int, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.inc(self.metrics.shadow_dropped, model, variant, reason, amount=rows)
        if self.log is not None:
            self.log.record_loss(model, variant, "shadow", rows, reason)

    def _count_model_call(self, model: str, requests: int) -> None:
        if self.metrics is not None:
            self.metrics.observe(self.metrics.model_call_requests, requests, model)

    # -- features ----------------------------------------------------------------------------

    def _rows(
        self, served: ServedModel, entities: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None
    ) -> int:
        """Number of rows of a request, checked against ``max_batch`` before any I/O."""
        for source in (entities, overrides):
            if source:
                if not isinstance(source, Mapping):
                    raise BadRequest("'entities' and 'features' must be objects of columns: {name: [values]}")
                first = next(iter(source.values()))
                if isinstance(first, (list, tuple)) and len(first) > self.max_batch:
                    raise BatchTooLarge(
                        f"batch of {len(first)} rows exceeds serving.max_batch = {self.max_batch}; "
                        "split the request or raise serving.max_batch in modelyard.yaml"
                    )
        return 0

    async def features_async(
        self,
        model: str,
        entities: Mapping[str, Sequence[Any]] | None,
        overrides: Mapping[str, Sequence[Any]] | None = None,
        request_data: Mapping[str, Any] | None = None,
    ) -> tuple[ServedModel, dict[str, list[Any]], int]:
        """The online vectors of ``model`` as the model sees them: (served model, columns, rows).

        The store read is awaited, so the event loop serves other requests meanwhile when
        the reader can (see ``OnlineReader.read_async``).
        """
        request = self._feature_request(model, entities, overrides, request_data)
        columns, down = await self._read_async(request)
        served, columns, n, _ = self._complete(request, columns, down, fallback=False)
        return served, columns, n

    def _feature_request(
        self,
        model: str,
        entities: Mapping[str, Sequence[Any]] | None,
        overrides: Mapping[str, Sequence[Any]] | None,
        request_data: Mapping[str, Any] | None = None,
    ) -> _FeatureRequest:
        """Check a request before any I/O: known model, batch size, override names, request data."""
        served = self.table.get(model)
        no_request_data(served.reader, request_data)
        self._rows(served, entities, overrides)
        names = served.feature_names
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise BadRequest(f"unknown feature(s) {unknown} for model {model!r}; its features: {names}")
        return _FeatureRequest(served, entities, overrides, time.perf_counter(), request_data)

    @staticmethod
    def _read(request: _FeatureRequest) -> tuple[dict[str, list[Any]] | None, OnlineStoreUnavailable | None]:
        """The store's columns for the request's entities (``None`` without entities), or why the store is down."""
        if not request.entities:
            return None, None
        try:
            reader = request.served.reader
            if reader.request_fields:
                return reader.read(request.entities, request.request_data), None
            return reader.read(request.entities), None
        except OnlineStoreUnavailable as down:
            return None, down

    @staticmethod
    async def _read_async(
        request: _FeatureRequest,
    ) -> tuple[dict[str, list[Any]] | None, OnlineStoreUnavailable | None]:
        """:meth:`_read` through the reader's ``read_async``."""
        if not request.entities:
            return None, None
        try:
            reader = request.served.reader
            if reader.request_fields:
                return await reader.read_async(request.entities, request.request_data), None
            return await reader.read_async(request.entities), None
        except OnlineStoreUnavailable as down:
            return None, down

    def _complete(
        self,
        request: _FeatureRequest,
        columns: dict[str, list[Any]] | None,
        down: OnlineStoreUnavailable | None,
        *,
        fallback: bool,
    ) -> tuple[ServedModel, dict[str, list[Any]], int, str | None]:
        """The request's columns after the read: fallback, overrides; plus which fallback answered.

        ``None`` for the fallback means the store answered (see modelyard.serving.fallback).
        """
        served, entities, overrides = request.served, request.entities, request.overrides
        model = served.name
        names = served.feature_names
        used: str | None = None
        if entities:
            if down is not None:
                if not fallback or self.online_store_fallback == "error":
                    raise down
                columns = fallback_columns(
                    served,
                    entities,
                    self.online_store_fallback,
                    self.last_vectors,
                    down,
                    request.request_data,
                )
                used = self.online_store_fallback
            elif self.metrics is not None:
                self.metrics.observe(
                    self.metrics.feature_latency,
                    time.perf_counter() - request.started,
                    model,
                    served.reader.store_label,
                )
            assert columns is not None
            n = len(next(iter(columns.values())))
            if self.last_vectors is not None and used is None:
                rows = row_keys(served, entities, request.request_data)
                self.last_vectors.remember(model, rows, names, columns)
        elif overrides and set(overrides) == set(names):
            n = self._override_rows(overrides)
            columns = {}
        else:
            missing = [n for n in names if n not in overrides]
            raise BadRequest(
                f"give the entity keys {list(served.reader.entity_keys)} of model {model!r}, or every feature "
                f"directly (missing: {missing})"
            )
        if overrides:
            if self._override_rows(overrides) != n:
                raise BadRequest(
                    f"feature overrides have {self._override_rows(overrides)} rows but the entities have {n}"
                )
            types = dict(served.schema.fields)
            for name, values in overrides.items():
                _check_values(name, values, types[name])
                columns[name] = list(values)
        return served, columns, n, used

    @staticmethod
    def _override_rows(overrides: Mapping[str, Any]) -> int:
        lengths = set()
        for name, values in overrides.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
                raise BadRequest(f"feature {name!r} must be a list of values (one per row)")
            lengths.add(len(values))
        if len(lengths) != 1:
            raise BadRequest(f"feature overrides have different lengths: {sorted(lengths)}")
        return lengths.pop()

    # -- predictions -------------------------------------------------------------------------

    def predict(
        self,
        model: str,
        entities: Mapping[str, Sequence[Any]] | None,
        *,
        overrides: Mapping[str, Sequence[Any]] | None = None,
        request_id: str | None = None,
        routing_key: str | None = None,
        version: int | None = None,
        request_data: Mapping[str, Any] | None = None,
    ) -> list[RowAnswer]:
        """Answer every row of one request (see the module docstring)."""
        request = self._feature_request(model, entities, overrides, request_data)
        columns, down = self._read(request)
        plan = self._plan(request, columns, down, request_id, routing_key, version)
        for call in plan.calls:
            self._settle(plan, call, self._outcome(plan, call))
        return self._finish(plan)

    async def predict_async(
        self,
        model: str,
        entities: Mapping[str, Sequence[Any]] | None,
        *,
        overrides: Mapping[str, Sequence[Any]] | None = None,
        request_id: str | None = None,
        routing_key: str | None = None,
        version: int | None = None,
        request_data: Mapping[str, Any] | None = None,
    ) -> list[RowAnswer]:
        """:meth:`predict` for an event loop: while the feature read waits on the store, the loop
        serves other requests. The model runs on the loop (quicker than a thread hop), its calls
        stacked with those of the other requests ready in the same loop iteration
        (:class:`~modelyard.serving.batching.ModelBatcher`) unless batching is off.
        """
        request = self._feature_request(model, entities, overrides, request_data)
        columns, down = await self._read_async(request)
        plan = self._plan(request, columns, down, request_id, routing_key, version)
        for call in plan.calls:
            if self.batcher is None:
                self._settle(plan, call, self._outcome(plan, call))
                continue
            try:
                outcome: ModelAnswer | _ModelRaised = await self.batcher.predict(
                    plan.served, call.batch.loaded, plan.columns, call.rows
                )
            except _ModelRaised as exc:
                outcome = exc
            self._settle(plan, call, outcome)
        return self._finish(plan)

    def _outcome(self, plan: _Plan, call: _ModelCall) -> ModelAnswer | _ModelRaised:
        """The model's answers to one call, or how it failed on the call's rows."""
        try:
            return self._run_model(plan.served, call.batch.loaded, plan.columns, call.rows)
        except _ModelRaised as exc:
            return exc

    def _plan(
        self,
        request: _FeatureRequest,
        columns: dict[str, list[Any]] | None,
        down: OnlineStoreUnavailable | None,
        request_id: str | None,
        routing_key: str | None,
        version: int | None,
    ) -> _Plan:
        """Missing values, routing and the cache: the answers so far and the model calls left to make."""
        rid = request_id or new_request_id()
        served, columns, n, fallback = self._complete(request, columns, down, fallback=True)
        names = served.feature_names
        keys = list(served.reader.entity_keys) if request.entities else []
        answers = [
            RowAnswer(
                row=i,
                request_id=rid if n == 1 else f"{rid}:{i}",
                model=served.name,
                version=None,
                variant=None,
                fallback=fallback,
            )
            for i in range(n)
        ]
        usable = self._apply_missing_policy(served, columns, names, answers)
        batches = self._route(
            served, columns, keys, usable, rid, routing_key, version, answers, shadows=fallback is None
        )
        data, fields = request.request_data, list(served.reader.request_fields)
        if keys and fields and isinstance(data, Mapping) and all(len(data.get(f) or ()) == n for f in fields):
            # request data are logged beside the entity keys: the training frame of a logged row needs them
            columns.update({f: list(data[f]) for f in fields})
            keys = [*keys, *fields]
        plan = _Plan(request, served, columns, keys, answers, fallback)
        for batch in batches.values():
            call = self._cached(served, batch, columns, names, answers, cache_only=fallback == "cache")
            if call.rows:
                plan.calls.append(call)
        return plan

    def _finish(self, plan: _Plan) -> list[RowAnswer]:
        """Log and count the request's rows; raise :class:`PredictionFailed` if the model failed on any."""
        served, answers, fallback = plan.served, plan.answers, plan.fallback
        model = served.name
        elapsed = time.perf_counter() - plan.request.started
        mode = "live"
        if fallback is not None:
            mode = f"fallback:{fallback}"
            if self.metrics is not None:
                self.metrics.inc(self.metrics.fallback_rows, model, fallback, amount=len(answers))
        self._record(served, plan.columns, plan.keys, served.feature_names, answers, elapsed, mode=mode)
        if self.metrics is not None and answers:
            first = answers[0]
            self.metrics.observe(self.metrics.latency, elapsed, model, str(first.version), str(first.variant))
        if plan.failures:
            raise PredictionFailed("; ".join(str(exc) for exc in plan.failures))
        return answers

    def _apply_missing_policy(
        self, served: ServedModel, columns: dict[str, list[Any]], names: list[str], answers: list[RowAnswer]
    ) -> list[int]:
        """Note missing features per row, fill declared defaults, and return the rows to predict."""
        policy = served.config.missing_values
        defaults = policy.defaults if policy.policy == "default" else {}
        usable = []
        counted = 0
        for i, answer in enumerate(answers):
            missing = [name for name in names if is_missing(columns[name][i])]
            if missing:
                counted += 1
                answer.missing = missing
                if policy.policy == "reject":
                    answer.error = f"missing feature values {missing} (model {served.name!r} rejects rows with missing features)"
                    continue
                for name in missing:
                    if name in defaults:
                        columns[name][i] = defaults[name]
            usable.append(i)
        if counted and self.metrics is not None:
            self.metrics.inc(self.metrics.missing_rows, served.name, policy.policy, amount=counted)
        return usable

    def _route(
        self,
        served: ServedModel,
        columns: dict[str, list[Any]],
        keys: list[str],
        rows: list[int],
        rid: str,
        routing_key: str | None,
        pinned: int | None,
        answers: list[RowAnswer],
        *,
        shadows: bool = True,
    ) -> dict[tuple[int, str], _Batch]:
        """Group rows by the variant that answers them; queue shadow variants unless ``shadows`` is off."""
        batches: dict[tuple[int, str], _Batch] = {}
        shadow_rows_of: dict[tuple[int, str], list[int]] = {}
        for i in rows:
            if pinned is not None:
                version, variant = int(pinned), f"v{int(pinned)}"
                if pinned not in served.versions:
                    raise ModelNotReady(
                        f"version {pinned} of model {served.name!r} is not served here; "
                        f"served versions: {sorted(served.versions)}"
                    )
            else:
                try:
                    decision = self.table.decide(
                        served.name,
                        routing_key=routing_key,
                        entities={k: columns[k][i] for k in keys},
                        request_id=answers[i].request_id,
                    )
                except RolloutError as exc:
                    raise ModelNotReady(f"model {served.name!r} cannot answer: {exc}") from None
                version, variant = int(decision.live.version), decision.live.name
                for shadow in decision.shadows if shadows else ():
                    shadow_rows_of.setdefault((int(shadow.version), shadow.name), []).append(i)
            batch = batches.get((version, variant))
            if batch is None:
                try:
                    loaded = self.table.version(served, version)
                except ModelyardError as exc:
                    raise ModelNotReady(
                        f"model {served.name!r} v{version} could not be loaded: {exc}"
                    ) from None
                batch = batches[(version, variant)] = _Batch(loaded, variant, [])
            batch.rows.append(i)
        for (version, variant), shadow_rows in shadow_rows_of.items():
            self._shadows.submit(
                served.name,
                variant,
                len(shadow_rows),
                functools.partial(
                    self._shadow, served, version, variant, columns, keys, shadow_rows, answers
                ),
            )
        return batches

    def _cached(
        self,
        served: ServedModel,
        batch: _Batch,
        columns: dict[str, list[Any]],
        names: list[str],
        answers: list[RowAnswer],
        *,
        cache_only: bool = False,
    ) -> _ModelCall:
        """Answer what the cache holds of one batch; the rest is the model call to make.

        Raises :class:`OnlineStoreUnavailable` for rows without a cached answer when
        ``cache_only`` (the ``cache`` fallback while the store is down).
        """
        loaded = batch.loaded
        version = loaded.version
        todo = batch.rows
        keys: list[str] = []
        if self.cache is not None:
            from modelyard.predictions.cache import cache_key

            keys = [cache_key(served.name, version, [columns[f][i] for f in names]) for i in todo]
            hits = self.cache.get_many(keys)
            todo = []
            misses: list[str] = []
            for i, key, hit in zip(batch.rows, keys, hits, strict=True):
                answer = answers[i]
                answer.version, answer.variant = version, batch.variant
                if hit is None:
                    todo.append(i)
                    misses.append(key)
                else:
                    answer.prediction, answer.score, answer.cached = hit.prediction, hit.score, True
            keys = misses
            if self.metrics is not None:
                hit_count = len(batch.rows) - len(todo)
                if hit_count:
                    self.metrics.inc(self.metrics.cache_hits, served.name, amount=hit_count)
                if todo:
                    self.metrics.inc(self.metrics.cache_misses, served.name, amount=len(todo))
        if todo and cache_only:
            raise OnlineStoreUnavailable(
                f"the Feast online store ({served.reader.store_label}) is unreachable and {len(todo)} row(s) "
                f"have no cached answer from model {served.name!r} v{version} "
                "(serving.online_store_fallback: cache)"
            )
        return _ModelCall(batch, todo, keys)

    def _settle(self, plan: _Plan, call: _ModelCall, outcome: ModelAnswer | _ModelRaised) -> None:
        """Put a model call's answers on its rows and in the cache; or, if the model raised, the
        error on its rows (they are logged, then the request is answered 422)."""
        answers = plan.answers
        version, variant = call.batch.loaded.version, call.batch.variant
        if isinstance(outcome, _ModelRaised):
            for i in call.rows:
                answer = answers[i]
                answer.version, answer.variant, answer.error = version, variant, outcome.row_error
            plan.failures.append(outcome)
            return
        predictions, scores = outcome
        for j, i in enumerate(call.rows):
            answer = answers[i]
            answer.version, answer.variant = version, variant
            answer.prediction = predictions[j]
            answer.score = scores[j] if scores is not None else None
        if self.cache is not None:
            from modelyard.predictions.cache import CachedPrediction

            self.cache.put_many(
                [
                    (key, CachedPrediction(answers[i].prediction, answers[i].score))
                    for key, i in zip(call.cache_keys, call.rows, strict=True)
                ]
            )

    def _run_model(
        self,
        served: ServedModel,
        loaded: LoadedVersion,
        columns: Mapping[str, Sequence[Any]],
        rows: Sequence[int],
    ) -> tuple[list[Any], list[Any] | None]:
        """One model call: a prediction (and a score, for classifiers) per row, or :class:`_ModelRaised`."""
        try:
            if loaded.columnar is not None:
                predictions, scores = loaded.columnar(columns, rows)
                if served.config.task != "classification":
                    scores = None
                predictions = [_python(v) for v in predictions]
            else:
                frame = build_frame(columns, served.schema, rows, only=loaded.predictor.feature_names)
                scores = None
                if served.config.task == "classification":  # one pass through a pipeline's transformers
                    labels, proba = predict_with_proba(loaded.predictor, frame)
                    if proba is not None:
                        scores = [_python(v) for v in proba]
                else:
                    labels = loaded.predictor.predict(frame)
                predictions = [_python(v) for v in labels]
            # answers are handed out by position: a model that returns another number of them
            # (a 2-D output raveled, a buggy plugin) would answer rows with other rows' values
            for name, values in (("predictions", predictions), ("scores", scores)):
                if values is not None and len(values) != len(rows):
                    raise ValueError(f"the model returned {len(values)} {name} for {len(rows)} rows")
        except ModelyardError:
            raise
        except Exception as exc:  # the model's own error, logged and reported to the caller
            raise _ModelRaised(served.name, loaded.version, exc) from exc
        return predictions, scores

    # -- shadows and logging -------------------------------------------------------------------

    def _shadow(
        self,
        served: ServedModel,
        version: int,
        variant: str,
        columns: dict[str, list[Any]],
        keys: list[str],
        rows: list[int],
        live: list[RowAnswer],
    ) -> None:
        start = time.perf_counter()
        answers = [
            RowAnswer(
                row=i, request_id=live[i].request_id, model=served.name, version=version, variant=variant
            )
            for i in rows
        ]
        try:
            loaded = self.table.version(served, version)
            predictions, scores = self._run_model(served, loaded, columns, rows)
            for j, answer in enumerate(answers):
                answer.prediction = predictions[j]
                answer.score = scores[j] if scores is not None else None
        except Exception as exc:  # noqa: BLE001 - a failing shadow never affects the caller
            error = exc.row_error if isinstance(exc, _ModelRaised) else f"{type(exc).__name__}: {exc}"
            for answer in answers:
                answer.error = error
        elapsed = time.perf_counter() - start
        by_row = {a.row: a for a in answers}
        self._record(
            served, columns, keys, served.feature_names, [by_row[i] for i in rows], elapsed, mode="shadow"
        )

    def _record(
        self,
        served: ServedModel,
        columns: dict[str, list[Any]],
        keys: list[str],
        names: list[str],
        answers: list[RowAnswer],
        elapsed: float,
        *,
        mode: str,
    ) -> None:
        if self.metrics is not None:
            counts: dict[tuple[str, str], int] = {}
            for a in answers:
                if a.error is None and a.version is not None:
                    label = (str(a.version), str(a.variant))
                    counts[label] = counts.get(label, 0) + 1
            for (version, variant), count in counts.items():
                self.metrics.inc(self.metrics.predictions, served.name, version, variant, amount=count)
        if self.log is None:
            return
        # one call per request, nothing built per row: the log keeps the answers and columns
        # (neither changes once the request is answered) and turns them into rows off the request path
        self.log.log_answers(
            served.name, mode, answers, columns, keys, names, elapsed * 1000.0 / max(1, len(answers))
        )


def _check_values(name: str, values: Sequence[Any], value_type: str) -> None:
    """Request-time feature values must match the feature's type (numbers for numeric features...)."""
    for v in values:
        if v is None:
            continue
        if value_type in _NUMERIC:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise BadRequest(f"feature {name!r} takes numbers, got {v!r} ({type(v).__name__})")
            if value_type in ("INT64", "INT32") and isinstance(v, float) and not v.is_integer():
                raise BadRequest(f"feature {name!r} takes integers, got {v!r}")
        elif value_type == "BOOL":
            if not isinstance(v, bool):
                raise BadRequest(f"feature {name!r} takes true/false, got {v!r}")
        elif value_type == "STRING" and not isinstance(v, str):
            raise BadRequest(f"feature {name!r} takes strings, got {v!r} ({type(v).__name__})")
