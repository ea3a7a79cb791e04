"""Required checks of promotion gates that read the prediction log: did the candidate pass a shadow?

``models.X.promotion.require: [shadow]`` asks, before a version may be promoted, that it
answered as a shadow of ``X`` (``mode: shadow`` in the prediction log) at least
``promotion.min_shadow_samples`` times on requests the live variant also answered, with
an error rate of at most ``promotion.max_shadow_error_rate``. The registry calls this
through :meth:`modelyard.yard.Yard.promotion_checks`; results read like gate results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.registry.gates import GateResult

if TYPE_CHECKING:
    from modelyard.config.schema import PromotionConfig
    from modelyard.yard import Yard


def required_checks(yard: Yard, model: str, version: int) -> list[GateResult]:
    """One result per check ``models.<model>.promotion.require`` names."""
    promotion = yard.model(model).promotion
    return [shadow_check(yard, model, version, promotion) for check in promotion.require if check == "shadow"]


def shadow_check(yard: Yard, model: str, version: int, promotion: PromotionConfig) -> GateResult:
    """Whether ``version`` passed a shadow of ``model`` (see the module docstring)."""
    from modelyard.rollout.shadow_report import shadow_report
    from modelyard.rollout.traffic import open_log_sink, read_window

    sink = open_log_sink(yard)
    try:
        log = read_window(sink, model)
    finally:
        sink.close()
    label = "passed shadow"
    summaries = [s for s in shadow_report(log, task=yard.model(model).task) if s.version == version]
    if not summaries:
        return GateResult(
            label, False, f"{model} v{version} never answered as a shadow (none in the prediction log)"
        )
    requests = sum(s.requests for s in summaries)
    paired = sum(s.paired for s in summaries)
    errors = sum(s.errors for s in summaries)
    error_rate = errors / requests if requests else 0.0
    agreement = [s.agreement for s in summaries if s.agreement is not None]
    passed = paired >= promotion.min_shadow_samples and error_rate <= promotion.max_shadow_error_rate
    detail = (
        f"{paired} shadow answers paired with live (needs >= {promotion.min_shadow_samples}), "
        f"error rate {error_rate:.2%} (needs <= {promotion.max_shadow_error_rate:.2%})"
        + (f", agreement with live {agreement[-1]:.2%}" if agreement else "")
    )
    return GateResult(label, passed, detail)
