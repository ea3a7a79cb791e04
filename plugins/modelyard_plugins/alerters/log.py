"""The ``log`` alerter: one log record per alert on the ``modelyard.alerts`` logger."""

from __future__ import annotations

import logging
from typing import Any

from modelyard.monitoring.alerts import Alert

logger = logging.getLogger("modelyard.alerts")

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class LogAlerter:
    """Writes each alert to the ``modelyard.alerts`` logger at its severity's level."""

    def __init__(self, **_: Any) -> None:
        pass

    def send(self, alert: Alert) -> None:
        version = f" v{alert.version}" if alert.version is not None else ""
        variant = f" [{alert.variant}]" if alert.variant else ""
        radius = ""
        if alert.affected_models:
            radius = (
                f"; views {', '.join(alert.feature_views)}; also affects {', '.join(alert.affected_models)}"
            )
        logger.log(
            _LEVELS.get(alert.severity, logging.WARNING),
            "%s%s%s monitor %s: %s%s",
            alert.model,
            version,
            variant,
            alert.monitor,
            alert.describe(),
            radius,
            extra={"alert": alert.to_dict()},
        )
