"""Automatic rollout policy: evaluate guards, ramp canaries, roll back on failure.

:meth:`RolloutPolicy.tick` is one evaluation of one model: it reads the deployment in
force, the recent prediction log and stored monitor results, checks the guards on every
candidate variant (every live variant but the control, the first live one; for a canary,
the candidate), and then

- on a failed guard: candidate traffic goes to 0 (status ``rolled_back``, reason
  recorded in the deployment history); if the alias already points at the failing
  version it is moved back with ``registry.rollback``, otherwise an ``on_rollback``
  event is fired with an :class:`~modelyard.registry.types.AliasEvent` whose
  ``revision`` is 0 (traffic moved, the alias did not);
- for a canary whose step passed its dwell time and sample: the next step, or at the
  end ``registry.promote`` of the candidate to the deployment's alias.

``modelyard rollout tick MODEL`` runs it once; ``modelyard rollout watch`` in a loop.
Every worker sees the result through the registry within ``serving.reload_interval``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from modelyard.routing import canary as ramp
from modelyard.routing.deployment import DeploymentStore
from modelyard.routing.guards import GuardResult, check_all, parse_guards
from modelyard.routing.router import Deployment, Variant, variants_with_weights

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

POLICY_ACTOR = "modelyard-rollout-policy"


@dataclass(frozen=True)
class TickResult:
    """What one evaluation found and did."""

    model: str
    action: str  # none | hold | advance | promote | complete | rollback
    reason: str
    guards: list[GuardResult] = field(default_factory=list)
    deployment: Deployment | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "action": self.action,
            "reason": self.reason,
            "guards": [g.to_dict() for g in self.guards],
            "revision": self.deployment.revision if self.deployment else None,
            "status": self.deployment.status if self.deployment else None,
        }


def control_variant(deployment: Deployment) -> Variant:
    """The control of an experiment: a canary's baseline, else the first live variant."""
    base = deployment.state.get("baseline")
    if base:
        return deployment.variant(str(base))
    return deployment.live_variants()[0]


def candidate_variants(deployment: Deployment) -> list[Variant]:
    """The variants under test: a canary's candidate, else every live variant with traffic but the control."""
    cand = deployment.state.get("candidate")
    if cand:
        return [deployment.variant(str(cand))]
    control = control_variant(deployment)
    return [v for v in deployment.live_variants() if v.name != control.name and v.weight > 0]


