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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from modelyard.errors import (
    DuplicatePluginError,
    PluginLoadError,
    PluginValidationError,
    UnknownPluginError,
)
from modelyard.plugins import hookspecs
from modelyard.plugins.specs import ALL_SPEC_TYPES, PluginInfo, PluginSpec

if TYPE_CHECKING:  # pragma: no cover - only for annotations
    import click

    from modelyard.monitoring.alerts import Alert
    from modelyard.predictions.records import PredictionRecord
    from modelyard.registry.gates import PromotionRequest
    from modelyard.registry.types import AliasEvent

logger = logging.getLogger(__name__)
_trace_logger = logging.getLogger("modelyard.plugins.trace")

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


#: hookimpl options modelyard refuses at registration (see :meth:`PluginHost._check_pending`)
_REFUSED_IMPL_OPTIONS = ("wrapper", "hookwrapper", "tryfirst", "trylast")


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
        self._extra_failed: list[PluginInfo] = []  # failed entry points whose name another plugin holds
        self._tracing = False
        self._commands: dict[str, tuple[Any, str]] | None = None
        self._callers: dict[
            tuple[str, int], Any
        ] = {}  # (hook, plugin) -> a pluggy caller of that plugin alone
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

    def load_entry_points(self, *, autoload: bool | None = None, use_env: bool = True) -> None:
        """Import and register each entry point; a broken one is recorded, the rest load.

        ``use_env=False`` ignores ``MODELYARD_LOAD_PLUGINS`` (for isolated test hosts).
        """
        if autoload is None:
            autoload = not _truthy(os.environ.get("MODELYARD_DISABLE_PLUGIN_AUTOLOAD"))
        allow = os.environ.get("MODELYARD_LOAD_PLUGINS") if use_env else None
        allowed = None if allow is None else {n.strip() for n in allow.split(",") if n.strip()}
        dists: dict[int, tuple[str | None, str | None]] = {}
        for ep in _entry_points():
            dist_name, dist_version = _distribution_of(ep, dists)
            if not autoload and dist_name != FIRST_PARTY_DISTRIBUTION:
                continue
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in self._infos:
                other = self._infos[ep.name]
                if (other.distribution, other.module) == (dist_name, ep.value.partition(":")[0]):
                    continue  # the same distribution seen twice on sys.path
                self._record_failure(
                    ep.name,
                    ep.value,
                    dist_name,
                    dist_version,
                    f"the entry-point name {ep.name!r} is already taken by {self._describe(ep.name)}; "
                    "rename the entry point in one of the two distributions",
                    replace=False,
                )
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import error must not stop the others
                self._record_failure(ep.name, ep.value, dist_name, dist_version, exc)
                continue
            try:
                self.register(module, name=ep.name, distribution=dist_name, version=dist_version)
            except PluginValidationError as exc:
                self._record_failure(ep.name, ep.value, dist_name, dist_version, exc)

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
            hash(plugin)  # pluggy calls one plugin at a time through a set of the others
        except TypeError:
            raise PluginValidationError(
                f"plugin {name!r}: a {type(plugin).__name__} cannot be a plugin (it is not hashable); "
                "register a module, a class or an instance"
            ) from None
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
        self._callers.clear()
        self._commands = None
        return name

    def _check_pending(self, plugin: Any, name: str, distribution: str | None) -> None:
        """Refuse ``@hookimpl`` functions whose name matches no hook spec (a misspelling), and
        the pluggy options the host does not honour (wrappers, ``tryfirst``/``trylast``)."""
        marker = f"{hookspecs.PROJECT}_impl"
        for hook_name in dir(plugin):
            if hook_name.startswith("__"):
                continue
            impl = getattr(plugin, hook_name, None)
            if impl is None or not hasattr(impl, marker):
                continue
            opts = getattr(impl, marker) or {}
            refused = [opt for opt in _REFUSED_IMPL_OPTIONS if opts.get(opt)]
            if refused:
                raise pluggy.PluginValidationError(
                    plugin,
                    f"hook {hook_name!r} is marked {', '.join(f'{o}=True' for o in refused)}; modelyard "
                    "calls one plugin at a time (so one failing plugin cannot stop another) and in "
                    "registration order, so a wrapper would wrap nothing and ordering options would be "
                    "ignored: drop the option",
                )
            hook = getattr(self.pm.hook, hook_name, None)
            if hook is None or not hook.has_spec():
                known = sorted(h for h in dir(self.pm.hook) if h.startswith("modelyard_"))
                raise pluggy.PluginValidationError(
                    plugin,
                    f"unknown hook {hook_name!r} (a misspelling?); known hooks: {', '.join(known)}",
                )

    def _record_failure(
        self,
        name: str,
        module: str,
        dist: str | None,
        version: str | None,
        exc: BaseException | str,
        *,
        replace: bool = True,
    ) -> None:
        """Remember that plugin ``name`` could not be used, and why (shown by ``modelyard plugins``)."""
        if isinstance(exc, PluginValidationError):
            reason = str(exc)
        elif isinstance(exc, BaseException):
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = exc
        error = PluginLoadError(name, dist, reason)
        logger.warning("%s", error)
        key = name if replace else f"{name} ({dist or module})"
        self._failures[key] = error
        info = PluginInfo(
            name=name, module=module.partition(":")[0], distribution=dist, version=version, error=reason
        )
        if replace:
            self._infos[name] = info
        else:
            self._extra_failed.append(info)

    def enable_tracing(self) -> None:
        """Log every hook call with its arguments and results (``MODELYARD_TRACE_PLUGINS``).

        The log comes from pluggy's own call monitoring (``add_hookcall_monitoring``): every
        line is a call pluggy made, naming the plugin it called.
        """
        if self._tracing:
            return
        self._tracing = True

        def names(impls: Sequence[pluggy.HookImpl]) -> str:
            return ", ".join(self.pm.get_name(i.plugin) or repr(i.plugin) for i in impls)

        def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
            _trace_logger.info("call %s [plugin %s] %r", hook_name, names(impls), kwargs)

        def after(
            outcome: pluggy.Result[Any],
            hook_name: str,
            impls: Sequence[pluggy.HookImpl],
            kwargs: Mapping[str, Any],
        ) -> None:
            if outcome.exception is not None:
                error = outcome.exception
                _trace_logger.info(
                    "%s [plugin %s] raised %s: %s", hook_name, names(impls), type(error).__name__, error
                )
            else:
                _trace_logger.info(
                    "%s [plugin %s] returned %r", hook_name, names(impls), outcome.get_result()
                )

        self.pm.add_hookcall_monitoring(before, after)

    def _trace(self, message: str, *args: Any) -> None:
        if self._tracing:
            _trace_logger.info(message, *args)

    # -- what is installed -----------------------------------------------------------

    @property
    def failures(self) -> dict[str, PluginLoadError]:
        """Plugins that failed to load, by entry-point name."""
        return dict(self._failures)

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, with what each contributes per role (and the CLI
        commands it adds, once :meth:`commands` has collected them)."""
        while True:  # a plugin failing in one role's hook is dropped from every role: recollect
            failed_before = len(self._failures)
            collected = {role: self._specs(role) for role in ROLE_HOOKS}
            if len(self._failures) == failed_before:
                break
        contributions: dict[str, dict[str, list[str]]] = {}
        for role in ROLE_HOOKS:
            for spec_name, provided in collected[role].items():
                contributions.setdefault(provided.plugin, {}).setdefault(role, []).append(spec_name)
        for command, (_, plugin_name) in sorted((self._commands or {}).items()):
            contributions.setdefault(plugin_name, {}).setdefault("command", []).append(command)
        events = {h for h in dir(self.pm.hook) if h.startswith("modelyard_on_")}
        result = []
        infos = sorted([*self._infos.items(), *((i.name, i) for i in self._extra_failed)], key=lambda x: x[0])
        for name, info in infos:
            contributes = dict(contributions.get(name, {}))
            plugin = self.pm.get_plugin(name) if info.error is None else None
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
        for impl in self._in_order(hook):
            plugin_name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            if plugin_name in self._failures:
                continue
            try:
                specs = list(self._call(hook_name, impl) or ())
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
                self._fail_registered(plugin_name, f"{hook_name} raised {type(exc).__name__}: {exc}")
                continue
            wrong = [s for s in specs if not isinstance(s, spec_type)]
            if wrong:
                self._fail_registered(
                    plugin_name,
                    f"{hook_name} returned {type(wrong[0]).__name__}; expected {spec_type.__name__} objects",
                )
                continue
            self._trace("%s [plugin %s] -> %s", hook_name, plugin_name, [s.name for s in specs])
            for spec in specs:
                if spec.name in found:
                    both = sorted(  # modelyard's own first, else registration order
                        [found[spec.name].plugin, plugin_name],
                        key=lambda p: self._dist(p) != FIRST_PARTY_DISTRIBUTION,
                    )
                    raise DuplicatePluginError(role, spec.name, [self._describe(p) for p in both])
                found[spec.name] = _Provided(spec=spec, plugin=plugin_name)
        self._cache[role] = found
        return found

    def _call(self, hook_name: str, impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook_name`` through pluggy (so tracing sees it).

        Only that plugin is called (a subset caller without the others), so one plugin's
        exception never stops another's call. Returns what it returned (``None`` included).
        """
        key = (hook_name, id(impl.plugin))
        caller = self._callers.get(key)
        if caller is None:
            others = [p for p in self.pm.get_plugins() if p is not impl.plugin]
            caller = self._callers[key] = self.pm.subset_hook_caller(hook_name, others)
        results = caller(**kwargs)
        return results[0] if results else None

    @staticmethod
    def _in_order(hook: Any) -> list[Any]:
        """The hook's implementations in registration order: the first plugin registered is called first.

        Entry points register in the order ``importlib.metadata`` lists them (modelyard's own
        plugins are one distribution among the others); :func:`~modelyard.plugins.testing.make_host`
        registers the built-ins first, then the given plugins in argument order. pluggy's
        ``get_hookimpls()`` lists in registration order because no ``tryfirst``/``trylast``
        or wrapper is accepted (:meth:`_check_pending`); ``pm.hook.x()`` would call them all at
        once in the reverse order, which is why the host calls them one by one (:meth:`_call`).
        """
        return list(hook.get_hookimpls())

    def _fail_registered(self, plugin_name: str, reason: str) -> None:
        """Mark a registered plugin whose hook misbehaved as failed, and unregister it."""
        info = self._infos.get(plugin_name)
        plugin = self.pm.get_plugin(plugin_name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self._cache.clear()
        self._callers.clear()
        self._commands = None
        self._record_failure(
            plugin_name,
            info.module if info else plugin_name,
            info.distribution if info else None,
            info.version if info else None,
            reason,
        )

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

    def commands(self, taken: Iterable[str] = ()) -> dict[str, tuple[click.Command, str]]:
        """Every command the plugins add to the CLI: name -> (click command, plugin name).

        Each plugin's ``modelyard_register_commands`` gets a group of its own, so a plugin that
        raises is marked failed without losing the others' commands. A command named like one
        in ``taken`` (modelyard's own) or like an earlier plugin's is refused with a warning
        naming both; the plugin's other commands stay. modelyard's own plugins go first, then the
        others in registration order.
        """
        import click

        if self._commands is not None:
            return self._commands
        found: dict[str, tuple[click.Command, str]] = {}
        reserved = set(taken)
        impls = sorted(  # modelyard's own first, so a plugin cannot take a built-in plugin's command
            self._in_order(self.pm.hook.modelyard_register_commands),
            key=lambda impl: self._dist(self.pm.get_name(impl.plugin) or "") != FIRST_PARTY_DISTRIBUTION,
        )
        for impl in impls:
            plugin_name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            group = click.Group("modelyard")
            try:
                self._call("modelyard_register_commands", impl, cli=group)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the CLI down
                self._fail_registered(
                    plugin_name, f"modelyard_register_commands raised {type(exc).__name__}: {exc}"
                )
                continue
            for name, command in group.commands.items():
                if name in reserved or name in found:
                    owner = "modelyard itself" if name in reserved else self._describe(found[name][1])
                    reason = (
                        f"the command {name!r} of {self._describe(plugin_name)} is refused: {owner} has one"
                    )
                    logger.warning("%s", reason)
                    continue
                found[name] = (command, plugin_name)
        self._commands = found
        return found

    def on_prediction(self, record: PredictionRecord) -> None:
        self._fire("modelyard_on_prediction", record=record)

    def on_predictions(self, records: Iterable[PredictionRecord]) -> None:
        """:meth:`on_prediction` for each of ``records``, in order; with no plugin listening
        (the usual case) it costs one look at the hook, not one call per record."""
        if not self.pm.hook.modelyard_on_prediction.get_hookimpls():
            return
        for record in records:
            self.on_prediction(record)

    def on_alert(self, alert: Alert) -> None:
        self._fire("modelyard_on_alert", alert=alert)

    def on_promote(self, event: AliasEvent) -> None:
        self._fire("modelyard_on_promote", event=event)

    def on_rollback(self, event: AliasEvent) -> None:
        self._fire("modelyard_on_rollback", event=event)

    def promotion_vetoes(self, request: PromotionRequest) -> list[tuple[str, str]]:
        """``(plugin, reason)`` for every plugin vetoing ``request``; a plugin that raises vetoes."""
        vetoes = []
        for impl in self._in_order(self.pm.hook.modelyard_veto_promotion):
            name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                reason = self._call("modelyard_veto_promotion", impl, request=request)
            except Exception as exc:  # fail closed: a broken gatekeeper blocks
                logger.exception("plugin %r failed in modelyard_veto_promotion", name)
                reason = f"the plugin failed ({type(exc).__name__}: {exc})"
            if reason:
                vetoes.append((name, str(reason)))
        return vetoes

    def _fire(self, hook_name: str, **kwargs: Any) -> None:
        """Call an event hook; one failing listener is logged and does not stop the others."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in self._in_order(hook):
            try:
                self._call(hook_name, impl, **kwargs)
            except Exception:  # an event listener must not break the caller
                logger.exception("plugin %r failed in %s", self.pm.get_name(impl.plugin), hook_name)


def _entry_points() -> Iterator[metadata.EntryPoint]:
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            yield ep


def _distribution_of(
    ep: metadata.EntryPoint, known: dict[int, tuple[str | None, str | None]]
) -> tuple[str | None, str | None]:
    """(name, version) of the distribution declaring ``ep``, read once per distribution into ``known``.

    ``dist.metadata`` and ``dist.version`` each parse the distribution's METADATA file again;
    the entry points of one distribution share one ``dist`` object, so it is read once.
    """
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    if id(dist) not in known:
        meta = dist.metadata
        known[id(dist)] = (meta["Name"], meta["Version"])
    return known[id(dist)]


def iter_roles() -> Iterable[str]:
    """The role names, in the order ``modelyard plugins`` shows them."""
    return ROLE_HOOKS.keys()
