"""modelyard's own HTTP protocols, declared exactly as a third-party protocol plugin declares its own.

Listing them imports nothing: each factory is a ``"module:function"`` string, imported when a
server mounts the protocol (``serving.protocols`` in ``modelyard.yaml``; all five by default).
"""

from __future__ import annotations

from collections.abc import Iterator

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import ProtocolSpec


@hookimpl
def modelyard_protocols() -> Iterator[ProtocolSpec]:
    yield ProtocolSpec(
        name="v1",
        summary="v1 JSON: POST /v1/models/{model}/predict, POST /v1/features/{model}, GET /v1/models.",
        factory="modelyard.serving.routes_v1:protocol",
    )
    yield ProtocolSpec(
        name="v2",
        summary="Open Inference Protocol v2 (KServe, Triton, MLServer clients): metadata, readiness, infer.",
        factory="modelyard.serving.routes_v2:protocol",
    )
    yield ProtocolSpec(
        name="feedback",
        summary="POST /v1/models/{model}/feedback: ground truth for past predictions.",
        factory="modelyard.serving.routes_feedback:protocol",
    )
    yield ProtocolSpec(
        name="push",
        summary="POST /v1/push/{push_source}: fresh feature rows through a Feast PushSource (admin).",
        factory="modelyard.serving.routes_push:protocol",
    )
    yield ProtocolSpec(
        name="ui",
        summary="GET /ui: the web UI of the yard (admin).",
        factory="modelyard.ui.routes:protocol",
    )