class RolloutPolicy:
    """Evaluates guards and canary steps of a yard's deployments and carries out the decisions."""

    def __init__(self, yard: Yard, *, store: DeploymentStore | None = None) -> None:
        self.yard = yard
        self.store = store or DeploymentStore.for_yard(yard)
        self._sink: Any = None

    # -- inputs ------------------------------------------------------------------------

    def _log(self, model: str, since: datetime, until: datetime) -> pd.DataFrame:
        from modelyard.rollout.traffic import open_log_sink, read_window

        if self._sink is None:
            self._sink = open_log_sink(self.yard)
        return read_window(self._sink, model, since, until)

    def _monitor_rows(self, model: str, since: datetime) -> list[dict[str, Any]]:
        return list(self.store.backend.monitor_results(model, since=since))

    # -- one evaluation ------------------------------------------------------------------

    def tick(self, model: str, *, now: datetime | None = None) -> TickResult:
        """Evaluate ``model``'s deployment once and act on the result."""
        now = now or datetime.now(timezone.utc)
        deployment = self.store.current(model)
        if deployment.status != "active" or deployment.router not in ("canary", "ab"):
            return TickResult(
                model, "none", f"{deployment.router} deployment is {deployment.status}", [], deployment
            )
        if deployment.router == "canary" and "candidate" not in deployment.state:
            deployment = self._start_canary(deployment, now)
        guards = parse_guards(deployment.guards, model=model)
        lookback = max([g.window_seconds for g in guards] + [0.0])
        step_start = _step_start(deployment, now)
        since = min(now - timedelta(seconds=lookback), step_start)
        log = self._log(model, since, now + timedelta(seconds=1))
        monitors = self._monitor_rows(model, now - timedelta(seconds=lookback)) if guards else []
        control = control_variant(deployment)
        results: list[GuardResult] = []
        for variant in candidate_variants(deployment):
            results += check_all(
                deployment.guards,
                model=model,
                variant=variant,
                control=control,
                log=log,
                monitor_rows=monitors,
                now=now,
            )
        failed = [r for r in results if not r.ok]
        if deployment.router == "canary":
            return self._canary_step(deployment, results, log, step_start, now)
        if failed:
            return self._rollback_ab(deployment, results, failed)
        return TickResult(model, "hold", "every guard passes", results, deployment)

    # -- canary --------------------------------------------------------------------------

    def _canary_config(self, deployment: Deployment) -> Any:
        return self.store.build_router(deployment).config

    def _start_canary(self, deployment: Deployment, now: datetime) -> Deployment:
        config = self._canary_config(deployment)
        cand = next(v for v in deployment.live_variants() if v.version == config.candidate)
        started = ramp.start(deployment, steps=config.steps, candidate=cand.name, now=now)
        return self.store.write(
            started, actor=POLICY_ACTOR, reason=f"canary of {cand.name} started at {config.steps[0]:g}%"
        )

    def _canary_step(
        self,
        deployment: Deployment,
        results: list[GuardResult],
        log: pd.DataFrame,
        step_start: datetime,
        now: datetime,
    ) -> TickResult:
        config = self._canary_config(deployment)
        cand = deployment.variant(str(deployment.state["candidate"]))
        samples = _count(log, cand, step_start)
        action = ramp.next_action(
            deployment,
            steps=config.steps,
            min_dwell_seconds=config.min_dwell_seconds,
            min_samples=config.min_samples,
            promote=config.promote,
            now=now,
            candidate_samples=samples,
            guard_results=results,
        )
        if action.kind == "hold":
            return TickResult(deployment.model, "hold", action.reason, results, deployment)
        if action.kind == "promote":
            refused = self._promotion_blocked(deployment, cand)
            if refused:
                return TickResult(deployment.model, "hold", refused, results, deployment)
        new = ramp.apply(deployment, action, now=now)
        if action.kind == "rollback":
            reason = f"guard failed for {cand.name}: {action.reason}"
            new = new.replace(state={**new.state, "rollback_reason": reason})
            written = self.store.write(new, actor=POLICY_ACTOR, reason=reason)
            self._alias_back(deployment, [cand], reason)
            return TickResult(deployment.model, "rollback", reason, results, written)
        written = self.store.write(new, actor=POLICY_ACTOR, reason=action.reason)
        if action.kind == "promote":
            self.yard.registry.promote(
                deployment.model,
                cand.version,
                deployment.alias,
                reason=f"canary of {cand.name} passed every step",
                actor=POLICY_ACTOR,
            )
        return TickResult(deployment.model, action.kind, action.reason, results, written)

    def _promotion_blocked(self, deployment: Deployment, cand: Variant) -> str | None:
        """Why the alias may not move to the canary's candidate (failed gates, vetoes), or None.

        Checked before the deployment is marked completed, so a candidate the model's
        promotion gates refuse keeps its share and the canary waits for a person.
        """
        registry = self.yard.registry
        request = registry.promotion_request(
            deployment.model, cand.version, deployment.alias, actor=POLICY_ACTOR
        )
        problems = [f"failed gate {g.condition!r}: {g.detail}" for g in request.failed]
        problems += [
            f"vetoed by plugin {name!r}: {why}" for name, why in self.yard.host.promotion_vetoes(request)
        ]
        if not problems:
            return None
        return (
            f"canary of {cand.name} passed every step, but it may not become {deployment.alias!r}: "
            + "; ".join(problems)
            + " (abort the rollout, or promote by hand with --force)"
        )

    # -- A/B -----------------------------------------------------------------------------

    def _rollback_ab(
        self, deployment: Deployment, results: list[GuardResult], failed: list[GuardResult]
    ) -> TickResult:
        names = sorted({r.variant for r in failed})
        reason = "guard failed: " + "; ".join(r.reason for r in failed)
        new = deployment.replace(
            variants=variants_with_weights(deployment.variants, dict.fromkeys(names, 0.0)),
            status="rolled_back",
            state={**deployment.state, "rollback_reason": reason, "rolled_back": names},
        )
        written = self.store.write(new, actor=POLICY_ACTOR, reason=reason)
        self._alias_back(deployment, [deployment.variant(n) for n in names], reason)
        return TickResult(deployment.model, "rollback", reason, results, written)

    # -- aliases -------------------------------------------------------------------------

    def _alias_back(self, deployment: Deployment, failing: list[Variant], reason: str) -> None:
        holder = self.store.alias_version(deployment.model, deployment.alias)
        control = control_variant(deployment)
        if holder is not None and holder in {v.version for v in failing}:
            self.yard.registry.rollback(deployment.model, deployment.alias, reason=reason, actor=POLICY_ACTOR)
            return
        from modelyard.registry.types import AliasEvent

        for variant in failing:
            event = AliasEvent(
                model=deployment.model,
                alias=deployment.alias,
                from_version=variant.version,
                to_version=holder if holder is not None else control.version,
                action="rollback",
                actor=POLICY_ACTOR,
                reason=reason,
                at=datetime.now(timezone.utc),
                revision=0,
            )
            self.yard.host.on_rollback(event)
        logger.warning(
            "rolled back %s of %s: %s", ", ".join(v.name for v in failing), deployment.model, reason
        )


def _step_start(deployment: Deployment, now: datetime) -> datetime:
    value = deployment.state.get("step_started_at")
    if not value:
        return now
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _count(log: pd.DataFrame, variant: Variant, since: datetime) -> int:
    import pandas as pd

    if log.empty:
        return 0
    ts = pd.to_datetime(log["timestamp"], utc=True)
    mask = (log["variant"].astype(str) == variant.name) & (ts >= pd.Timestamp(since))
    if "mode" in log.columns:
        mask &= log["mode"].astype(str) == "live"
    return int(mask.sum())
