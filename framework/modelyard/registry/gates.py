"""Promotion gates: may this version replace the alias holder? Checked before the alias moves.

A model's ``promotion`` section in ``modelyard.yaml`` lists conditions on the candidate's
metrics (see :mod:`modelyard.config.gates` for the syntax), checked when a version is
promoted to ``promotion.alias`` (default ``production``)::

    models:
      trip_acceptance:
        promotion:
          gates:
            - roc_auc >= 0.75
            - log_loss <= production * 1.02

:meth:`modelyard.registry.service.Registry.promote` evaluates them, then asks every
plugin's ``modelyard_veto_promotion`` hook. A failing gate refuses the promotion with
:class:`~modelyard.errors.PromotionRefused` naming each failed condition, unless forced
with a reason (the alias event is then stored with ``forced=True`` and the failed
conditions in its reason); a plugin's veto is never overridden by ``force``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.config.gates import Condition
    from modelyard.registry.types import ModelVersion


@dataclass(frozen=True)
class GateResult:
    """One condition checked against the candidate: passed or not, and the numbers behind it."""

    condition: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"condition": self.condition, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class PromotionRequest:
    """What the veto hook sees: the move about to happen and how the gates judged it."""

    model: str
    alias: str
    candidate: ModelVersion
    replaced: ModelVersion | None
    gates: list[GateResult] = field(default_factory=list)
    forced: bool = False
    actor: str = ""
    reason: str = ""

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


def evaluate_gates(
    conditions: list[Condition],
    candidate: ModelVersion,
    holders: dict[str, ModelVersion | None],
    *,
    alias: str,
) -> list[GateResult]:
    """Check every condition; ``holders`` maps alias names to their holder (``current`` = ``alias``'s)."""
    results = []
    for condition in conditions:
        value = candidate.metrics.get(condition.metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            results.append(
                GateResult(condition.text, False, f"{candidate.label} has no {condition.metric} metric")
            )
            continue
        if not condition.relative:
            threshold = condition.threshold()
            results.append(
                GateResult(
                    condition.text,
                    condition.holds(value, None),
                    f"{condition.metric} = {value:.6g} (needs {condition.op} {threshold:.6g})",
                )
            )
            continue
        ref_alias = alias if condition.reference == "current" else str(condition.reference)
        holder = holders.get(ref_alias)
        if holder is None:
            results.append(
                GateResult(condition.text, True, f"no version holds {ref_alias!r}: nothing to compare with")
            )
            continue
        reference = holder.metrics.get(condition.metric)
        if reference is None or math.isnan(reference):
            results.append(
                GateResult(
                    condition.text, False, f"{holder.label} ({ref_alias}) has no {condition.metric} metric"
                )
            )
            continue
        threshold = condition.threshold(reference)
        results.append(
            GateResult(
                condition.text,
                condition.holds(value, reference),
                f"{condition.metric} = {value:.6g} vs {holder.label} ({ref_alias}) {reference:.6g} "
                f"(needs {condition.op} {threshold:.6g})",
            )
        )
    return results
