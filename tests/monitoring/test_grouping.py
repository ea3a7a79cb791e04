"""Alert grouping: repeated failures notify once, reminders after the interval, changes and recoveries at once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from modelyard.monitoring.grouping import Run, decide, last_passed, runs_of

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
A = ("rating", "wasserstein_norm")
B = ("conv_rate", "wasserstein_norm")


def _run(minutes: int, *failed, passed=()) -> Run:
    return Run(at=T0 + timedelta(minutes=minutes), failed=frozenset(failed), passed=frozenset(passed))


def _notifications(runs: list[Run], every: timedelta = timedelta(hours=1)) -> list[str | None]:
    return [decide(runs[:i], run, renotify_every=every).notification for i, run in enumerate(runs)]


def test_a_failure_that_keeps_failing_is_sent_once_then_reminded() -> None:
    runs = [_run(0, passed=[A]), *(_run(15 * i, A) for i in range(1, 9)), _run(150, passed=[A])]
    assert _notifications(runs) == [
        None,
        "new",
        "suppressed",
        "suppressed",
        "suppressed",
        "reminder",  # 60 minutes after the first notification
        "suppressed",
        "suppressed",
        "suppressed",
        "recovered",
    ]
    last = decide(runs[:-1], runs[-1], renotify_every=timedelta(hours=1))
    assert last.failing_since == T0 + timedelta(minutes=15)


def test_a_new_failing_check_notifies_at_once() -> None:
    runs = [_run(0, A), _run(5, A), _run(10, A, B), _run(15, A, B), _run(20, B)]
    assert _notifications(runs) == ["new", "suppressed", "changed", "suppressed", "suppressed"]
    assert decide(runs[:3], runs[3], renotify_every=timedelta(hours=1)).occurrences == 4


def test_no_grouping_without_an_interval() -> None:
    runs = [_run(i, A) for i in range(3)]
    assert _notifications(runs, every=timedelta(0)) == ["new", "reminder", "reminder"]


def test_history_rows_make_runs_and_say_when_a_check_last_passed() -> None:
    rows = [
        {
            "monitor": "drift",
            "version": 1,
            "variant": None,
            "feature": "rating",
            "statistic": "ks",
            "drifted": False,
            "created_at": T0,
            "window_end": T0 - timedelta(minutes=1),
        },
        {
            "monitor": "drift",
            "version": 1,
            "variant": None,
            "feature": "rating",
            "statistic": "ks",
            "drifted": True,
            "created_at": T0 + timedelta(hours=1),
            "window_end": T0,
        },
        {
            "monitor": "drift",
            "version": 2,
            "variant": None,
            "feature": "rating",
            "statistic": "ks",
            "drifted": False,
            "created_at": T0 + timedelta(hours=2),
            "window_end": T0,
        },
    ]
    runs = runs_of(rows, monitor="drift", version=1, variant=None)
    assert [r.failed for r in runs] == [frozenset(), frozenset({("rating", "ks")})]
    assert last_passed(runs, ("rating", "ks")) == T0 - timedelta(minutes=1)
    assert last_passed(runs, ("other", "ks")) is None
