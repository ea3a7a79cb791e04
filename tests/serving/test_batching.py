"""Adaptive batching: concurrent requests share one model call and each gets its own answers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from srv_helpers import entities, register

from modelyard.serving.batching import ModelBatcher


@pytest.fixture(scope="module")
def service(make_example_repo, tmp_path_factory):
    """(yard, PredictionService) over the example repo, trip_acceptance in production."""
    from modelyard.serving.app import build_state
    from modelyard.yard import Yard

    repo = make_example_repo(tmp_path_factory.mktemp("batching") / "repo")
    yard = Yard.load(repo)
    register(yard, "trip_acceptance")
    state = build_state(yard, cache=False)
    yield yard, state.service
    state.close()


def _counting(service: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of rows of every model call the service's batcher makes."""
    calls: list[int] = []
    run = service.batcher.run

    def counted(served, loaded, columns, rows):
        calls.append(len(rows))
        return run(served, loaded, columns, rows)

    monkeypatch.setattr(service.batcher, "run", counted)
    return calls


def test_concurrent_requests_share_one_model_call(service, monkeypatch) -> None:
    yard, svc = service
    ents = entities(yard.path, "trip_acceptance", 8)
    requests = [
        {"driver_id": [int(d)], "customer_id": [int(c)]}
        for d, c in zip(ents.driver_id, ents.customer_id, strict=True)
    ]
    requests[3] = {  # a request of three rows among one-row requests
        "driver_id": [int(d) for d in ents.driver_id[:3]],
        "customer_id": [int(c) for c in ents.customer_id[:3]],
    }
    alone = [svc.predict("trip_acceptance", r) for r in requests]  # the sync path: one call each
    calls = _counting(svc, monkeypatch)

    async def together() -> list[Any]:
        return await asyncio.gather(*(svc.predict_async("trip_acceptance", r) for r in requests))

    stacked = asyncio.run(together())
    assert calls == [10]  # eight requests, ten rows, one model call
    for got, want in zip(stacked, alone, strict=True):
        assert [a.row for a in got] == [a.row for a in want]
        assert [a.prediction for a in got] == [a.prediction for a in want]
        assert [a.score for a in got] == pytest.approx([a.score for a in want], rel=1e-12)
        assert all(a.version == w.version and a.variant == w.variant for a, w in zip(got, want, strict=True))
    assert len({a.request_id for answers in stacked for a in answers}) == 10  # each row its own id
    buckets = _call_buckets(svc)
    assert buckets["8.0"] - buckets["4.0"] == 1  # the metric saw one call answering 5-8 requests


def _call_buckets(svc: Any) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = svc.metrics.render()[0].decode()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "modelyard_model_call_requests"]
    return {
        s.labels["le"]: s.value
        for s in family.samples
        if s.name.endswith("_bucket") and s.labels.get("model") == "trip_acceptance"
    }


def test_a_request_alone_is_predicted_without_waiting(service, monkeypatch) -> None:
    yard, svc = service
    ents = entities(yard.path, "trip_acceptance", 1)
    request = {"driver_id": [int(ents.driver_id[0])], "customer_id": [int(ents.customer_id[0])]}
    calls = _counting(svc, monkeypatch)
    answers = asyncio.run(svc.predict_async("trip_acceptance", request))
    assert calls == [1]
    assert answers[0].prediction == svc.predict("trip_acceptance", request)[0].prediction


# -- the batcher on its own: stacking, splitting, errors, cancelled requests ---------------------


class Raised(Exception):
    pass


def _model(name: str = "m", version: int = 1) -> tuple[Any, Any]:
    return SimpleNamespace(name=name, feature_names=["x"]), SimpleNamespace(version=version)


def _doubling(calls: list[list[Any]]) -> Any:
    """A model that doubles x, fails on negative x, and records the x of every call."""

    def run(served: Any, loaded: Any, columns: Mapping[str, Sequence[Any]], rows: Sequence[int]) -> Any:
        xs = [columns["x"][i] for i in rows]
        calls.append(xs)
        if any(x < 0 for x in xs):
            raise Raised(f"negative x in {xs}")
        return [2 * x for x in xs], None

    return run


def _gather(
    batcher: ModelBatcher, requests: list[list[int]], model: tuple[Any, Any] | None = None
) -> list[Any]:
    served, loaded = model or _model()

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(batcher.predict(served, loaded, {"x": xs}, range(len(xs))) for xs in requests),
            return_exceptions=True,
        )

    return asyncio.run(main())


def test_failing_rows_fail_only_their_own_request() -> None:
    calls: list[list[Any]] = []
    got = _gather(ModelBatcher(_doubling(calls)), [[1], [2, 3], [-4], [5]])
    assert got[0] == ([2], None) and got[1] == ([4, 6], None) and got[3] == ([10], None)
    assert isinstance(got[2], Raised)
    # the stacked call failed, then its halves were tried, down to the failing request
    assert calls == [[1, 2, 3, -4, 5], [1, 2, 3], [-4, 5], [-4], [5]]


