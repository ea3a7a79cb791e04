"""Deliberate changes to a deployment: deploy, weights, pause, resume, abort.

Each function reads the deployment in force, builds the next state and writes it through
:class:`~modelyard.routing.deployment.DeploymentStore` (checked, recorded in the history
with actor and reason). The CLI (``modelyard deploy`` / ``modelyard rollout ...``) is a
thin layer over these.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from modelyard.errors import RolloutError
from modelyard.rollout.policy import control_variant
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.router import (
    Deployment,
    Variant,
    VariantMode,
    default_variant_name,
    variants_with_weights,
)

_VARIANT = re.compile(
    r"^(?:(?P<name>[A-Za-z_][\w.-]*)@)?v?(?P<version>\d+)(?:=(?P<weight>[0-9]*\.?[0-9]+))?$"
)


def parse_variant(text: str, *, mode: VariantMode = "live") -> Variant:
    """``"v2=0.3"``, ``"2=0.3"``, ``"v2"`` or ``"treatment@v2=0.3"`` -> a :class:`Variant`."""
    match = _VARIANT.match(text.strip())
    if not match:
        raise RolloutError(
            f"cannot read variant {text!r}; write VERSION[=WEIGHT], e.g. v2=0.5, or NAME@VERSION=WEIGHT"
        )
    version = int(match["version"])
    weight = float(match["weight"]) if match["weight"] is not None else (1.0 if mode == "live" else 0.0)
    return Variant(match["name"] or default_variant_name(version), version, weight, mode)


def deploy(
    store: DeploymentStore,
    model: str,
    *,
    router: str,
    variants: Sequence[Variant] = (),
    shadows: Sequence[Variant] = (),
    settings: Mapping[str, Any] | None = None,
    salt: str | None = None,
    guards: Sequence[Mapping[str, Any]] | None = None,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> Deployment:
    """Write a new deployment of ``model``.

    ``variants`` are the live arms (``ab``: two or more; ``single``: one; ``canary``: the
    candidate alone, the baseline being the alias holder, or baseline then candidate).
    Without ``variants`` the router plans them from its ``settings`` and the alias
    holder, as for a deployment declared in ``modelyard.yaml``. A new ``salt`` is drawn
    for each new experiment unless one is given. ``guards`` default to the model's
    ``deployment.guards`` in ``modelyard.yaml``.
    """
    cfg = store._model_config(model).deployment
    settings = dict(settings or {})
    alias_version = store.alias_version(model, cfg.alias)
    if router == "canary":
        variants, settings = _canary_variants(model, list(variants), settings, cfg.alias, alias_version)
    if not variants:
        spec = store.host.spec("router", router)
        config = spec.validate_settings(settings, key=f"{router} settings")
        factory = spec.load()
        planner = factory() if config is None else factory(config)
        planned = planner.plan(model, alias=cfg.alias, alias_version=alias_version)
    else:
        planned = tuple(variants)
    deployment = Deployment(
        model=model,
        variants=(*planned, *shadows),
        router=router,
        settings=settings,
        status="active",
        salt=salt or f"{model}-{uuid.uuid4().hex[:12]}",
        alias=cfg.alias,
        guards=tuple(cfg.guards if guards is None else guards),
        state={"deployed_at": (now or datetime.now(timezone.utc)).isoformat()},
    )
    if router == "canary":
        from modelyard.routing import canary as ramp

        config = store.build_router(deployment).config
        cand = next(v for v in deployment.live_variants() if v.version == config.candidate)
        deployment = ramp.start(
            deployment, steps=config.steps, candidate=cand.name, now=now or datetime.now(timezone.utc)
        )
    return store.write(deployment, actor=actor, reason=reason)


def _canary_variants(
    model: str, variants: list[Variant], settings: dict[str, Any], alias: str, alias_version: int | None
) -> tuple[list[Variant], dict[str, Any]]:
    if len(variants) > 2:
        raise RolloutError(
            f"a canary of {model!r} has one candidate (and optionally its baseline), got {len(variants)}"
        )
    if len(variants) == 2:
        baseline, candidate = variants
    elif len(variants) == 1:
        candidate = variants[0]
        if alias_version is None:
            raise RolloutError(
                f"a canary of {model!r} needs a baseline: no version holds {alias!r}; "
                "promote one first or give the baseline as the first --variant"
            )
        baseline = Variant(default_variant_name(alias_version), alias_version)
    else:
        return [], settings
    if baseline.version == candidate.version:
        raise RolloutError(f"the canary candidate v{candidate.version} of {model!r} is also its baseline")
    settings = {**settings, "candidate": candidate.version}
    steps = settings.get("steps") or [5.0, 25.0, 50.0, 100.0]
    share = float(steps[0]) / 100.0
    return [
        Variant(baseline.name, baseline.version, 1.0 - share),
        Variant(candidate.name, candidate.version, share),
    ], settings


def set_weights(
    store: DeploymentStore, model: str, weights: Mapping[str, float], *, actor: str, reason: str
) -> Deployment:
    """Change live weights at run time (same salt: only keys in resized intervals move)."""
    current = store.current(model)
    return store.write(
        current.replace(variants=variants_with_weights(current.variants, weights)), actor=actor, reason=reason
    )


def pause(store: DeploymentStore, model: str, *, actor: str, reason: str) -> Deployment:
    """Freeze a rollout: traffic stays as it is, the policy neither ramps nor rolls back."""
    current = _stored_or_fail(store, model)
    if current.status != "active":
        raise RolloutError(
            f"the deployment of {model!r} is {current.status}, only an active one can be paused"
        )
    return store.write(current.replace(status="paused"), actor=actor, reason=reason)


def resume(
    store: DeploymentStore, model: str, *, actor: str, reason: str, now: datetime | None = None
) -> Deployment:
    """Resume a paused rollout; a canary's current step starts its dwell time again."""
    current = _stored_or_fail(store, model)
    if current.status != "paused":
        raise RolloutError(f"the deployment of {model!r} is {current.status}, not paused")
    state = dict(current.state)
    if "step_started_at" in state:
        state["step_started_at"] = (now or datetime.now(timezone.utc)).isoformat()
    return store.write(current.replace(status="active", state=state), actor=actor, reason=reason)


def abort(store: DeploymentStore, model: str, *, actor: str, reason: str) -> Deployment:
    """Stop an experiment: every request goes to the control, shadows stop. The alias is not moved."""
    current = _stored_or_fail(store, model)
    if current.status in ("aborted", "rolled_back", "completed"):
        raise RolloutError(f"the deployment of {model!r} is already {current.status}")
    control = control_variant(current)
    state = {**current.state, "aborted_reason": reason}
    if current.router == "shadow":
        live = tuple(v for v in current.variants if v.mode == "live")
        return store.write(
            current.replace(router="single", settings={}, variants=live, status="aborted", state=state),
            actor=actor,
            reason=reason,
        )
    weights = {v.name: (1.0 if v.name == control.name else 0.0) for v in current.live_variants()}
    variants = tuple(v for v in variants_with_weights(current.variants, weights) if v.mode == "live")
    return store.write(
        current.replace(variants=variants, status="aborted", state=state), actor=actor, reason=reason
    )


def _stored_or_fail(store: DeploymentStore, model: str) -> Deployment:
    stored = store.stored(model)
    if stored is None:
        raise RolloutError(
            f"{model!r} has no deployment written at run time (only its modelyard.yaml one); "
            f"start one with: modelyard deploy {model} --router ..."
        )
    return stored
