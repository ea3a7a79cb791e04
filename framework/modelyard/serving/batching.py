"""Adaptive batching: the model calls of concurrent requests, made as one call.

Most of a small model call is fixed cost: onnxruntime walks its whole graph and converts
every input, scikit-learn validates its input and runs each pipeline step, whatever the
number of rows. Eight rows cost about what one does. When a worker has several requests in
flight, their feature reads come back in the same event-loop iteration (the Redis wire
sends them together and Redis answers them together), so their model calls are ready
together as well.

:class:`ModelBatcher` collects the calls made to one model version during one loop
iteration and makes them as one call on their rows stacked (up to ``max_rows``), then hands
each request its own slice of the answers. It never waits for more requests to come: a
request alone is predicted in the very next loop iteration, so latency at low load stays
what it was, and only the fixed cost is shared when load is high (the idea of MLServer's
adaptive batching and Triton's dynamic batching, without their batching delay).

Errors stay with the requests that caused them: when a stacked call raises, its requests are
split in halves and each half tried again, down to single requests, so only requests whose
rows fail see the error. Whatever goes wrong, every waiting request gets an answer or an
exception: none is left waiting on a future nobody will set.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.serving.models import LoadedVersion, ServedModel

logger = logging.getLogger(__name__)

#: (predictions, scores or None), one per row
ModelAnswer = tuple[list[Any], list[Any] | None]
#: what makes a model call: (served model, loaded version, feature columns, rows) -> answers
RunModel = Callable[["ServedModel", "LoadedVersion", Mapping[str, Sequence[Any]], Sequence[int]], ModelAnswer]


@dataclass(slots=True)
class _Call:
    """One request's model call, waiting for the end of the loop iteration."""

    served: ServedModel
    loaded: LoadedVersion
    columns: Mapping[str, Sequence[Any]]
    rows: Sequence[int]
    future: asyncio.Future[ModelAnswer]


class ModelBatcher:
    """Stacks the model calls made to one model version in one event-loop iteration.

    ``run`` makes a model call; ``on_call(model, requests)`` (optional) is told how many
    requests each call it makes answers, for metrics.
    """

    def __init__(
        self,
        run: RunModel,
        *,
        max_rows: int = 1000,
        on_call: Callable[[str, int], None] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.run = run
        self.max_rows = max_rows
        self.on_call = on_call
        # per event loop: (served model, loaded version) -> calls queued in the current iteration
        self._queues: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[int, int], list[_Call]]
        ] = weakref.WeakKeyDictionary()

    async def predict(
        self,
        served: ServedModel,
        loaded: LoadedVersion,
        columns: Mapping[str, Sequence[Any]],
        rows: Sequence[int],
    ) -> ModelAnswer:
        """``run(served, loaded, columns, rows)``, made together with the other calls of this iteration."""
        loop = asyncio.get_running_loop()
        queues = self._queues.get(loop)
        if queues is None:
            queues = self._queues[loop] = {}
        # the very objects, not their names: a reload may swap them in the middle of an iteration
        key = (id(served), id(loaded))
        queue = queues.get(key)
        if queue is None:
            queue = queues[key] = []
            loop.call_soon(self._flush, queues, key)
        future: asyncio.Future[ModelAnswer] = loop.create_future()
        queue.append(_Call(served, loaded, columns, rows, future))
        return await future

    def _flush(self, queues: dict[tuple[int, int], list[_Call]], key: tuple[int, int]) -> None:
        calls = [c for c in queues.pop(key) if not c.future.done()]  # a cancelled request drops out
        try:
            group: list[_Call] = []
            size = 0
            for call in calls:
                if group and size + len(call.rows) > self.max_rows:
                    self._run_group(group)
                    group, size = [], 0
                group.append(call)
                size += len(call.rows)
            if group:
                self._run_group(group)
        except BaseException as exc:  # no request may wait forever on a future nobody will set
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(_settable(exc))
            if not isinstance(exc, Exception):
                raise

    def _run_group(self, calls: list[_Call]) -> None:
        """One call for ``calls``; if it raises, each half again, down to single requests.

        Halving finds the requests whose rows fail in about 2·log2(n) calls instead of n + 1,
        so one bad input does not make every request of the iteration run twice.
        """
        if len(calls) == 1:
            self._run_one(calls[0])
            return
        first = calls[0]
        try:
            merged = {
                name: [value for call in calls for value in map(call.columns[name].__getitem__, call.rows)]
                for name in first.served.feature_names
            }
            predictions, scores = self.run(
                first.served, first.loaded, merged, range(sum(len(c.rows) for c in calls))
            )
        except Exception as exc:  # noqa: BLE001 - find out whose rows failed
            logger.debug(
                "stacked call of %s v%s for %d requests failed (%s); splitting it",
                first.served.name,
                first.loaded.version,
                len(calls),
                exc,
            )
            half = len(calls) // 2
            self._run_group(calls[:half])
            self._run_group(calls[half:])
            return
        self._count(first.served.name, len(calls))
        start = 0
        for call in calls:
            end = start + len(call.rows)
            call.future.set_result((predictions[start:end], None if scores is None else scores[start:end]))
            start = end

    def _run_one(self, call: _Call) -> None:
        try:
            answer = self.run(call.served, call.loaded, call.columns, call.rows)
        except Exception as exc:  # noqa: BLE001 - handed to the request that made the call
            call.future.set_exception(_settable(exc))
            return
        self._count(call.served.name, 1)
        call.future.set_result(answer)

    def _count(self, model: str, requests: int) -> None:
        if self.on_call is None:
            return
        try:
            self.on_call(model, requests)
        except Exception:  # metrics must never cost a request its answer
            logger.exception("counting a model call of %s failed", model)


def _settable(exc: BaseException) -> BaseException:
    """``exc`` as a future can hold it (asyncio refuses StopIteration)."""
    if isinstance(exc, StopIteration):
        error = RuntimeError(f"the model raised StopIteration: {exc}")
        error.__cause__ = exc
        return error
    return exc