def test_one_bad_request_costs_a_few_calls_not_one_per_request() -> None:
    calls: list[list[Any]] = []
    requests = [[x] for x in range(1, 33)]
    requests[20] = [-1]
    got = _gather(ModelBatcher(_doubling(calls)), requests)
    assert sum(isinstance(g, Raised) for g in got) == 1 and isinstance(got[20], Raised)
    assert [g[0] for i, g in enumerate(got) if i != 20] == [
        [2 * x[0]] for i, x in enumerate(requests) if i != 20
    ]
    assert len(calls) <= 2 * 5 + 1  # halving: about 2·log2(32) calls, not 33


def test_every_request_is_answered_whatever_goes_wrong() -> None:
    served, loaded = _model()

    def stop(served: Any, loaded: Any, columns: Any, rows: Any) -> Any:
        raise StopIteration("a generator's end leaked out of the model")

    def count_fails(model: str, requests: int) -> None:
        raise RuntimeError("metrics are down")

    async def main(batcher: ModelBatcher, columns: list[Any]) -> list[Any]:
        return await asyncio.gather(
            *(batcher.predict(served, loaded, c, [0]) for c in columns), return_exceptions=True
        )

    got = asyncio.run(main(ModelBatcher(stop), [{"x": [1]}, {"x": [2]}]))
    assert all(isinstance(g, RuntimeError) and "StopIteration" in str(g) for g in got)
    # a failing metrics callback costs no request its answer
    got = asyncio.run(main(ModelBatcher(_doubling([]), on_call=count_fails), [{"x": [1]}, {"x": [2]}]))
    assert got == [([2], None), ([4], None)]
    # a request whose columns cannot be stacked (a feature missing) fails alone
    got = asyncio.run(main(ModelBatcher(_doubling([])), [{"x": [1]}, {}, {"x": [3]}]))
    assert got[0] == ([2], None) and got[2] == ([6], None) and isinstance(got[1], KeyError)


def test_calls_are_stacked_per_loaded_object_not_per_name() -> None:
    calls: list[list[Any]] = []
    batcher = ModelBatcher(_doubling(calls))
    (served, old), (_, new) = _model(version=1), _model(version=1)  # a reload swapped the object

    async def main() -> list[Any]:
        return await asyncio.gather(
            batcher.predict(served, old, {"x": [1]}, [0]), batcher.predict(served, new, {"x": [2]}, [0])
        )

    asyncio.run(main())
    assert sorted(calls) == [[1], [2]]


def test_a_model_answering_another_number_of_rows_fails_the_request(service) -> None:
    import dataclasses

    from modelyard.serving.pipeline import _ModelRaised

    yard, svc = service
    served = svc.table.models["trip_acceptance"]
    loaded = svc.table.version(served, next(iter(served.versions)))
    ents = entities(yard.path, "trip_acceptance", 2)
    columns = served.reader.read(
        {"driver_id": [int(d) for d in ents.driver_id], "customer_id": [int(c) for c in ents.customer_id]}
    )

    def one_short(columns: Any, rows: Any) -> Any:
        return [1] * (len(rows) - 1), [0.5] * (len(rows) - 1)

    broken = dataclasses.replace(loaded, columnar=one_short)
    with pytest.raises(_ModelRaised, match="returned 1 predictions for 2 rows"):
        svc._run_model(served, broken, columns, [0, 1])


def test_stacks_stop_at_max_rows_and_per_version() -> None:
    calls: list[list[Any]] = []
    batcher = ModelBatcher(_doubling(calls), max_rows=3)
    got = _gather(batcher, [[1], [2], [3], [4, 5], [6]])
    assert [g[0] for g in got] == [[2], [4], [6], [8, 10], [12]]
    assert calls == [[1, 2, 3], [4, 5, 6]]
    calls.clear()

    async def two_versions() -> list[Any]:
        (m, v1), (_, v2) = _model(version=1), _model(version=2)
        return await asyncio.gather(
            batcher.predict(m, v1, {"x": [1]}, [0]),
            batcher.predict(m, v2, {"x": [2]}, [0]),
            batcher.predict(m, v1, {"x": [3]}, [0]),
        )

    assert [g[0] for g in asyncio.run(two_versions())] == [[2], [4], [6]]
    assert sorted(calls) == [[1, 3], [2]]  # never a version's rows in another version's call


def test_a_cancelled_request_drops_out_of_the_stack() -> None:
    calls: list[list[Any]] = []
    batcher = ModelBatcher(_doubling(calls))
    served, loaded = _model()

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(batcher.predict(served, loaded, {"x": [x]}, [0])) for x in (1, 2, 3)]
        await asyncio.sleep(0)  # every task queued its call
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    got = asyncio.run(main())
    assert got[0] == ([2], None) and got[2] == ([6], None)
    assert isinstance(got[1], asyncio.CancelledError)
    assert calls == [[1, 3]]


def test_max_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ModelBatcher(_doubling([]), max_rows=0)


def test_batching_can_be_turned_off(service) -> None:
    from modelyard.serving.pipeline import PredictionService

    _, svc = service
    assert PredictionService(svc.table, batching=False).batcher is None
