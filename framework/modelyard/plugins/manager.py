"""The plugin host: loads plugins from entry points and gives typed access to them.

Built-in plugins and third-party plugins take the same path: each is a module named in
the ``modelyard`` entry-point group of its distribution. The rest of modelyard talks to
plugins only through :class:`PluginHost` (``host.spec("router", "ab")``,
``host.on_alert(alert)``), never through ``pm.hook`` directly.

Environment switches:

``MODELYARD_DISABLE_PLUGIN_AUTOLOAD=1``
    load only the plugins that ship with modelyard itself, none of the third-party ones.
``MODELYARD_LOAD_PLUGINS=a,b``
    load only the entry points with these names (an empty value loads none).
``MODELYARD_TRACE_PLUGINS=1``
    log every hook call and its result on the ``modelyard.plugins.trace`` logger.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from modelyard.errors import (
    DuplicatePluginError,
    PluginLoadError,
    PluginValidationError,
    UnknownPluginError,
)
from modelyard.plugins import hookspecs
from modelyard.plugins.specs import ALL_SPEC_TYPES, PluginInfo, PluginSpec

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = hookspecs.PROJECT
FIRST_PARTY_DISTRIBUTION = "modelyard"

#: role name -> (hook name, spec type)
ROLE_HOOKS: dict[str, tuple[str, type[PluginSpec]]] = {
    spec_type.role: (f"modelyard_{spec_type.role}s", spec_type) for spec_type in ALL_SPEC_TYPES
}


@dataclass(frozen=True)
class _Provided:
    spec: PluginSpec
    plugin: str  # the plugin (entry point) name that yielded it


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class PluginHost:
    """A pluggy manager plus what modelyard knows about each plugin.

    Build one with :meth:`from_entry_points` (what the CLI and server do) or, in tests,
    with :func:`modelyard.plugins.testing.make_host`.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._failures: dict[str, PluginLoadError] = {}
        self._cache: dict[str, dict[str, _Provided]] = {}
        if _truthy(os.environ.get("MODELYARD_TRACE_PLUGINS")):
            self.enable_tracing()

    # -- loading ---------------------------------------------------------------------

    @classmethod
    def from_entry_points(cls, *, autoload: bool | None = None) -> PluginHost:
        """A host with every plugin in the ``modelyard`` entry-point group loaded.

        ``autoload=False`` (or ``MODELYARD_DISABLE_PLUGIN_AUTOLOAD=1``) keeps only the
        plugins shipped by modelyard's own distribution.
        """
        host = cls()
        host.load_entry_points(autoload=autoload)
        return host

    def load_entry_points(self, *, autoload: bool | None = None) -> None:
        """Import and register each entry point; a broken one is recorded, the rest load."""
        if autoload is None:
            autoload = not _truthy(os.environ.get("MODELYARD_DISABLE_PLUGIN_AUTOLOAD"))
        allow = os.environ.get("MODELYARD_LOAD_PLUGINS")
        allowed = None if allow is None else {n.strip() for n in allow.split(",") if n.strip()}
        for ep in _entry_points():
            dist_name, dist_version = _distribution_of(ep)
            if not autoload and dist_name != FIRST_PARTY_DISTRIBUTION:
                continue
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in self._infos:
                continue  # the same distribution seen twice on sys.path
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import error must not stop the others
                self._record_failure(ep.name, ep.value, dist_name, dist_version, exc)
                continue
            self.register(module, name=ep.name, distribution=dist_name, version=dist_version)

    def register(
        self,
        plugin: Any,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> str:
        """Register one plugin object (usually a module) and validate its hooks at once."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        try:
            self.pm.register(plugin, name=name)
            self._check_pending(plugin, name, distribution)
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            dist = f" (distribution {distribution})" if distribution else ""
            raise PluginValidationError(f"plugin {name!r}{dist}: {exc}") from None
        except ValueError as exc:  # pluggy: name already registered
            raise PluginValidationError(f"plugin {name!r}: {exc}") from None
        self._infos[name] = PluginInfo(name=name, module=module, distribution=distribution, version=version)
        self._cache.clear()
        return name

    def _check_pending(self, plugin: Any, name: str, distribution: str | None) -> None:
        for hook_name in dir(plugin):
            if not hook_name.startswith("modelyard_"):
                continue
            impl = getattr(plugin, hook_name, None)
            if impl is None or not hasattr(impl, f"{hookspecs.PROJECT}_impl"):
                continue
            hook = getattr(self.pm.hook, hook_name, None)
            if hook is None or not hook.has_spec():
                known = sorted(h for h in dir(self.pm.hook) if h.startswith("modelyard_"))
                raise pluggy.PluginValidationError(
                    plugin,
                    f"unknown hook {hook_name!r} (a misspelling?); known hooks: {', '.join(known)}",
                )

    def _record_failure(
        self, name: str, module: str, dist: str | None, version: str | None, exc: BaseException
    ) -> None:
        error = PluginLoadError(name, dist, f"{type(exc).__name__}: {exc}")
        logger.warning("%s", error)
        self._failures[name] = error
        self._infos[name] = PluginInfo(
            name=name, module=module.partition(":")[0], distribution=dist, version=version, error=str(exc)
        )

    def enable_tracing(self) -> None:
        """Log every hook call with its arguments and results (``MODELYARD_TRACE_PLUGINS``)."""
        trace_logger = logging.getLogger("modelyard.plugins.trace")
        self.pm.trace.root.setwriter(lambda message: trace_logger.info("%s", message.rstrip()))
        self.pm.enable_tracing()

    # -- what is installed -----------------------------------------------------------

    @property
    def failures(self) -> dict[str, PluginLoadError]:
        """Plugins that failed to load, by entry-point name."""
        return dict(self._failures)

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, with what each contributes per role."""
        contributions: dict[str, dict[str, list[str]]] = {}
        for role in ROLE_HOOKS:
            for spec_name, provided in self._specs(role).items():
                contributions.setdefault(provided.plugin, {}).setdefault(role, []).append(spec_name)
        events = {h for h in dir(self.pm.hook) if h.startswith("modelyard_on_")}
        result = []
        for name, info in sorted(self._infos.items()):
            contributes = dict(contributions.get(name, {}))
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                hooked = sorted(e.removeprefix("modelyard_") for e in events if hasattr(plugin, e))
                if hooked:
                    contributes["events"] = hooked
            result.append(
                PluginInfo(
                    name=info.name,
                    module=info.module,
                    distribution=info.distribution,
                    version=info.version,
                    error=info.error,
                    contributes=contributes,
                )
            )
        return result

    # -- choosing by name --------------------------------------------------------------

    def _specs(self, role: str) -> dict[str, _Provided]:
        if role in self._cache:
            return self._cache[role]
        hook_name, spec_type = ROLE_HOOKS[role]
        hook = getattr(self.pm.hook, hook_name)
        found: dict[str, _Provided] = {}
        for impl in hook.get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                specs = list(impl.function() or ())
            except Exception as exc:  # noqa: BLE001 - report which plugin broke
                raise PluginLoadError(plugin_name, self._dist(plugin_name), exc) from exc
            for spec in specs:
                if not isinstance(spec, spec_type):
                    raise PluginValidationError(
                        f"plugin {plugin_name!r} ({self._dist(plugin_name) or 'no distribution'}) "
                        f"returned {type(spec).__name__} from {hook_name}; expected {spec_type.__name__}"
                    )
                if spec.name in found:
                    raise DuplicatePluginError(
                        role,
                        spec.name,
                        [self._describe(found[spec.name].plugin), self._describe(plugin_name)],
                    )
                found[spec.name] = _Provided(spec=spec, plugin=plugin_name)
        self._cache[role] = found
        return found

    def _dist(self, plugin_name: str) -> str | None:
        info = self._infos.get(plugin_name)
        return info.distribution if info else None

    def _describe(self, plugin_name: str) -> str:
        dist = self._dist(plugin_name)
        return f"plugin {plugin_name!r} (distribution {dist})" if dist else f"plugin {plugin_name!r}"

    def specs(self, role: str) -> dict[str, PluginSpec]:
        """Every spec of ``role`` by name (``detector``, ``router``, ``flavor``...)."""
        if role not in ROLE_HOOKS:
            raise UnknownPluginError("role", role, ROLE_HOOKS)
        return {name: p.spec for name, p in self._specs(role).items()}

    def spec(self, role: str, name: str) -> PluginSpec:
        """The spec named ``name`` for ``role``; an unknown name lists the known ones."""
        specs = self.specs(role)
        if name not in specs:
            failed = [str(err) for err in self._failures.values()]
            raise UnknownPluginError(role, name, specs, failed)
        return specs[name]

    def provider(self, role: str, name: str) -> PluginInfo:
        """Which plugin provides ``name`` for ``role``."""
        self.spec(role, name)
        return self._infos[self._specs(role)[name].plugin]

    # -- typed facade over the hooks -----------------------------------------------------

    def detectors(self) -> dict[str, PluginSpec]:
        return self.specs("detector")

    def registry_backends(self) -> dict[str, PluginSpec]:
        return self.specs("registry_backend")

    def routers(self) -> dict[str, PluginSpec]:
        return self.specs("router")

    def flavors(self) -> dict[str, PluginSpec]:
        return self.specs("flavor")

    def log_sinks(self) -> dict[str, PluginSpec]:
        return self.specs("log_sink")

    def caches(self) -> dict[str, PluginSpec]:
        return self.specs("cache")

    def alerters(self) -> dict[str, PluginSpec]:
        return self.specs("alerter")

    def on_prediction(self, record: Any) -> None:
        self._fire("modelyard_on_prediction", record=record)

    def on_alert(self, alert: Any) -> None:
        self._fire("modelyard_on_alert", alert=alert)

    def on_promote(self, event: Any) -> None:
        self._fire("modelyard_on_promote", event=event)

    def on_rollback(self, event: Any) -> None:
        self._fire("modelyard_on_rollback", event=event)

    def _fire(self, hook_name: str, **kwargs: Any) -> None:
        """Call an event hook; one failing listener is logged and does not stop the others."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):
            args = {k: v for k, v in kwargs.items() if k in impl.argnames}
            try:
                impl.function(**args)
            except Exception:  # noqa: BLE001 - an event listener must not break the caller
                logger.exception(
                    "plugin %r failed in %s", self.pm.get_name(impl.plugin), hook_name
                )


def _entry_points() -> Iterator[metadata.EntryPoint]:
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            yield ep


def _distribution_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def iter_roles() -> Iterable[str]:
    """The role names, in the order ``modelyard plugins`` shows them."""
    return ROLE_HOOKS.keys()
