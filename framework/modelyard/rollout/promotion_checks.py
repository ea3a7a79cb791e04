"""Required checks of promotion gates that read the prediction log: a passed shadow or experiment.

``models.X.promotion.require`` may name:

- ``shadow``: the candidate answered as a shadow of ``X`` (``mode: shadow`` in the
  prediction log) at least ``promotion.min_shadow_samples`` times on requests the live
  variant also answered, with an error rate of at most ``promotion.max_shadow_error_rate``;
- ``experiment``: the candidate is a live arm of ``X``'s current experiment (an ``ab`` or
  ``canary`` deployment) that served at least ``promotion.min_experiment_samples``
  requests, and the experiment report (``modelyard experiment report``) says it *passed*:
  significantly *better* than the control on the primary metric (accuracy, or absolute
  error for regression; it needs feedback), significantly worse on no guardrail, no
  sample-ratio mismatch and no verdict withheld for lost rows. An inconclusive experiment
  (no feedback yet, or a primary difference not yet significant) has not passed.

The registry calls this through :meth:`modelyard.yard.Yard.promotion_checks`; results read
like gate results.
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
    checks = {"shadow": shadow_check, "experiment": experiment_check}
    return [checks[name](yard, model, version, promotion) for name in promotion.require]


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


def experiment_check(yard: Yard, model: str, version: int, promotion: PromotionConfig) -> GateResult:
    """Whether ``version`` passed ``model``'s current experiment (see the module docstring)."""
    from modelyard.rollout.experiment import experiment_report

    label = "passed experiment"
    report = experiment_report(yard, model)
    arms = [v for v in report.variants if v.version == version and v.variant != report.control]
    if report.router not in ("ab", "canary") or not arms:
        return GateResult(
            label,
            False,
            f"{model} v{version} is not a treatment arm of the current experiment ({report.router})",
        )
    names = {a.variant for a in arms}
    requests = sum(a.requests for a in arms)
    mine = [c for c in report.comparisons if c.treatment in names]
    problems = []
    if requests < promotion.min_experiment_samples:
        problems.append(f"{requests} requests (needs >= {promotion.min_experiment_samples})")
    problems += [
        f"significantly worse {c.metric} than {c.control} (p = {c.p_value:.3g})"
        for c in mine
        if c.verdict == "worse"
    ]
    if report.srm is not None and report.srm.mismatch:
        problems.append("sample-ratio mismatch: the split is not what was configured")
    if any(c.verdict.startswith("no verdict") for c in mine):
        problems.append("no verdict: the prediction logger lost rows (see modelyard experiment report)")
    primary = [c for c in mine if c.role == "primary"]
    if not primary:
        metric = next(
            (f["metrics"][0] for f in report.families if f.get("name") == "primary"), "primary metric"
        )
        problems.append(
            f"inconclusive: no verdict on {metric} yet (it needs feedback joined to the requests)"
        )
    for c in primary:
        if c.verdict not in ("better", "worse") and not c.verdict.startswith("no verdict"):
            p_value = "" if c.p_value is None else f", p = {c.p_value:.3g}"
            problems.append(
                f"inconclusive: {c.metric} {c.verdict} against {c.control} "
                f"({c.treatment_value:.4g} vs {c.control_value:.4g}{p_value}; needs significantly better)"
            )
    if problems:
        return GateResult(label, False, "; ".join(problems))
    better = ", ".join(sorted({c.metric for c in primary}))
    return GateResult(
        label,
        True,
        f"{requests} requests, significantly better {better} than {report.control}, worse on no metric",
    )
