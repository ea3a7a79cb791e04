"""Promotion gate conditions as ``modelyard.yaml`` writes them, parsed once at load time.

A condition compares one metric of the candidate version with a number, or with the
same metric of the version the promotion replaces (the alias holder), optionally scaled::

    roc_auc >= 0.75                  absolute
    log_loss <= production * 1.02    at most 2 % worse than the current holder
    accuracy >= production - 0.01    at most one point lower

The name on the right (``production`` above) is the alias the promotion moves; ``current``
is a synonym that reads well for any alias. Evaluation lives in
:mod:`modelyard.registry.gates`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CONDITION = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][\w.]*)\s*(?P<op>>=|<=|==|>|<)\s*"
    rf"(?:(?P<value>{_NUMBER})|(?P<ref>[A-Za-z_][\w-]*)(?:\s*(?P<arith>[*+-])\s*(?P<factor>{_NUMBER}))?)\s*$"
)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Condition:
    """One parsed gate: ``metric op value`` or ``metric op <holder's metric> [arith factor]``."""

    text: str
    metric: str
    op: str
    value: float | None = None
    reference: str | None = None
    arith: str | None = None
    factor: float | None = None

    @property
    def relative(self) -> bool:
        return self.reference is not None

    def threshold(self, reference_value: float | None = None) -> float:
        """The number the candidate's metric is compared with."""
        if self.value is not None:
            return self.value
        if reference_value is None:
            raise ValueError(f"{self.text!r} needs the replaced version's {self.metric}")
        if self.arith is None or self.factor is None:
            return reference_value
        return {
            "*": reference_value * self.factor,
            "+": reference_value + self.factor,
            "-": reference_value - self.factor,
        }[self.arith]

    def holds(self, candidate: float, reference_value: float | None = None) -> bool:
        return OPERATORS[self.op](candidate, self.threshold(reference_value))


def parse_condition(text: str) -> Condition:
    """A :class:`Condition` from its text; ValueError naming the expected form otherwise."""
    match = _CONDITION.match(text)
    if match is None:
        raise ValueError(
            f"cannot read the gate {text!r}; write METRIC OP NUMBER (roc_auc >= 0.75) or "
            "METRIC OP ALIAS [* + -] NUMBER (log_loss <= production * 1.02), OP one of >= <= > < =="
        )
    return Condition(
        text=text.strip(),
        metric=match["metric"],
        op=match["op"],
        value=float(match["value"]) if match["value"] is not None else None,
        reference=match["ref"],
        arith=match["arith"],
        factor=float(match["factor"]) if match["factor"] is not None else None,
    )
