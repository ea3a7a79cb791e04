"""Monitor runs end to end: a registered version with its snapshot, a real prediction log, alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monitoring_model import AcceptsWhenRated

from modelyard.errors import MonitoringError
from modelyard.monitoring.alerts import Alert
from modelyard.monitoring.runner import Window, run_monitors
from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host
from modelyard.predictions.log import open_prediction_logger
from modelyard.predictions.records import PredictionRecord
from modelyard.yard import Yard

MODEL = "trip_acceptance"


class _Listener:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    @hookimpl
    def modelyard_on_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
def served(example_repo: Path):
    listener = _Listener()
    yard = Yard.load(example_repo, host=make_host(listener))
    entities = pd.read_parquet(example_repo / "data" / f"{MODEL}_entities.parquet")
    frame = yard.features.training_frame(MODEL, entities[["driver_id", "customer_id", "event_timestamp"]])
    snapshot = yard.registry.snapshot(MODEL, frame, entities)
    version = yard.registry.register(MODEL, AcceptsWhenRated(), snapshot=snapshot, metrics={"accuracy": 0.7})
    yield yard, frame, version, listener
    yard.registry.close()


def _log(yard: Yard, frame: pd.DataFrame, version: int, start: datetime) -> None:
    names = yard.features.feature_names(MODEL)
    with open_prediction_logger(yard) as log:
        for i, row in enumerate(frame.itertuples(index=False)):
            values = row._asdict()
            log.log(
                PredictionRecord(
                    request_id=f"r{start.timestamp():.0f}-{i}",
                    model=MODEL,
                    version=version,
                    prediction=1,
                    entities={
                        "driver_id": int(values["driver_id"]),
                        "customer_id": int(values["customer_id"]),
                    },
                    features={n: (None if pd.isna(values[n]) else values[n]) for n in names},
                    latency_ms=5.0,
                    timestamp=start + timedelta(milliseconds=i),
                )
            )


def test_quiet_window_then_drifted_window_raises_an_alert(served) -> None:
    yard, frame, version, listener = served
    rng = np.random.default_rng(0)
    now = datetime.now(timezone.utc)
    clean = frame.iloc[rng.choice(len(frame), 600, replace=False)]
    _log(yard, clean, version.version, now - timedelta(minutes=20))
    runs = run_monitors(yard, MODEL, window="600")
    assert {r.monitor for r in runs} == {"drift", "quality"}
    assert [r.monitor for r in runs if r.failed] == []
    assert listener.alerts == []

    drifted = clean.assign(rating=clean["rating"] - 0.6, conv_rate=clean["conv_rate"] * 0.5)
    _log(yard, drifted, version.version, now - timedelta(minutes=10))
    runs = run_monitors(yard, MODEL, window="600")
    drift = next(r for r in runs if r.monitor == "drift")
    assert drift.failed and drift.version == version.version and drift.n_rows == 600
    alerts = {a.monitor: a for a in listener.alerts}
    assert set(alerts) == {"drift", "quality"}  # shifted values also fall outside the reference range
    assert {r.statistic for r in alerts["quality"].results} == {"out_of_range_share"}
    alert = alerts["drift"]
    assert alert.monitor == "drift" and alert.version == version.version
    assert set(alert.features) == {"rating", "conv_rate"}
    assert alert.feature_views == ["driver_stats"] and alert.data_sources == ["driver_stats_source"]
    assert alert.affected_models == ["trip_acceptance", "tip_amount"]  # tip_amount reads rating too

    stored = yard.registry.backend.monitor_results(MODEL)
    assert {r["monitor"] for r in stored} == {"drift", "quality"}
    drifted_rows = [r for r in stored if r["drifted"] and r["monitor"] == "drift" and r["feature"]]
    assert {r["feature"] for r in drifted_rows} == {"rating", "conv_rate"}
    assert all(r["window_start"] is not None and r["version"] == version.version for r in drifted_rows)

    # how much, over which window, since when
    assert alert.notification == "new" and alert.window_rows == 600 and alert.occurrences == 1
    finding = next(f for f in alert.findings if f["feature"] == "rating")
    assert finding["statistic"] == "wasserstein_norm" and finding["value"] > finding["threshold"] > 0
    quiet_drift = next(
        r for r in stored if r["monitor"] == "drift" and r["feature"] == "rating" and not r["drifted"]
    )
    assert finding["last_passed"] == quiet_drift["window_end"]
    assert alert.window_start is not None and alert.window_end is not None
    assert "vs threshold" in alert.describe() and "last passed" in alert.describe()
    body = alert.to_dict()
    assert body["window_rows"] == 600 and body["findings"][0]["last_passed"].endswith("+00:00")

    # the same failure again, within renotify_every: stored, not sent
    listener.alerts.clear()
    again = run_monitors(yard, MODEL, window="600")
    assert next(r for r in again if r.monitor == "drift").alert.notification == "suppressed"
    assert listener.alerts == []

    # back to normal: the recovery is announced once
    _log(yard, clean, version.version, now - timedelta(minutes=5))
    run_monitors(yard, MODEL, window="600")
    recovered = {a.monitor: a for a in listener.alerts}
    assert recovered["drift"].notification == "recovered" and recovered["drift"].severity == "info"
    assert recovered["drift"].failing_since == alert.failing_since
    listener.alerts.clear()
    run_monitors(yard, MODEL, window="600")
    assert listener.alerts == []


def test_windows_parse_and_unknown_monitors_are_named(served) -> None:
    yard, *_ = served
    assert Window.parse("90m").duration == timedelta(minutes=90)
    assert Window.parse("2d").duration == timedelta(days=2)
    assert Window.parse("5000").rows == 5000
    assert Window.parse("all") == Window()
    with pytest.raises(MonitoringError, match="bad window"):
        Window.parse("yesterday")
    with pytest.raises(MonitoringError, match="has: drift, quality"):
        run_monitors(yard, MODEL, monitors=["latency"])
    assert run_monitors(yard, MODEL, window="1h") == []  # nothing logged yet


def test_cli_monitor_run_and_results(served) -> None:
    import json

    from click.testing import CliRunner

    from modelyard.cli.main import main

    yard, frame, version, _ = served
    shifted = frame.iloc[:500].assign(rating=frame["rating"].iloc[:500] - 0.6)
    _log(yard, shifted, version.version, datetime.now(timezone.utc) - timedelta(minutes=5))
    cli = CliRunner()
    done = cli.invoke(main, ["--repo", str(yard.path), "monitor", "run", MODEL, "--window", "1h", "--json"])
    assert done.exit_code == 2, done.output  # a monitor failed
    rows = json.loads(done.output)
    assert any(r["feature"] == "rating" and r["drifted"] and r["monitor"] == "drift" for r in rows)
    stored = cli.invoke(main, ["--repo", str(yard.path), "monitor", "results", MODEL, "--failed", "--json"])
    assert stored.exit_code == 0, stored.output
    assert {r["feature"] for r in json.loads(stored.output) if r["monitor"] == "drift"} >= {"rating"}
    watched = cli.invoke(
        main, ["--repo", str(yard.path), "monitor", "watch", MODEL, "--every", "1s", "--runs", "2"]
    )
    assert watched.exit_code == 0, watched.output
    assert watched.output.count("failed: drift") == 2
    bad = cli.invoke(main, ["--repo", str(yard.path), "monitor", "run", MODEL, "--window", "soon"])
    assert bad.exit_code == 1 and "bad window 'soon'" in bad.output


def test_report_html_and_json(served, tmp_path: Path) -> None:
    import json
    import re

    from click.testing import CliRunner

    from modelyard.cli.main import main

    yard, frame, version, _ = served
    shifted = frame.iloc[:500].assign(rating=frame["rating"].iloc[:500] - 0.6)
    _log(yard, shifted, version.version, datetime.now(timezone.utc) - timedelta(minutes=5))
    run_monitors(yard, MODEL, window="1h", alert=False)
    out = tmp_path / "report.html"
    cli = CliRunner()
    done = cli.invoke(main, ["--repo", str(yard.path), "report", MODEL, "--out", str(out)])
    assert done.exit_code == 0, done.output
    html = out.read_text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    names = yard.features.feature_names(MODEL)
    assert html.count("<svg") >= len(names) + 1  # a plot per feature and at least one history plot
    assert re.search(r"rating</td><td>wasserstein_norm</td>.*?FAIL", html)
    data = json.loads(cli.invoke(main, ["--repo", str(yard.path), "report", MODEL, "--json"]).output)
    (section,) = data["versions"]
    assert section["version"] == version.version and section["n_rows"] == 500
    assert any(r["feature"] == "rating" and r["drifted"] for r in section["results"])
    assert data["history"]


def test_a_version_without_snapshot_is_skipped_and_the_others_still_judged(served, caplog) -> None:
    yard, frame, version, _listener = served
    bare = yard.registry.register(MODEL, AcceptsWhenRated())  # no snapshot: no reference profile
    now = datetime.now(timezone.utc)
    sample = frame.iloc[:300]
    _log(yard, sample, bare.version, now - timedelta(minutes=3))
    _log(
        yard, sample.assign(conv_rate=sample["conv_rate"] * 0.5), version.version, now - timedelta(minutes=2)
    )
    with caplog.at_level("WARNING", logger="modelyard.monitoring.runner"):
        runs = run_monitors(yard, MODEL, window="10m")
    assert {r.version for r in runs} == {version.version}
    assert any(r.failed and r.monitor == "drift" for r in runs)
    assert f"v{bare.version} was registered without a training snapshot" in caplog.text


def test_fallback_rows_are_not_judged(served) -> None:
    from modelyard.monitoring.runner import read_window

    yard, _frame, version, _ = served
    now = datetime.now(timezone.utc)
    names = yard.features.feature_names(MODEL)
    with open_prediction_logger(yard) as log:
        for i, mode in enumerate(["live", "fallback:default", "fallback:cache", "live"]):
            log.log(
                PredictionRecord(
                    request_id=f"fb-{i}",
                    model=MODEL,
                    version=version.version,
                    prediction=1,
                    mode=mode,
                    entities={"driver_id": 1, "customer_id": 2},
                    features=dict.fromkeys(names),
                    latency_ms=1.0,
                    timestamp=now - timedelta(seconds=10 - i),
                )
            )
    window = read_window(yard, MODEL, Window.parse("1h"))
    assert window["request_id"].tolist() == ["fb-0", "fb-3"]
