"""Helpers for the prediction-log tests: record factories and an in-memory sink that can be told to fail."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from modelyard.predictions.log import LogSink
from modelyard.predictions.records import PredictionRecord, new_request_id

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def make_records(
    n: int, *, model: str = "trip_acceptance", start: datetime = T0, step_s: float = 1.0
) -> list[PredictionRecord]:
    """``n`` distinct records, one per ``step_s`` seconds from ``start``."""
    return [
        PredictionRecord(
            request_id=new_request_id(),
            timestamp=start + timedelta(seconds=i * step_s),
            model=model,
            version=3,
            variant="default",
            entities={"driver_id": 1000 + i},
            features={"conv_rate": i / 10, "city": "Paris" if i % 2 else None},
            prediction=i % 2,
            score=0.25 + (i % 3) / 10,
            latency_ms=1.5,
            cache_hit=bool(i % 5 == 0),
        )
        for i in range(n)
    ]


class MemorySink(LogSink):
    """Keeps rows in a list; ``down`` makes every write raise (a sink outage)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.down = False
        self.writes = 0
        self.lock = threading.Lock()

    def write(self, rows: list[dict[str, Any]]) -> None:
        if self.down:
            raise ConnectionError("sink is down")
        with self.lock:
            self.rows.extend(rows)
            self.writes += 1

    def read(self, model, since=None, until=None, *, chunk_rows=50_000) -> Iterator[pd.DataFrame]:
        yield pd.DataFrame([r for r in self.rows if r["model"] == model])


class SlowSink(MemorySink):
    """A MemorySink whose every write first sleeps ``delay`` seconds (a slow disk or network)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def write(self, rows: list[dict[str, Any]]) -> None:
        time.sleep(self.delay)
        super().write(rows)


class TcpProxy:
    """A TCP forwarder on a local port that a test can take down and bring back (a database outage)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket

        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: Any = None
        self._conns: list[Any] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        import socket

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        import socket

        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, listener: Any) -> None:
        import socket

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()


def write_tiny_yard(path: Any, *, log_yaml: str = "") -> Any:
    """A minimal yard (modelyard.yaml + an empty feature_store.yaml) with one two-key model."""
    from pathlib import Path

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "feature_store.yaml").write_text("")
    (path / "modelyard.yaml").write_text(
        "project: logtest\n" + (f"serving:\n  log:\n{log_yaml}" if log_yaml else "") + "models:\n"
        "  trip_acceptance:\n"
        "    feature_service: trip_acceptance_v1\n"
        "    entity_keys: [driver_id]\n"
        "    task: classification\n"
        "    label: accepted\n"
    )
    return path
