"""Alert channels: log (default) and webhook."""

from __future__ import annotations

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import AlerterSpec


@hookimpl
def modelyard_alerters():
    yield AlerterSpec(
        name="log",
        summary="Writes each alert to the modelyard.alerts logger.",
        factory="modelyard_plugins.alerters.log:LogAlerter",
    )
    yield AlerterSpec(
        name="webhook",
        summary="POSTs each alert as JSON to a URL, retried, with a timeout.",
        factory="modelyard_plugins.alerters.webhook:WebhookAlerter",
        config="modelyard_plugins.alerters.webhook:WebhookConfig",
    )
