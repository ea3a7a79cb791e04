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

    @property
    def features(self) -> list[str]:
        """The features whose results failed, in result order."""
        return [r.feature for r in self.results if r.feature is not None and r.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what the webhook alerter POSTs)."""
        d = asdict(self)
        d["at"] = self.at.isoformat()
        d["results"] = [r.to_row() for r in self.results]
        d["features"] = self.features
        return d


class Alerter(Protocol):
    """What an alerter plugin's factory builds."""

    def send(self, alert: Alert) -> None: ...


def raise_alert(alert: Alert, *, host: PluginHost, alerters: Iterable[Alerter] = ()) -> None:
    """Deliver ``alert`` to each alerter, then fire ``on_alert`` on the host's plugins."""
    for alerter in alerters:
        try:
            alerter.send(alert)
        except Exception:  # noqa: BLE001 - one broken channel must not silence the others
            logger.exception(
                "alerter %s failed to deliver the alert on %s", type(alerter).__name__, alert.model
            )
    host.on_alert(alert)
