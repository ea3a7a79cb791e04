"""The issue's shadow scenario through the real PredictionService: a 400 ms shadow beside two fast ones.

Real Feast online reads (example repo), real registry and Parquet prediction log. Every
mirrored request is either scored by a shadow or counted as dropped (metrics, drop markers),
the fast shadows cover every request, and the shadow report states its coverage.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from rollout_models import SlowModel, ThresholdModel

from modelyard.predictions.log import open_log_sink
from modelyard.rollout import changes
from modelyard.rollout.shadow_report import shadow_report
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import Variant
from modelyard.yard import Yard

MODEL = "trip_acceptance"
FEATURE = "conv_rate"
REQUESTS = 40


@pytest.fixture
def yard(example_repo: Path):
    y = Yard.load(example_repo)
    # a small queue and a short drain, so the slow shadow overflows and leaves a backlog quickly
    y.config.serving = y.config.serving.model_copy(
        update={"shadow_queue": 4, "shadow_workers": 2, "shadow_drain_seconds": 0.5}
    )
    yield y
    if "registry" in y.__dict__:
        y.registry.close()


def test_slow_shadow_is_bounded_counted_and_reported(yard: Yard) -> None:
    from modelyard.serving.app import build_state

    v1 = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.5))
    slow = yard.registry.register(MODEL, SlowModel(FEATURE, delay=0.4))
    fast_a = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.4))
    fast_b = yard.registry.register(MODEL, ThresholdModel(FEATURE, 0.6))
    yard.registry.promote(MODEL, v1.version, reason="live")
    store = DeploymentStore.for_yard(yard)
    shadows = [Variant(f"s{v.version}", v.version, 0, "shadow") for v in (slow, fast_a, fast_b)]
    changes.deploy(
        store,
        MODEL,
        router="shadow",
        variants=[Variant("v1", v1.version)],
        shadows=shadows,
        settings={"shadows": [slow.version, fast_a.version, fast_b.version]},
        actor="test",
        reason="three shadows",
    )
    rows = pd.read_parquet(yard.path / "data" / f"{MODEL}_entities.parquet").head(REQUESTS)
    state = build_state(yard, cache=False)
    try:
        state.service.predict(MODEL, {"driver_id": [1001], "customer_id": [2001]}, request_id="warm")
        for i, row in enumerate(rows.itertuples()):
            state.service.predict(
                MODEL, {"driver_id": [row.driver_id], "customer_id": [row.customer_id]}, request_id=f"r{i}"
            )
            # traffic at a pace one worker can shadow twice over (the two fast shadows share the worker
            # the slow one does not hold); back to back, in-process requests on a fast machine outrun
            # it and the fast queues overflow too. The slow shadow (400 ms a job) still overflows.
            time.sleep(0.01)
        dropped_metric = state.metrics.shadow_dropped
    finally:
        state.close()  # drains shadows for 0.5 s, drops and counts the rest, then flushes the log

    sink = open_log_sink(yard)
    try:
        log = sink.read_frame(MODEL)
    finally:
        sink.close()
    log = log[log["request_id"] != "warm"]
    report = {s.variant: s for s in shadow_report(log, task="classification")}
    served = REQUESTS
    for fast in (f"s{fast_a.version}", f"s{fast_b.version}"):
        assert report[fast].requests == served and report[fast].dropped == 0 and report[fast].coverage == 1.0
    s = report[f"s{slow.version}"]
    assert s.served == served and s.dropped > 0
    assert s.requests + s.dropped == served  # every mirrored request is scored or counted
    assert s.coverage == pytest.approx(s.requests / served)
    counted = sum(
        sample.value
        for metric in dropped_metric.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["variant"] == f"s{slow.version}"
    )
    assert counted == s.dropped
