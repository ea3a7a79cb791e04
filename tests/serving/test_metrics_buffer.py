"""Serving metrics are buffered off the request path: what reaches Prometheus must be exact."""

from __future__ import annotations

import time
import uuid

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from modelyard.serving.metrics import _LATENCY_BUCKETS, ServingMetrics


def _samples(text: str, name: str, model: str) -> dict[tuple[str, str], float]:
    """(sample name, le) -> value of the series of ``model`` in an exposition text."""
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(name) and sample.labels.get("model") == model:
                out[(sample.name, sample.labels.get("le", ""))] = sample.value
    return out


def test_counters_and_histograms_match_direct_updates() -> None:
    metrics = ServingMetrics(flush_interval=None)
    model = f"m{uuid.uuid4().hex[:8]}"  # its own series, whatever else this process recorded
    values = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.3, 2.5, 9.0]
    for value in values:
        metrics.observe(metrics.latency, value, model, "1", "v1")
    metrics.inc(metrics.requests, model, "predict", "200")
    metrics.inc(metrics.requests, model, "predict", "200", amount=2)
    text = metrics.render()[0].decode()

    reference = Histogram(
        "ref_latency_seconds", "ref", buckets=_LATENCY_BUCKETS, registry=CollectorRegistry()
    )
    for value in values:
        reference.observe(value)
    expected = {
        (
            s.name.replace("ref_latency_seconds", "modelyard_request_latency_seconds"),
            s.labels.get("le", ""),
        ): s.value
        for family in reference.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }
    got = _samples(text, "modelyard_request_latency_seconds", model)
    got = {k: v for k, v in got.items() if not k[0].endswith("_created")}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(got[key] - value) < 1e-9, key
    assert _samples(text, "modelyard_requests_total", model)[("modelyard_requests_total", "")] == 3.0


def test_pending_updates_flush_in_the_background_and_at_close() -> None:
    metrics = ServingMetrics(flush_interval=0.05)
    model = f"m{uuid.uuid4().hex[:8]}"
    metrics.inc(metrics.cache_hits, model, amount=5)
    deadline = time.monotonic() + 5
    seen = {}
    while time.monotonic() < deadline:
        # generate_latest reads prometheus_client's values without flushing our buffer first
        seen = _samples(generate_latest(metrics.registry).decode(), "modelyard_cache_hits_total", model)
        if seen:
            break
        time.sleep(0.02)
    assert seen[("modelyard_cache_hits_total", "")] == 5.0
    metrics.inc(metrics.cache_hits, model, amount=2)
    metrics.close()  # flushes what is pending
    seen = _samples(generate_latest(metrics.registry).decode(), "modelyard_cache_hits_total", model)
    assert seen[("modelyard_cache_hits_total", "")] == 7.0
