"""Which monitor runs notify: repeated failures grouped, reminders at an interval, recoveries announced.

A monitor that runs every 15 minutes on a drifted feature would page on every run. A
*condition* is one monitor on one model version (and variant): it fails when the run has
failed checks. Notifications follow the stored history of that condition
(``monitor_results``), so they are the same whichever process or machine runs the monitor:

* ``new``: the condition fails after a passing run (or with no history);
* ``changed``: it keeps failing, and a check failed that did not fail in the previous run;
* ``reminder``: it keeps failing the same way, and ``renotify_every`` has passed since the
  last notification (replayed from the history with the same rules);
* ``suppressed``: it keeps failing the same way within the interval: the run is stored, nothing sent;
* ``recovered``: it passes after a failing run: announced once, at ``info`` severity.

The same history says when each failing check last passed (``last_passed``) and since when the
condition has been failing (``failing_since``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

Notification = Literal["new", "changed", "reminder", "suppressed", "recovered"]
Check = tuple[str | None, str]  # (feature, statistic)


@dataclass(frozen=True)
class Run:
    """One stored run of a condition: when, and which checks failed and passed."""

    at: datetime
    failed: frozenset[Check]
    passed: frozenset[Check]
    window_end: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """What to do about the current run of a condition."""

    notification: Notification | None  # None: passing, nothing to announce
    failing_since: datetime | None
    occurrences: int  # failing runs in the current streak, this one included
    last_notified: datetime | None


def runs_of(
    rows: Iterable[Mapping[str, Any]], *, monitor: str, version: int | None, variant: str | None
) -> list[Run]:
    """The stored runs of one condition, oldest first (rows of one run share ``created_at``)."""
    by_time: dict[datetime, tuple[set[Check], set[Check], datetime | None]] = {}
    for row in rows:
        if row["monitor"] != monitor or row["version"] != version or row["variant"] != variant:
            continue
        failed, passed, _ = by_time.setdefault(row["created_at"], (set(), set(), row.get("window_end")))
        check = (row["feature"], row["statistic"])
        (failed if row["drifted"] else passed).add(check)
    return [
        Run(at=at, failed=frozenset(f), passed=frozenset(p), window_end=end)
        for at, (f, p, end) in sorted(by_time.items())
    ]


def decide(history: list[Run], current: Run, *, renotify_every: timedelta) -> Decision:
    """Replay ``history`` with the rules of the module docstring, then judge ``current``."""
    previous: Run | None = None
    notified: datetime | None = None
    since: datetime | None = None
    occurrences = 0
    decision = Decision(None, None, 0, None)
    for run in [*history, current]:
        if run.failed:
            occurrences = occurrences + 1 if previous is not None and previous.failed else 1
            if previous is None or not previous.failed:
                kind: Notification = "new"
                since = run.at
            elif run.failed - previous.failed:
                kind = "changed"
            elif notified is None or run.at - notified >= renotify_every:
                kind = "reminder"
            else:
                kind = "suppressed"
            if kind != "suppressed":
                notified = run.at
            decision = Decision(kind, since, occurrences, notified)
        else:
            recovered = previous is not None and bool(previous.failed)
            decision = Decision("recovered" if recovered else None, since if recovered else None, 0, notified)
            since, occurrences = None, 0
        previous = run
    return decision


def last_passed(history: list[Run], check: Check) -> datetime | None:
    """When ``check`` last passed in ``history`` (the end of that run's window if known), else ``None``."""
    for run in reversed(history):
        if check in run.passed:
            return run.window_end or run.at
    return None
