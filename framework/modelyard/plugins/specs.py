"""Typed spec objects: what a contribution hook returns.

A plugin never hands modelyard a bare class. It yields a small frozen spec naming the
thing it contributes, a one-line summary, the factory that builds it and the pydantic
model its settings are validated with. The host collects them by name, refuses
duplicates, and builds the one a ``modelyard.yaml`` chooses.

``factory`` and ``config`` may be given as ``"module:attribute"`` strings so that listing
plugins (``modelyard plugins``) never imports their heavy dependencies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from modelyard.errors import ConfigError, PluginError


def resolve(ref: Any) -> Any:
    """Return the object ``ref`` names: itself, or the target of a ``"module:attr"`` string."""
    if not isinstance(ref, str):
        return ref
    module_name, _, attr = ref.partition(":")
    if not attr:
        raise PluginError(f"bad plugin reference {ref!r}: expected 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import {module_name!r} for {ref!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"{module_name!r} has no attribute {attr!r} (from {ref!r})") from exc
    return obj


@dataclass(frozen=True)
class PluginSpec:
    """What every role's spec has: a unique name, a summary, a factory and a config model."""

    name: str
    summary: str
    factory: Callable[..., Any] | str
    config: Any = None  # type[pydantic.BaseModel] | "module:Class" | None
    role: ClassVar[str] = "plugin"

    def load(self) -> Callable[..., Any]:
        """The factory itself, importing it if it was given by reference."""
        return resolve(self.factory)

    def config_model(self) -> Any:
        """The pydantic model that validates this plugin's settings, or ``None``."""
        return resolve(self.config) if self.config is not None else None

    def validate_settings(
        self, settings: Mapping[str, Any] | None, *, file: str | None = None, key: str | None = None
    ) -> Any:
        """Validate ``settings`` with the plugin's own model; errors name file and key path."""
        from pydantic import ValidationError

        settings = dict(settings or {})
        model = self.config_model()
        if model is None:
            if settings:
                raise ConfigError(
                    f"the {self.role} plugin {self.name!r} takes no settings, got {sorted(settings)}",
                    file=file,
                    key=key,
                )
            return None
        try:
            return model.model_validate(settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            full_key = f"{key}.{loc}" if key and loc else (key or loc)
            raise ConfigError(
                f"{first['msg']} (settings of the {self.role} plugin {self.name!r})",
                file=file,
                key=full_key,
            ) from None

    def build(self, settings: Mapping[str, Any] | None = None, **context: Any) -> Any:
        """Validate ``settings`` and call the factory with the config object (if any) and ``context``."""
        config = self.validate_settings(settings)
        factory = self.load()
        if config is None:
            return factory(**context)
        return factory(config, **context)


@dataclass(frozen=True)
class DetectorSpec(PluginSpec):
    """A monitoring detector. ``kind`` is one of drift, quality, performance, skew, health."""

    kind: str = "drift"
    role: ClassVar[str] = "detector"


@dataclass(frozen=True)
class RegistryBackendSpec(PluginSpec):
    """A model-registry backend: stores models, versions, snapshots, aliases and their history."""

    role: ClassVar[str] = "registry_backend"


@dataclass(frozen=True)
class RouterSpec(PluginSpec):
    """A traffic router: picks the answering variant and the shadows of a request."""

    role: ClassVar[str] = "router"


@dataclass(frozen=True)
class FlavorSpec(PluginSpec):
    """A model flavor: saves an estimator as artifact files and loads them into a predictor.

    ``suffixes`` are the artifact file endings this flavor recognises, and ``handles`` is
    an optional ``"module:function"`` that says whether a Python object can be saved by it.
    ``requires`` are the pip requirements a serving image needs to *load* its artifacts,
    beyond the providing distribution's own dependencies (``modelyard containerize`` adds them).
    """

    suffixes: tuple[str, ...] = ()
    handles: Any = None
    requires: tuple[str, ...] = ()
    role: ClassVar[str] = "flavor"


@dataclass(frozen=True)
class LogSinkSpec(PluginSpec):
    """A prediction-log sink: where PredictionRecords are written."""

    role: ClassVar[str] = "log_sink"


@dataclass(frozen=True)
class CacheSpec(PluginSpec):
    """A prediction cache backend (in-process LRU, Redis...)."""

    role: ClassVar[str] = "cache"


@dataclass(frozen=True)
class AlerterSpec(PluginSpec):
    """An alert channel: delivers monitoring Alerts (log, webhook...)."""

    role: ClassVar[str] = "alerter"


@dataclass(frozen=True)
class ProtocolSpec(PluginSpec):
    """An HTTP protocol front end: the routes a serving worker answers (v1 JSON, Open Inference v2...).

    The factory is called once per app, as ``factory(yard=yard)`` (or ``factory(config, yard=yard)``
    with a config model), before any model is loaded, and returns a
    :class:`modelyard.serving.protocol.ProtocolRoutes`: its routes, the scope each path needs
    (``predict``, ``feedback``, ``admin`` or ``open``; a path not listed needs ``admin``) and
    optionally the POST endpoints answered ahead of FastAPI's middleware. ``serving.protocols``
    in ``modelyard.yaml`` chooses which protocols a server mounts.
    """

    role: ClassVar[str] = "protocol"


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin module as ``modelyard plugins`` shows it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    error: str | None = None
    contributes: dict[str, list[str]] = field(default_factory=dict)


ALL_SPEC_TYPES: tuple[type[PluginSpec], ...] = (
    DetectorSpec,
    RegistryBackendSpec,
    RouterSpec,
    FlavorSpec,
    LogSinkSpec,
    CacheSpec,
    AlerterSpec,
    ProtocolSpec,
)
