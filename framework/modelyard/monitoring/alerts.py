"""Alerts: what a failed monitor raises, and how it is delivered.

An :class:`Alert` goes to every configured alerter plugin (``monitoring.alerters`` in
``modelyard.yaml``: ``log`` by default, ``webhook``...) and to the ``on_alert`` event hook,
where rollout guards listen. :func:`raise_alert` does both; one failing channel is logged and
does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol

from modelyard.monitoring.results import DetectorResult

if TYPE_CHECKING:
    from modelyard.plugins.manager import PluginHost

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]


@dataclass
class Alert:
    """A monitor found a problem with a model (version / variant) over a window.

    ``results`` are the detector results that failed; ``feature_views``, ``data_sources``
    and ``affected_models`` are the blast radius of the drifted features (filled in by
    :func:`modelyard.monitoring.blast_radius.blast_radius`): the Feast feature views and
    data sources they come from, and every declared model (``"model"`` or
    ``"model/variant"``) that reads them.

    How much and since when: ``findings`` has one entry per failed check (feature, statistic,
    value, threshold, p-value, and ``last_passed``, when that check last passed in the stored
    history, ``None`` if it never did there); ``window_start`` / ``window_end`` / ``window_rows``
    say what was judged; ``notification`` is ``new``, ``changed``, ``reminder`` or ``recovered``
    (:mod:`modelyard.monitoring.grouping`), ``failing_since`` when the condition started failing
    and ``occurrences`` how many runs in a row have failed.
    """

    model: str
    version: int | None
    variant: str | None
    monitor: str
    severity: Severity
    summary: str
    results: list[DetectorResult] = field(default_factory=list)
    feature_views: list[str] = field(default_factory=list)
    data_sources: list[str] = field(default_factory=list)
    affected_models: list[str] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    notification: str = "new"
    window_start: datetime | None = None
    window_end: datetime | None = None
    window_rows: int | None = None
    failing_since: datetime | None = None
    occurrences: int = 1
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        """The features whose results failed, in result order."""
        return [r.feature for r in self.results if r.feature is not None and r.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what the webhook alerter POSTs)."""
        d = asdict(self)
        for name in ("at", "window_start", "window_end", "failing_since"):
            value = getattr(self, name)
            d[name] = value.isoformat() if value is not None else None
        d["results"] = [r.to_row() for r in self.results]
        d["features"] = self.features
        d["findings"] = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in f.items()}
            for f in self.findings
        ]
        return d

    def describe(self) -> str:
        """One line: what failed, by how much, over which window, and since when."""
        window = ""
        if self.window_rows is not None:
            span = ""
            if self.window_start is not None and self.window_end is not None:
                span = f", {_when(self.window_start)} to {_when(self.window_end)}"
            window = f" [window: {self.window_rows} rows{span}]"
        parts = []
        for f in self.findings:
            name = f"{f['feature']} " if f.get("feature") else ""
            passed = f.get("last_passed")
            since = f"last passed {_when(passed)}" if passed is not None else "no pass on record"
            parts.append(
                f"{name}{f['statistic']} {_num(f.get('value'))} vs threshold {_num(f.get('threshold'))} ({since})"
            )
        streak = ""
        if self.failing_since is not None:
            verb = "was failing" if self.notification == "recovered" else "failing"
            streak = f"; {verb} since {_when(self.failing_since)} ({self.occurrences} run(s))"
        details = f": {'; '.join(parts)}" if parts else ""
        return f"[{self.notification}] {self.summary}{window}{details}{streak}"


def _when(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


class Alerter(Protocol):
    """What an alerter plugin's factory builds."""

    def send(self, alert: Alert) -> None: ...


def raise_alert(alert: Alert, *, host: PluginHost, alerters: Iterable[Alerter] = ()) -> None:
    """Deliver ``alert`` to each alerter, then fire ``on_alert`` on the host's plugins."""
    for alerter in alerters:
        try:
            alerter.send(alert)
        except Exception:  # one broken channel must not silence the others
            logger.exception(
                "alerter %s failed to deliver the alert on %s", type(alerter).__name__, alert.model
            )
    host.on_alert(alert)
