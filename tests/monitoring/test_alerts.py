"""Alert delivery: log and webhook alerters (real local HTTP receiver), and the on_alert hook."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelyard.errors import ConfigError, MonitoringError
from modelyard.monitoring.alerts import Alert, raise_alert
from modelyard.monitoring.results import DetectorResult
from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host


class Receiver:
    """A real HTTP server on 127.0.0.1 answering with scripted status codes, recording bodies."""

    def __init__(self, statuses: list[int], delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay = delay
        self.bodies: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers["Content-Length"])
                payload = json.loads(self.rfile.read(length))
                receiver.attempts += 1
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                if status == 200:
                    receiver.bodies.append(payload)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator:
    made: list[Receiver] = []

    def make(statuses: list[int], delay: float = 0.0) -> Receiver:
        made.append(Receiver(statuses, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _alert() -> Alert:
    result = DetectorResult(
        detector="drift",
        feature="rating",
        statistic="wasserstein_norm",
        value=0.31,
        p_value=1e-12,
        threshold=0.05,
        drifted=True,
        n_reference=10_000,
        n_current=5_000,
        details={"test": "ks"},
    )
    return Alert(
        model="trip_acceptance",
        version=3,
        variant="canary",
        monitor="input-drift",
        severity="critical",
        summary="1 of 9 features drifted: rating",
        results=[result],
        feature_views=["driver_stats"],
        affected_models=["trip_acceptance/canary", "tip_amount"],
    )


def test_webhook_retries_a_500_then_delivers(receiver_factory) -> None:
    receiver = receiver_factory([500, 200])
    alerter = make_host().spec("alerter", "webhook").build({"url": receiver.url, "backoff": 0.01})
    alerter.send(_alert())
    assert receiver.attempts == 2 and len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["model"] == "trip_acceptance" and body["version"] == 3 and body["variant"] == "canary"
    assert body["features"] == ["rating"] and body["results"][0]["score"] == 0.31
    assert body["affected_models"] == ["trip_acceptance/canary", "tip_amount"]
    assert body["at"].endswith("+00:00")


def test_webhook_gives_up_after_its_retries_naming_the_url(receiver_factory) -> None:
    receiver = receiver_factory([503, 503, 503])
    alerter = (
        make_host().spec("alerter", "webhook").build({"url": receiver.url, "retries": 2, "backoff": 0.01})
    )
    with pytest.raises(MonitoringError, match=r"after 3 attempt\(s\): HTTP 503"):
        alerter.send(_alert())
    assert receiver.attempts == 3


def test_webhook_does_not_retry_a_client_error(receiver_factory) -> None:
    receiver = receiver_factory([404])
    alerter = make_host().spec("alerter", "webhook").build({"url": receiver.url, "backoff": 0.01})
    with pytest.raises(MonitoringError, match="HTTP 404"):
        alerter.send(_alert())
    assert receiver.attempts == 1


def test_webhook_times_out_then_retries(receiver_factory) -> None:
    receiver = receiver_factory([200, 200], delay=0.6)
    alerter = (
        make_host()
        .spec("alerter", "webhook")
        .build({"url": receiver.url, "timeout": 0.2, "retries": 1, "backoff": 0.01})
    )
    started = time.monotonic()
    with pytest.raises(MonitoringError, match=r"timed out|Timeout"):
        alerter.send(_alert())
    assert time.monotonic() - started < 2.0
    assert receiver.attempts == 2


def test_webhook_url_from_environment_and_strict_settings(receiver_factory, monkeypatch) -> None:
    receiver = receiver_factory([200])
    monkeypatch.setenv("MY_ALERT_HOOK", receiver.url)
    make_host().spec("alerter", "webhook").build({"url": "$env:MY_ALERT_HOOK"}).send(_alert())
    assert len(receiver.bodies) == 1
    with pytest.raises(ConfigError, match="tiemout"):
        make_host().spec("alerter", "webhook").build({"url": receiver.url, "tiemout": 1})
    monkeypatch.delenv("MY_ALERT_HOOK")
    with pytest.raises(MonitoringError, match="MY_ALERT_HOOK"):
        make_host().spec("alerter", "webhook").build({"url": "$env:MY_ALERT_HOOK"}).send(_alert())


def test_log_alerter_writes_one_record_at_the_severity(caplog) -> None:
    alerter = make_host().spec("alerter", "log").build()
    with caplog.at_level(logging.INFO, logger="modelyard.alerts"):
        alerter.send(_alert())
    (record,) = [r for r in caplog.records if r.name == "modelyard.alerts"]
    assert record.levelno == logging.CRITICAL
    assert "trip_acceptance v3 [canary] monitor input-drift" in record.getMessage()
    assert "also affects trip_acceptance/canary, tip_amount" in record.getMessage()


class _Listener:
    def __init__(self) -> None:
        self.seen: list[Alert] = []

    @hookimpl
    def modelyard_on_alert(self, alert: Alert) -> None:
        self.seen.append(alert)


class _Broken:
    def send(self, alert: Alert) -> None:
        raise RuntimeError("channel down")


def test_raise_alert_delivers_to_every_channel_and_fires_on_alert(receiver_factory, caplog) -> None:
    listener = _Listener()
    host = make_host(listener)
    receiver = receiver_factory([200])
    webhook = host.spec("alerter", "webhook").build({"url": receiver.url})
    alert = _alert()
    with caplog.at_level(logging.ERROR):
        raise_alert(alert, host=host, alerters=[_Broken(), webhook])
    assert listener.seen == [alert]
    assert len(receiver.bodies) == 1  # a broken channel does not stop the next
    assert "channel down" in caplog.text


def _alert_with_findings() -> Alert:
    from datetime import datetime, timezone

    alert = _alert()
    alert.window_start = datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    alert.window_end = datetime(2026, 1, 1, 11, tzinfo=timezone.utc)
    alert.window_rows = 5_000
    alert.notification = "reminder"
    alert.failing_since = datetime(2026, 1, 1, 4, tzinfo=timezone.utc)
    alert.occurrences = 7
    alert.findings = [
        {
            "feature": "rating",
            "statistic": "wasserstein_norm",
            "value": 0.31,
            "threshold": 0.05,
            "p_value": 1e-12,
            "last_passed": datetime(2026, 1, 1, 3, 45, tzinfo=timezone.utc),
        }
    ]
    return alert


def test_every_channel_says_how_much_over_which_window_and_since_when(receiver_factory, caplog) -> None:
    listener = _Listener()
    host = make_host(listener)
    receiver = receiver_factory([200])
    alerters = [
        host.spec("alerter", "log").build(),
        host.spec("alerter", "webhook").build({"url": receiver.url}),
    ]
    with caplog.at_level(logging.INFO, logger="modelyard.alerts"):
        raise_alert(_alert_with_findings(), host=host, alerters=alerters)
    message = next(r for r in caplog.records if r.name == "modelyard.alerts").getMessage()
    assert (
        "[reminder]" in message
        and "[window: 5000 rows, 2026-01-01 10:00:00Z to 2026-01-01 11:00:00Z]" in message
    )
    assert "rating wasserstein_norm 0.31 vs threshold 0.05 (last passed 2026-01-01 03:45:00Z)" in message
    assert "failing since 2026-01-01 04:00:00Z (7 run(s))" in message
    body = receiver.bodies[0]
    assert body["window_rows"] == 5_000 and body["window_start"] == "2026-01-01T10:00:00+00:00"
    assert body["notification"] == "reminder" and body["failing_since"] == "2026-01-01T04:00:00+00:00"
    assert body["findings"][0] == {
        "feature": "rating",
        "statistic": "wasserstein_norm",
        "value": 0.31,
        "threshold": 0.05,
        "p_value": 1e-12,
        "last_passed": "2026-01-01T03:45:00+00:00",
    }
    (seen,) = listener.seen
    assert seen.findings[0]["value"] == 0.31 and seen.window_rows == 5_000
