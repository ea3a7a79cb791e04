"""Deployment state: read and written through the registry backend, shared by every worker.

A model's deployment is either *declared* (only ``models.X.deployment`` in
``modelyard.yaml``: its router plans the variants from the alias holder) or *stored* (a
``modelyard deploy``, a canary step or a rollback wrote it with ``put_deployment``). A
stored deployment wins; every write is appended to the backend's deployment history with
who made it and why, so ``rollout status`` and audits can replay what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelNotFound, ModelyardError, RolloutError
from modelyard.routing.router import Deployment, Router

if TYPE_CHECKING:
    from modelyard.config.schema import YardConfig
    from modelyard.plugins.manager import PluginHost
    from modelyard.registry.backend import RegistryBackend
    from modelyard.registry.retention import VersionNeed
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploymentChange:
    """One entry of a model's deployment history."""

    revision: int
    deployment: Deployment
    actor: str
    reason: str
    at: datetime | str | None


def registry_backend(yard: Yard) -> RegistryBackend:
    """The registry backend of ``yard`` (where deployment state lives)."""
    registry = yard.registry
    backend = getattr(registry, "backend", None)
    if backend is None:
        raise RolloutError("the yard's registry exposes no backend; deployment state cannot be read")
    return backend


class DeploymentStore:
    """Reads, plans and writes deployments of the models a yard declares."""

    def __init__(self, backend: RegistryBackend, *, host: PluginHost, config: YardConfig) -> None:
        self.backend = backend
        self.host = host
        self.config = config

    @classmethod
    def for_yard(cls, yard: Yard) -> DeploymentStore:
        return cls(registry_backend(yard), host=yard.host, config=yard.config)

    # -- routers -----------------------------------------------------------------------

    def build_router(self, deployment: Deployment) -> Router:
        """The router plugin ``deployment.router`` built with ``deployment.settings`` (validated)."""
        spec = self.host.spec("router", deployment.router)
        try:
            config = spec.validate_settings(
                deployment.settings, key=f"deployment of {deployment.model}.settings"
            )
        except Exception as exc:  # ConfigError from the plugin's own model, re-raised as a rollout error
            raise RolloutError(f"deployment of {deployment.model!r}: {exc}") from exc
        factory = spec.load()
        router: Router = factory() if config is None else factory(config)
        router.validate(deployment)
        return router

    # -- reading -----------------------------------------------------------------------

    def _model_config(self, model: str) -> Any:
        try:
            return self.config.models[model]
        except KeyError:
            known = ", ".join(sorted(self.config.models)) or "(none declared)"
            raise ModelNotFound(f"unknown model {model!r}; modelyard.yaml declares: {known}") from None

    def alias_version(self, model: str, alias: str) -> int | None:
        """The version holding ``alias`` of ``model``, or ``None``."""
        try:
            return self.backend.aliases(model).get(alias)
        except ModelNotFound:
            return None

    def declared(self, model: str) -> Deployment:
        """The deployment ``modelyard.yaml`` declares, planned against the current alias holder."""
        from modelyard.routing.guards import parse_guards

        cfg = self._model_config(model).deployment
        parse_guards(cfg.guards, model=model)  # a bad guard fails here, naming its key
        spec = self.host.spec("router", cfg.router.plugin)
        config = spec.validate_settings(cfg.router.settings, key=f"models.{model}.deployment.router.settings")
        factory = spec.load()
        router: Router = factory() if config is None else factory(config)
        variants = router.plan(model, alias=cfg.alias, alias_version=self.alias_version(model, cfg.alias))
        deployment = Deployment(
            model=model,
            variants=variants,
            router=cfg.router.plugin,
            settings=dict(cfg.router.settings),
            salt=str(cfg.router.settings.get("salt") or model),
            alias=cfg.alias,
            guards=tuple(cfg.guards),
            revision=0,
        )
        router.validate(deployment)
        return deployment

    def raw(self, model: str) -> dict[str, Any] | None:
        """The stored state exactly as the backend returns it (cheap; what workers poll)."""
        return self.backend.get_deployment(model)

    def stored(self, model: str) -> Deployment | None:
        """The stored deployment of ``model``, or ``None`` if nothing was ever written."""
        raw = self.raw(model)
        return None if raw is None else from_stored(model, raw)

    def current(self, model: str) -> Deployment:
        """The deployment in force: the stored one, else the declared one."""
        self._model_config(model)
        return self.stored(model) or self.declared(model)

    def declared_needs(self) -> list[VersionNeed]:
        """Versions the declared deployments of models without a stored one serve (for gc).

        Stored deployments are read by gc itself from the backend; a declared deployment
        that cannot be planned (no alias holder yet) serves nothing and needs nothing.
        """
        from modelyard.registry.retention import VersionNeed

        needs = []
        for model in sorted(self.config.models):
            if self.raw(model) is not None:
                continue
            try:
                deployment = self.declared(model)
            except ModelyardError as exc:
                logger.debug("the declared deployment of %s serves nothing yet: %s", model, exc)
                continue
            needs += [
                VersionNeed(
                    model,
                    v.version,
                    f"{v.mode} variant {v.name!r} of the {deployment.router} deployment modelyard.yaml declares",
                )
                for v in deployment.variants
            ]
        return needs

    def history(self, model: str) -> list[DeploymentChange]:
        """Every stored deployment of ``model``, oldest first."""
        changes = []
        for entry in self.backend.deployment_history(model):
            changes.append(
                DeploymentChange(
                    revision=int(entry.get("revision", 0)),
                    deployment=from_stored(model, entry.get("state") or {}, revision=entry.get("revision")),
                    actor=str(entry.get("actor", "")),
                    reason=str(entry.get("reason", "")),
                    at=entry.get("at"),
                )
            )
        return changes

    # -- writing -----------------------------------------------------------------------

    def write(self, deployment: Deployment, *, actor: str, reason: str) -> Deployment:
        """Check and store ``deployment``; returns it with its new revision.

        Every variant's version must exist and the router must accept the variants;
        a failed check stores nothing.
        """
        self._model_config(deployment.model)
        if not reason.strip():
            raise RolloutError(f"deployment of {deployment.model!r}: a reason is required for the history")
        from modelyard.routing.guards import parse_guards

        parse_guards(deployment.guards, model=deployment.model)  # ConfigError names the bad guard
        for variant in deployment.variants:
            self.backend.get_version(deployment.model, variant.version)  # VersionNotFound names it
        self.build_router(deployment)
        # The backend numbers revisions; the state carries the number it should get so that
        # workers polling get_deployment see it too (equal unless two writers race).
        previous = self.raw(deployment.model) or {}
        expected = int(previous.get("revision", 0) or 0) + 1
        revision = self.backend.put_deployment(
            deployment.model, {**deployment.to_dict(), "revision": expected}, actor=actor, reason=reason
        )
        logger.info(
            "deployment of %s is now revision %s (%s, by %s): %s",
            deployment.model,
            revision,
            ", ".join(
                f"{v.name}=v{v.version}:{v.weight:g}{'' if v.mode == 'live' else ' shadow'}"
                for v in deployment.variants
            ),
            actor,
            reason,
        )
        return deployment.replace(revision=int(revision))


def from_stored(model: str, raw: Mapping[str, Any], *, revision: Any = None) -> Deployment:
    """A :class:`Deployment` from a stored state dict, or a RolloutError naming the model."""
    try:
        data = dict(raw)
        data.setdefault("model", model)
        rev = revision if revision is not None else data.get("revision", 0)
        return Deployment.from_dict(data, revision=int(rev or 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise RolloutError(f"stored deployment of {model!r} is unreadable ({exc}); deploy it again") from exc
