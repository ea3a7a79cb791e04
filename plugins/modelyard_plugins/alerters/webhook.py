"""The ``webhook`` alerter: POSTs each alert as JSON, with a timeout and retries with backoff."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request

from pydantic import BaseModel, ConfigDict, Field
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

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


class _Retryable(Exception):
    """A failed attempt worth repeating: 5xx, 429, a timeout or a connection error."""


class _Refused(Exception):
    """A failed attempt not worth repeating: any other HTTP error (4xx)."""


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code < 500 and exc.code != 429:
            raise _Refused(f"HTTP {exc.code}") from None
        raise _Retryable(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise _Retryable(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


class WebhookAlerter:
    """POSTs ``alert.to_dict()`` as JSON; 5xx, 429 and connection errors are retried, 4xx is not."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    def send(self, alert: Alert) -> None:
        cfg = self.config
        url = _resolve(cfg.url)
        body = json.dumps(alert.to_dict(), default=str).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "modelyard-alerts", **cfg.headers}
        retrying = Retrying(
            stop=stop_after_attempt(cfg.retries + 1),
            wait=wait_exponential(multiplier=cfg.backoff),  # backoff, then doubling
            retry=retry_if_exception_type(_Retryable),
            before_sleep=lambda state: logger.info(
                "webhook %s failed (%s); retry %d in %.2fs",
                url,
                state.outcome.exception() if state.outcome else "",
                state.attempt_number,
                state.next_action.sleep if state.next_action else 0.0,
            ),
            reraise=True,
        )
        try:
            retrying(_post, url, body, headers, cfg.timeout)
        except (_Retryable, _Refused) as exc:
            attempts = retrying.statistics.get("attempt_number", cfg.retries + 1)
            raise MonitoringError(
                f"webhook alerter could not deliver the alert on {alert.model!r} to {url} "
                f"after {attempts} attempt(s): {exc}"
            ) from None
