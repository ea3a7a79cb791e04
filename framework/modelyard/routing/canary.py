"""The canary ramp as a pure state machine: given where a canary is, what happens next.

State lives in ``Deployment.state`` of a deployment routed by ``canary``:

``candidate`` / ``baseline``
    variant names of the version being ramped and the one it replaces;
``step``
    index into the router's ``steps`` (candidate traffic in percent);
``step_started_at``
    ISO-8601 timezone.utc time the current step began.

:func:`next_action` decides (hold, advance, promote, rollback) from the deployment,
the time, the candidate's sample at this step and the guard results; :func:`apply`
returns the deployment state that carries the decision out. Neither does I/O: the
:mod:`~modelyard.rollout.policy` reads the log, calls them, writes the result and moves
aliases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from modelyard.errors import RolloutError
from modelyard.routing.router import Deployment, variants_with_weights

if TYPE_CHECKING:
    from modelyard.routing.guards import GuardResult

CanaryActionKind = Literal["hold", "advance", "promote", "complete", "rollback"]


@dataclass(frozen=True)
class CanaryAction:
    """What the canary should do now, and why (the reason goes into the deployment history)."""

    kind: CanaryActionKind
    reason: str
    step: int
    percent: float


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise RolloutError(f"canary state has an unreadable step_started_at {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def start(deployment: Deployment, *, steps: Sequence[float], candidate: str, now: datetime) -> Deployment:
    """The first stored state of a canary: candidate at ``steps[0]`` percent, step clock started."""
    base = [v for v in deployment.live_variants() if v.name != candidate]
    if len(base) != 1:
        raise RolloutError(
            f"canary of {deployment.model!r} needs exactly one baseline beside candidate {candidate!r}, "
            f"got {[v.name for v in base]}"
        )
    state = {
        "candidate": candidate,
        "baseline": base[0].name,
        "step": 0,
        "step_started_at": now.astimezone(timezone.utc).isoformat(),
    }
    return _with_share(deployment.replace(state={**deployment.state, **state}, status="active"), steps[0])


def _with_share(deployment: Deployment, percent: float) -> Deployment:
    cand = str(deployment.state["candidate"])
    base = str(deployment.state["baseline"])
    share = max(0.0, min(100.0, float(percent))) / 100.0
    shares = {cand: share, base: 1.0 - share}
    return deployment.replace(variants=variants_with_weights(deployment.variants, shares))


def next_action(
    deployment: Deployment,
    *,
    steps: Sequence[float],
    min_dwell_seconds: float,
    min_samples: int,
    promote: bool,
    now: datetime,
    candidate_samples: int,
    guard_results: Sequence[GuardResult] = (),
) -> CanaryAction:
    """The next move of a canary. A failed guard wins over everything but a non-active status.

    A guard that cannot tell yet (``decision == "hold"``) keeps the canary at its step.
    """
    step = int(deployment.state.get("step", 0))
    percent = float(steps[min(step, len(steps) - 1)])
    if deployment.status != "active":
        return CanaryAction("hold", f"canary is {deployment.status}", step, percent)
    failed = [g for g in guard_results if not g.ok]
    if failed:
        return CanaryAction("rollback", "; ".join(g.reason for g in failed), step, percent)
    started = _parse_time(deployment.state.get("step_started_at", now.isoformat()))
    dwelt = (now - started).total_seconds()
    if dwelt < min_dwell_seconds:
        return CanaryAction(
            "hold",
            f"step {step + 1} ({percent:g}%): dwell {dwelt:.0f}s of {min_dwell_seconds:.0f}s",
            step,
            percent,
        )
    if candidate_samples < min_samples:
        return CanaryAction(
            "hold",
            f"step {step + 1} ({percent:g}%): {candidate_samples} of {min_samples} candidate requests",
            step,
            percent,
        )
    held = [g for g in guard_results if g.decision == "hold"]
    if held:
        return CanaryAction(
            "hold", f"step {step + 1} ({percent:g}%): " + "; ".join(g.reason for g in held), step, percent
        )
    if step + 1 < len(steps):
        nxt = float(steps[step + 1])
        return CanaryAction(
            "advance",
            f"step {step + 1} ({percent:g}%) passed after {dwelt:.0f}s and {candidate_samples} requests; "
            f"candidate to {nxt:g}%",
            step + 1,
            nxt,
        )
    if promote:
        return CanaryAction(
            "promote", f"last step ({percent:g}%) passed; promoting the candidate", step, percent
        )
    return CanaryAction("complete", f"last step ({percent:g}%) passed", step, percent)


def apply(deployment: Deployment, action: CanaryAction, *, now: datetime) -> Deployment:
    """The deployment state after ``action`` (the same object for ``hold``)."""
    if action.kind == "hold":
        return deployment
    if action.kind == "advance":
        state = {
            **deployment.state,
            "step": action.step,
            "step_started_at": now.astimezone(timezone.utc).isoformat(),
        }
        return _with_share(deployment.replace(state=state), action.percent)
    if action.kind in ("promote", "complete"):
        state = {**deployment.state, "finished_at": now.astimezone(timezone.utc).isoformat()}
        return _with_share(deployment.replace(state=state, status="completed"), 100.0)
    if action.kind == "rollback":
        state = {
            **deployment.state,
            "finished_at": now.astimezone(timezone.utc).isoformat(),
            "rollback_reason": action.reason,
        }
        return _with_share(deployment.replace(state=state, status="rolled_back"), 0.0)
    raise RolloutError(f"unknown canary action {action.kind!r}")
