"""The router role: value types and the :class:`Router` ABC every router plugin implements.

A router is a pure function of a request and a deployment: it holds no mutable state and
does no I/O, so every serving worker given the same deployment makes the same choice for
the same routing key. Changing traffic (canary ramps, rollbacks, new weights) is done by
writing a new :class:`Deployment` to the registry (see :mod:`modelyard.routing.deployment`),
never by mutating a router.

Example router plugin (a fixed "always the newest version" router)::

    from modelyard.routing.router import RouteDecision, Router

    class NewestRouter(Router):
        def route(self, request, deployment):
            live = max(deployment.live_variants(), key=lambda v: v.version)
            return RouteDecision(live=live, shadows=list(deployment.shadow_variants()))
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from modelyard.errors import RolloutError

VariantMode = Literal["live", "shadow"]
DeploymentStatus = Literal["active", "paused", "aborted", "completed", "rolled_back"]
STATUSES: tuple[str, ...] = ("active", "paused", "aborted", "completed", "rolled_back")


@dataclass(frozen=True)
class Variant:
    """One model version taking part in a deployment.

    ``name`` is what the prediction log and reports show (``"v3"``, ``"control"``...);
    ``weight`` is the share of live traffic (live variants' weights need not sum to 1,
    they are normalised); a ``shadow`` variant scores requests off the response path
    and its weight is ignored.
    """

    name: str
    version: int
    weight: float = 1.0
    mode: VariantMode = "live"

    def __post_init__(self) -> None:
        if self.mode not in ("live", "shadow"):
            raise RolloutError(f"variant {self.name!r}: mode must be 'live' or 'shadow', got {self.mode!r}")
        if self.weight < 0:
            raise RolloutError(f"variant {self.name!r}: weight must be >= 0, got {self.weight}")
        if int(self.version) != self.version or self.version < 1:
            raise RolloutError(
                f"variant {self.name!r}: version must be a positive integer, got {self.version!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": int(self.version),
            "weight": float(self.weight),
            "mode": self.mode,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Variant:
        return cls(
            name=str(data.get("name") or f"v{int(data['version'])}"),
            version=int(data["version"]),
            weight=float(data.get("weight", 1.0)),
            mode=data.get("mode", "live"),
        )


@dataclass(frozen=True)
class RouteRequest:
    """What a router may look at: the model, a routing key, the entity keys and the request id.

    ``routing_key`` (a user id, a session id...) is what makes assignment sticky; when it
    is absent routers fall back to the entity keys, then to the request id.
    """

    model: str
    routing_key: str | None = None
    entities: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None

    def sticky_key(self) -> str | None:
        """The string assignment is hashed on: routing key, else sorted entity keys, else request id."""
        if self.routing_key is not None and self.routing_key != "":
            return str(self.routing_key)
        if self.entities:
            return "&".join(f"{k}={self.entities[k]}" for k in sorted(self.entities))
        return self.request_id


@dataclass(frozen=True)
class RouteDecision:
    """The answering variant and the variants that score the request in the shadow."""

    live: Variant
    shadows: list[Variant] = field(default_factory=list)
    revision: int = 0
    """Revision of the deployment the decision was made from (for logging and debugging)."""


@dataclass(frozen=True)
class Deployment:
    """What is deployed for one model right now, as stored in the registry.

    ``router`` names the router plugin and ``settings`` its config (validated by the
    plugin's own pydantic model); ``salt`` keys the sticky hash, so a new experiment
    reshuffles users while weight changes within one experiment keep them in place;
    ``guards`` are the guard settings (see :mod:`modelyard.routing.guards`); ``state``
    is runtime state owned by controllers (canary step, when it started...);
    ``revision`` increases with every stored change.
    """

    model: str
    variants: tuple[Variant, ...]
    router: str = "single"
    settings: Mapping[str, Any] = field(default_factory=dict)
    status: DeploymentStatus = "active"
    salt: str = ""
    alias: str = "production"
    guards: tuple[Mapping[str, Any], ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)
    revision: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "guards", tuple(dict(g) for g in self.guards))
        if self.status not in STATUSES:
            raise RolloutError(
                f"deployment of {self.model!r}: unknown status {self.status!r}; one of {', '.join(STATUSES)}"
            )
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RolloutError(
                f"deployment of {self.model!r}: variant names must be unique, repeated: {dupes}"
            )
        if not any(v.mode == "live" for v in self.variants):
            raise RolloutError(f"deployment of {self.model!r} has no live variant; every request needs one")

    # -- views -------------------------------------------------------------------------

    def live_variants(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.mode == "live")

    def shadow_variants(self) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.mode == "shadow")

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise RolloutError(
            f"deployment of {self.model!r} has no variant {name!r}; it has: {', '.join(v.name for v in self.variants)}"
        )

    def weights(self) -> dict[str, float]:
        """Normalised live weights by variant name (sum 1; equal shares if every weight is 0)."""
        live = self.live_variants()
        total = sum(v.weight for v in live)
        if total <= 0:
            return {v.name: 1.0 / len(live) for v in live}
        return {v.name: v.weight / total for v in live}

    def replace(self, **changes: Any) -> Deployment:
        """A copy with ``changes`` applied (revision is assigned by the store on write)."""
        return dataclasses.replace(self, **changes)

    # -- storage -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form stored by the registry backend (without the revision)."""
        return {
            "model": self.model,
            "router": self.router,
            "settings": dict(self.settings),
            "variants": [v.to_dict() for v in self.variants],
            "status": self.status,
            "salt": self.salt,
            "alias": self.alias,
            "guards": [dict(g) for g in self.guards],
            "state": dict(self.state),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, revision: int | None = None) -> Deployment:
        return cls(
            model=str(data["model"]),
            variants=tuple(Variant.from_dict(v) for v in data.get("variants", ())),
            router=str(data.get("router", "single")),
            settings=dict(data.get("settings") or {}),
            status=data.get("status", "active"),
            salt=str(data.get("salt", "")),
            alias=str(data.get("alias", "production")),
            guards=tuple(data.get("guards") or ()),
            state=dict(data.get("state") or {}),
            revision=int(revision if revision is not None else data.get("revision", 0)),
        )


class Router(ABC):
    """Chooses the answering variant and the shadows of each request.

    Built by the host from a :class:`~modelyard.plugins.specs.RouterSpec`: the factory is
    called with the validated config object (or nothing when the spec has no config).
    ``route`` is on the request path of every prediction: no I/O, no locks, no
    randomness that breaks stickiness (use :mod:`modelyard.routing.hashing`).
    """

    name: ClassVar[str] = "router"

    def __init__(self, config: Any = None) -> None:
        self.config = config

    @abstractmethod
    def route(self, request: RouteRequest, deployment: Deployment) -> RouteDecision:
        """The live variant that answers ``request`` and the shadows that score it too."""

    def plan(self, model: str, *, alias: str, alias_version: int | None) -> tuple[Variant, ...]:
        """The variants of a deployment declared only in ``modelyard.yaml`` (nothing stored yet).

        ``alias_version`` is the version holding the deployment's alias (``production``),
        or ``None`` when no version holds it. The default serves that one version.
        Routers whose settings name versions (``ab``, ``canary``...) override this.
        """
        return (require_alias_version(model, alias, alias_version),)

    def validate(self, deployment: Deployment) -> None:  # noqa: B027 - optional check
        """Raise :class:`~modelyard.errors.RolloutError` if ``deployment`` cannot be routed by this router.

        Called when a deployment is written and when a worker loads it; the default
        accepts any deployment with a live variant (which :class:`Deployment` ensures).
        """


def require_alias_version(
    model: str, alias: str, alias_version: int | None, *, name: str | None = None
) -> Variant:
    """A live variant for the alias holder, or a RolloutError saying how to get one."""
    if alias_version is None:
        raise RolloutError(
            f"model {model!r}: no version holds the alias {alias!r}, so there is nothing to serve; "
            f"promote one (modelyard promote {model} VERSION) or deploy explicit versions (modelyard deploy)"
        )
    return Variant(name or default_variant_name(alias_version), int(alias_version))


def default_variant_name(version: int) -> str:
    """The variant name used when none is given: ``v<version>``."""
    return f"v{int(version)}"


def variants_with_weights(variants: Sequence[Variant], weights: Mapping[str, float]) -> tuple[Variant, ...]:
    """``variants`` with the live weights replaced by ``weights`` (by name); names not given keep theirs."""
    unknown = sorted(set(weights) - {v.name for v in variants})
    if unknown:
        raise RolloutError(
            f"no variant named {', '.join(unknown)}; have: {', '.join(v.name for v in variants)}"
        )
    return tuple(
        dataclasses.replace(v, weight=float(weights[v.name])) if v.name in weights else v for v in variants
    )
