"""The canary state machine (dwell, minimum sample, guard failure) and the guards on real log rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from modelyard.errors import ConfigError
from modelyard.predictions.records import PredictionRecord
from modelyard.routing import canary as ramp
from modelyard.routing.guards import GuardResult, check_all, parse_guards
from modelyard.routing.router import Deployment, Variant

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
STEPS = [5.0, 25.0, 100.0]


def started() -> Deployment:
    dep = Deployment("rides", (Variant("v1", 1), Variant("v2", 2, 0)), router="canary", salt="c")
    return ramp.start(dep, steps=STEPS, candidate="v2", now=T0)


def decide(dep: Deployment, *, minutes: float, samples: int, guards=()) -> ramp.CanaryAction:
    return ramp.next_action(
        dep,
        steps=STEPS,
        min_dwell_seconds=600,
        min_samples=100,
        promote=True,
        now=T0 + timedelta(minutes=minutes),
        candidate_samples=samples,
        guard_results=guards,
    )


def test_start_puts_candidate_at_first_step() -> None:
    dep = started()
    assert dep.weights() == {"v1": 0.95, "v2": 0.05}
    assert dep.state["step"] == 0 and dep.state["baseline"] == "v1"


def test_holds_until_dwell_and_sample_then_advances_then_promotes() -> None:
    dep = started()
    assert decide(dep, minutes=5, samples=1000).kind == "hold"  # dwell not reached
    held = decide(dep, minutes=11, samples=99)
    assert held.kind == "hold" and "99 of 100" in held.reason  # sample not reached
    action = decide(dep, minutes=11, samples=100)
    assert action.kind == "advance" and action.percent == 25
    dep = ramp.apply(dep, action, now=T0 + timedelta(minutes=11))
    assert dep.weights() == {"v1": 0.75, "v2": 0.25} and dep.state["step"] == 1
    assert decide(dep, minutes=15, samples=500).kind == "hold"  # the dwell clock restarted
    dep = ramp.apply(dep, decide(dep, minutes=22, samples=500), now=T0 + timedelta(minutes=22))
    final = decide(dep, minutes=33, samples=500)
    assert final.kind == "promote"
    done = ramp.apply(dep, final, now=T0 + timedelta(minutes=33))
    assert done.status == "completed" and done.weights() == {"v1": 0.0, "v2": 1.0}


def test_guard_failure_rolls_back_even_before_dwell() -> None:
    bad = GuardResult("error_rate", "v2", False, 0.2, 0.05, 300, "error rate of v2 is 20.00%")
    action = decide(started(), minutes=1, samples=0, guards=[bad])
    assert action.kind == "rollback" and "20.00%" in action.reason
    dep = ramp.apply(started(), action, now=T0)
    assert dep.status == "rolled_back" and dep.weights()["v2"] == 0.0


def test_paused_canary_holds_even_with_failing_guard() -> None:
    bad = GuardResult("latency_p99", "v2", False, 900, 100, 300, "slow")
    assert decide(started().replace(status="paused"), minutes=60, samples=10**6, guards=[bad]).kind == "hold"


def log_frame(rows: list[tuple[str, int, float, str | None, int]]) -> pd.DataFrame:
    """Rows of (variant, version, latency_ms, error, seconds after T0) through the real record format."""
    records = [
        PredictionRecord(
            request_id=f"r{i}",
            model="rides",
            version=version,
            prediction=None if error else 1,
            variant=variant,
            latency_ms=latency,
            error=error,
            timestamp=T0 + timedelta(seconds=sec),
        ).to_row()
        for i, (variant, version, latency, error, sec) in enumerate(rows)
    ]
    return pd.DataFrame(records)


def test_error_rate_and_latency_guards() -> None:
    rows = [("v1", 1, 10.0, None, s) for s in range(200)]
    rows += [("v2", 2, 10.0 if i % 10 else 500.0, "boom" if i % 5 == 0 else None, i) for i in range(200)]
    log = log_frame(rows)
    guards = [
        {"type": "error_rate", "max": 0.1, "min_samples": 50},
        {"type": "latency", "quantile": 0.99, "max_ms": 100},
        {"type": "error_rate", "max_increase": 0.05},
    ]
    now = T0 + timedelta(seconds=300)
    results = check_all(
        guards, model="rides", variant=Variant("v2", 2), control=Variant("v1", 1), log=log, now=now
    )
    assert [r.ok for r in results] == [False, False, False]
    assert results[0].value == pytest.approx(0.2) and results[0].n == 200
    assert results[1].value == pytest.approx(500.0)
    ok = check_all(
        guards, model="rides", variant=Variant("v1", 1), control=Variant("v1", 1), log=log, now=now
    )
    assert all(r.ok for r in ok)


def test_guards_pass_with_too_little_data_and_respect_the_window() -> None:
    log = log_frame([("v2", 2, 10.0, "boom", s) for s in range(30)])
    guard = [{"type": "error_rate", "max": 0.01, "min_samples": 50}]
    (result,) = check_all(guard, model="rides", variant=Variant("v2", 2), control=None, log=log, now=T0)
    assert result.ok and "too few" in result.reason
    many = log_frame([("v2", 2, 10.0, "boom", s) for s in range(100)])
    later = T0 + timedelta(seconds=100 + 600 + 1)  # every row is older than the 600 s window
    (result,) = check_all(guard, model="rides", variant=Variant("v2", 2), control=None, log=many, now=later)
    assert result.ok and result.n == 0


def test_monitor_guard_reads_monitor_results_for_the_version() -> None:
    rows = [
        {
            "monitor": "drift",
            "detector": "ks",
            "feature": "trips",
            "version": 2,
            "drifted": True,
            "created_at": T0 - timedelta(minutes=5),
        },
        {
            "monitor": "drift",
            "detector": "ks",
            "feature": "trips",
            "version": 1,
            "drifted": True,
            "created_at": T0 - timedelta(minutes=5),
        },
        {
            "monitor": "drift",
            "detector": "ks",
            "feature": "rate",
            "version": 3,
            "drifted": True,
            "created_at": T0 - timedelta(hours=5),
        },
    ]
    guard = [{"type": "monitor", "monitor": "drift"}]
    empty = pd.DataFrame()
    (r2,) = check_all(
        guard, model="rides", variant=Variant("v2", 2), control=None, log=empty, monitor_rows=rows, now=T0
    )
    assert not r2.ok and "ks/trips" in r2.reason
    (r3,) = check_all(
        guard, model="rides", variant=Variant("v3", 3), control=None, log=empty, monitor_rows=rows, now=T0
    )
    assert r3.ok  # its only result is older than the window


def test_bad_guard_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"models.rides.deployment.guards.1"):
        parse_guards([{"type": "error_rate", "max": 0.1}, {"type": "latency"}], model="rides")
    with pytest.raises(ConfigError, match=r"guards.0"):
        parse_guards([{"type": "p99"}], model="rides")
