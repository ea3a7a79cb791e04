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
    # the stacked call failed, then each request was predicted alone
    assert calls == [[1, 2, 3, -4, 5], [1], [2, 3], [-4], [5]]


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
