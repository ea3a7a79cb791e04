"""Prometheus metrics of a serving worker (``GET /metrics``).

prometheus_client runs in *multiprocess mode* when ``PROMETHEUS_MULTIPROC_DIR`` is set when
it is first imported: every process writes its values to files there, and a scrape of any
worker aggregates them. ``modelyard serve --workers N`` sets it to a fresh directory so one
scrape covers all workers. (Importing Feast also sets it, to a private temporary directory,
so this module checks which mode prometheus_client is actually in rather than trusting the
environment.) Process CPU and memory always describe the worker that answered the scrape.

The request path does not call prometheus_client itself: an update costs a lock, a pid check
and a memory-mapped write per value in multiprocess mode, and a request makes half a dozen of
them. :meth:`ServingMetrics.inc` and :meth:`ServingMetrics.observe` add to plain dictionaries
under one lock instead, and :meth:`ServingMetrics.flush` hands the sums to prometheus_client:
before every scrape of this worker, every ``flush_interval`` seconds from a background thread
(so a scrape of another worker lags by at most that), and at shutdown.
"""

from __future__ import annotations

import bisect
import logging
import threading
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

logger = logging.getLogger(__name__)


def multiprocess_mode() -> bool:
    """Whether prometheus_client stores values in files (multiprocess mode)."""
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServingMetrics:
    """The counters and histograms the server updates on every request."""

    def __init__(self, *, flush_interval: float | None = 1.0) -> None:
        self.multiprocess = multiprocess_mode()
        self._lock = threading.Lock()
        self._counts: dict[tuple[Any, tuple[str, ...]], float] = {}
        self._observed: dict[tuple[Any, tuple[str, ...]], list[float]] = {}
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        if flush_interval is not None:
            self._flusher = threading.Thread(
                target=self._flush_every, args=(flush_interval,), name="modelyard-metrics", daemon=True
            )
            self._flusher.start()
        self.registry = CollectorRegistry(auto_describe=True)
        # in multiprocess mode values live in files and are collected by MultiProcessCollector at
        # scrape time, so the metric objects must not also sit in the registry (they would repeat)
        reg = None if self.multiprocess else self.registry
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "modelyard_requests_total",
            "Prediction requests answered, by endpoint and HTTP status.",
            ["model", "endpoint", "status"],
            registry=reg,
        )
        self.predictions = Counter(
            "modelyard_predictions_total",
            "Rows predicted, by model, version and variant.",
            ["model", "version", "variant"],
            registry=reg,
        )
        self.latency = Histogram(
            "modelyard_request_latency_seconds",
            "Server time of a prediction request, by model, version and variant of its first row.",
            ["model", "version", "variant"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.feature_latency = Histogram(
            "modelyard_feature_store_latency_seconds",
            "Time of the online feature read of a request.",
            ["model", "store"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.shadow_dropped = Counter(
            "modelyard_shadow_dropped_total",
            "Shadow rows not scored: the shadow's queue was full, or its backlog was left at shutdown.",
            ["model", "variant", "reason"],
            registry=reg,
        )
        self.cache_hits = Counter(
            "modelyard_cache_hits_total", "Rows answered from the prediction cache.", ["model"], registry=reg
        )
        self.cache_misses = Counter(
            "modelyard_cache_misses_total", "Rows the prediction cache did not hold.", ["model"], registry=reg
        )
        self.errors = Counter(
            "modelyard_errors_total",
            "Requests that failed, by model and error class.",
            ["model", "error"],
            registry=reg,
        )
        self.missing_rows = Counter(
            "modelyard_missing_feature_rows_total",
            "Rows with at least one missing feature, by model and the policy applied.",
            ["model", "policy"],
            registry=reg,
        )
        self.fallback_rows = Counter(
            "modelyard_online_store_fallback_rows_total",
            "Rows answered by serving.online_store_fallback while the online store was unreachable.",
            ["model", "fallback"],
            registry=reg,
        )
        self.model_call_requests = Histogram(
            "modelyard_model_call_requests",
            "Requests answered by one model call (adaptive batching stacks concurrent requests).",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=reg,
        )
        self.loaded_version = Gauge(
            "modelyard_loaded_version",
            "1 for every (model, version) this worker has loaded.",
            ["model", "version"],
            registry=reg,
            multiprocess_mode="max",
        )
        self.reloads = Counter(
            "modelyard_reloads_total",
            "Model versions loaded after an alias or deployment moved.",
            ["model"],
            registry=reg,
        )
        self.log_dropped = Gauge(
            "modelyard_prediction_log_dropped",
            "Prediction-log records dropped (queue or spool full) since start.",
            registry=reg,
            multiprocess_mode="sum",
        )
        self.log_dead_lettered = Gauge(
            "modelyard_prediction_log_dead_lettered",
            "Prediction-log records the sink refused, set aside in dead-letter files, since start.",
            registry=reg,
            multiprocess_mode="sum",
        )
        self.log_spooled = Gauge(
            "modelyard_prediction_log_spooled",
            "Prediction-log records waiting in the local spool for the sink.",
            registry=reg,
            multiprocess_mode="sum",
        )

        self.pushed_rows = Counter(
            "modelyard_pushed_rows_total",
            "Feature rows written through a push source (POST /v1/push), by source and destination.",
            ["push_source", "to"],
            registry=reg,
        )
        self.view_lag = Gauge(
            "modelyard_feature_view_lag_seconds",
            "Seconds since the newest data reached the online store for a view (last materialization or push).",
            ["view"],
            registry=reg,
            multiprocess_mode="min",
        )

        from prometheus_client.process_collector import ProcessCollector

        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, resident memory...
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, memoised: prometheus_client validates labels on every call."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    # -- the request path -------------------------------------------------------------------

    def inc(self, metric: Counter, *labels: str, amount: float = 1.0) -> None:
        """Add ``amount`` to the counter ``metric`` with ``labels`` (reaches Prometheus at the next flush)."""
        key = (metric, labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0.0) + amount

    def observe(self, metric: Histogram, value: float, *labels: str) -> None:
        """Observe ``value`` in the histogram ``metric`` with ``labels`` (reaches Prometheus at the next flush)."""
        key = (metric, labels)
        with self._lock:
            values = self._observed.get(key)
            if values is None:
                self._observed[key] = [value]
            else:
                values.append(value)

    def record_push(self, result: Any) -> None:
        """Count a :class:`~modelyard.features.push.PushResult`'s rows."""
        self.inc(self.pushed_rows, result.source, result.to, amount=float(result.rows))

    def update_freshness(self, views: Any) -> None:
        """Set each view's lag gauge from :class:`~modelyard.features.freshness.ViewFreshness` rows (at scrape)."""
        for view in views:
            if view.lag is not None:
                self.child(self.view_lag, view.view).set(view.lag.total_seconds())

    def flush(self) -> None:
        """Hand every pending update to prometheus_client (one update per series and bucket)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            observed, self._observed = self._observed, {}
        for (metric, labels), amount in counts.items():
            self.child(metric, *labels).inc(amount)
        for (metric, labels), values in observed.items():
            _observe_many(self.child(metric, *labels), values)

    def _flush_every(self, interval: float) -> None:
        while not self._closed.wait(interval):
            try:
                self.flush()
            except Exception:  # metrics must never take the worker down
                logger.exception("flushing serving metrics failed")

    def close(self) -> None:
        """Stop the background flush and flush what is pending."""
        self._closed.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (pending updates of this worker included)."""
        self.flush()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def update_log_stats(self, stats: dict[str, Any]) -> None:
        """Copy the prediction logger's counters into gauges (called at scrape time)."""
        self.log_dropped.set(float(stats.get("dropped", 0)))
        self.log_dead_lettered.set(float(stats.get("dead_lettered", 0)))
        self.log_spooled.set(float(stats.get("spool_rows", stats.get("spooled", 0))))


def _observe_many(child: Any, values: list[float]) -> None:
    """``child.observe(v)`` for every value, as one increment of the sum and of each bucket.

    Uses the histogram child's ``_upper_bounds`` / ``_buckets`` / ``_sum`` (stable in
    prometheus_client for years); without them it observes value by value.
    """
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            child.observe(value)
        return
    per_bucket = [0] * len(bounds)
    for value in values:
        per_bucket[min(bisect.bisect_left(bounds, value), len(bounds) - 1)] += 1
    total.inc(sum(values))
    for bucket, count in zip(buckets, per_bucket, strict=True):
        if count:
            bucket.inc(count)
