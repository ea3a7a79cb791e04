"""The ``webhook`` alerter: POSTs each alert as JSON, with a timeout and retries with backoff."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request

from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import MonitoringError
from modelyard.monitoring.alerts import Alert

logger = logging.getLogger(__name__)


class WebhookConfig(BaseModel):
    """Settings of the webhook alerter. ``url`` may be ``$env:NAME`` to read it from the environment."""

    model_config = ConfigDict(extra="forbid")

    url: str
    timeout: float = Field(5.0, gt=0, description="seconds per attempt")
    retries: int = Field(3, ge=0, description="further attempts after a failed one")
    backoff: float = Field(0.5, ge=0, description="seconds before the first retry, doubling each time")
    headers: dict[str, str] = Field(default_factory=dict)


def _resolve(value: str) -> str:
    if value.startswith("$env:"):
        name = value[len("$env:") :]
        if name not in os.environ:
            raise MonitoringError(
                f"the webhook alerter's url names environment variable {name!r}, which is not set"
            )
        return os.environ[name]
    return value


class WebhookAlerter:
    """POSTs ``alert.to_dict()`` as JSON; 5xx, 429 and connection errors are retried, 4xx is not."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    def send(self, alert: Alert) -> None:
        cfg = self.config
        url = _resolve(cfg.url)
        body = json.dumps(alert.to_dict(), default=str).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "modelyard-alerts", **cfg.headers}
        delay = cfg.backoff
        last_error = ""
        for attempt in range(cfg.retries + 1):
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=cfg.timeout) as response:
                    response.read()
                    return
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < cfg.retries:
                logger.info("webhook %s failed (%s); retry %d in %.2fs", url, last_error, attempt + 1, delay)
                time.sleep(delay)
                delay *= 2
        raise MonitoringError(
            f"webhook alerter could not deliver the alert on {alert.model!r} to {url} "
            f"after {cfg.retries + 1} attempt(s): {last_error}"
        )
