"""The experiment report: per-variant traffic and quality, statistical comparisons, SRM, shadows.

:func:`build_report` works on a frame of prediction-log rows (live and shadow) and, when
there is ground truth, a feedback frame (``request_id`` plus the label column). It is
pure: the CLI (``modelyard experiment report``) gathers the inputs from the yard.

The control is the first live variant of the deployment (a canary's baseline); every
other live variant that got traffic is compared with it. How (see docs/rollout.md):

unit
    the randomisation unit (the entity keys the router hashes). Every per-request mean
    (error rate, positive rate or prediction mean, accuracy or absolute error with feedback)
    is a ratio of per-unit sums with the delta-method (cluster-robust) variance, CUPED-adjusted
    when pre-experiment values of the units are given; latency is compared per request
    (Hodges-Lehmann shift and Moses interval on all rows). SRM counts distinct units.
design
    sequential by default (always-valid p-values and confidence sequences, safe to read while
    data arrive) or a fixed horizon (warned when read before the planned units).
families
    the primary metric (accuracy / absolute error, or the one named) across the treatment
    arms is one family, the guardrails (error rate, latency, prediction shift) another; each
    is Bonferroni-corrected, and its intervals are drawn at the corrected level.
coverage
    rows the prediction logger dropped (its ``mode="dropped"`` marker rows) are counted per
    variant; when the loss could bias the comparison (more than ``max_loss`` of the rows, or
    unequal between arms) no verdict is given.

The sample-ratio check runs first: a mismatch is put at the top of ``warnings``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelyard.rollout import sequential as seq
from modelyard.rollout import significance as sig
from modelyard.rollout.metrics import model_metrics, same_labels
from modelyard.rollout.shadow_report import ShadowSummary, distribution, shadow_report
from modelyard.rollout.srm import SrmResult, check_units, period_index
from modelyard.rollout.units import delta_estimates, pre_period_values, unit_keys, unit_sums
from modelyard.routing.router import Deployment

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class VariantSummary:
    """What one live variant served."""

    variant: str
    version: int | None
    requests: int
    share: float
    errors: int
    error_rate: float | None
    latency_ms: dict[str, float | None]
    predictions: dict[str, Any]
    metrics: dict[str, float | None] = field(default_factory=dict)
    labelled: int = 0
    units: int = 0
    dropped: int = 0
    """Rows the prediction logger lost for this variant (its drop markers)."""

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class ExperimentReport:
    """Everything ``modelyard experiment report`` shows."""

    model: str
    router: str
    status: str
    revision: int
    control: str | None
    since: datetime | None
    until: datetime | None
    variants: list[VariantSummary]
    comparisons: list[sig.Comparison]
    srm: SrmResult | None
    shadows: list[ShadowSummary]
    warnings: list[str]
    unit: str = "request"
    design: str = ""
    families: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "model": self.model,
                "router": self.router,
                "status": self.status,
                "revision": self.revision,
                "control": self.control,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "variants": [v.to_dict() for v in self.variants],
                "comparisons": [c.to_dict() for c in self.comparisons],
                "srm": self.srm.to_dict() if self.srm else None,
                "shadows": [s.to_dict() for s in self.shadows],
                "warnings": list(self.warnings),
                "unit": self.unit,
                "design": self.design,
                "families": self.families,
                "coverage": self.coverage,
            }
        )


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _errors(frame: pd.DataFrame) -> pd.Series:
    err = frame["error"]
    return err.notna() & (err.astype(str) != "")


def _binary(values: pd.Series) -> bool:
    vals = set(values.dropna().astype(float).unique().tolist())
    return bool(vals) and vals <= {0.0, 1.0}


def _prediction_summary(ok: pd.DataFrame, task: str) -> dict[str, Any]:
    preds = ok["prediction"]
    if task == "classification":
        labels = preds.where(preds.notna(), ok.get("prediction_label"))
        counts = labels.dropna().astype(str).value_counts()
        total = int(counts.sum())
        summary: dict[str, Any] = {"classes": {k: int(v) for k, v in counts.sort_index().items()}}
        if _binary(preds):
            summary["positive_rate"] = float((preds.astype(float) == 1).mean()) if total else None
        if "score" in ok.columns and ok["score"].notna().any():
            summary["score"] = distribution(ok["score"].astype(float).values)
        return summary
    return distribution(preds.astype(float).values)


def periods_from_history(history: Sequence[Any]) -> list[tuple[datetime, dict[str, float]]]:
    """``[(start, live weights)]`` from :meth:`DeploymentStore.history` entries with a time."""
    periods: list[tuple[datetime, dict[str, float]]] = []
    for change in history:
        at = change.at
        if at is None:
            continue
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        weights = {v.name: v.weight for v in change.deployment.live_variants()}
        if periods and periods[-1][1] == weights:
            continue
        periods.append((at, weights))
    return periods


#: Above this share of live rows lost by the prediction logger no verdict is given.
MAX_LOSS = 0.01

#: metric -> preferred direction; the primary default per task comes first.
_PRIMARY_DEFAULT = {"classification": "accuracy", "regression": "absolute_error"}
_DIRECTIONS: dict[str, sig.Direction] = {
    "accuracy": "higher",
    "absolute_error": "lower",
    "error_rate": "lower",
    "latency_ms": "lower",
    "positive_rate": "none",
    "prediction_mean": "none",
}


def build_report(
    log: pd.DataFrame,
    *,
    deployment: Deployment,
    task: str,
    periods: Sequence[tuple[datetime, Mapping[str, float]]] | None = None,
    feedback: pd.DataFrame | None = None,
    label: str = "label",
    alpha: float = 0.05,
    plan: seq.Plan | None = None,
    primary: str | None = None,
    pre_log: pd.DataFrame | None = None,
    pre_feedback: pd.DataFrame | None = None,
    max_loss: float = MAX_LOSS,
    since: datetime | None = None,
    until: datetime | None = None,
    shadow_tolerance: float = 0.0,
) -> ExperimentReport:
    """The report of ``deployment`` over the rows of ``log`` (see the module docstring).

    ``pre_log``/``pre_feedback`` are the rows before the experiment started: each unit's
    values there are the CUPED covariates. ``plan`` defaults to a sequential design at
    ``alpha``.
    """
    import pandas as pd

    plan = plan or seq.Plan(alpha=alpha)
    warnings: list[str] = []
    modes = log["mode"].astype(str) if not log.empty else pd.Series(dtype=str)
    live = _with_labels(log[modes == "live"] if not log.empty else log, feedback, label)
    total = len(live)
    units, unit_name = unit_keys(live)

    order = [v.name for v in deployment.live_variants()]
    seen = sorted(set(live["variant"].astype(str)) - set(order)) if total else []
    names = order + seen
    control = deployment.state.get("baseline") or (order[0] if order else None)
    versions = {v.name: v.version for v in deployment.variants}
    dropped = _dropped(log, modes, "live")

    summaries: list[VariantSummary] = []
    groups: dict[str, pd.DataFrame] = {}
    for name in names:
        rows = live[live["variant"].astype(str) == name] if total else live
        groups[name] = rows
        summaries.append(_summary(name, versions.get(name), rows, units, total, task, dropped.get(name, 0)))

    srm = None
    if total and periods:
        srm = check_units(live, units, periods)
        if srm.mismatch:
            warnings.append(srm.message)

    coverage, refuse = _coverage(summaries, max_loss)
    if refuse:
        warnings.append(refuse)

    comparisons: list[sig.Comparison] = []
    families: list[dict[str, Any]] = []
    treatments = [n for n in names if n != control and len(groups.get(n, ())) > 0]
    if control is not None and control in groups and len(groups[control]) and treatments:
        values = _metric_values(live, task)
        pre = _pre_values(pre_log, pre_feedback, label, task)
        primary_name = primary or _PRIMARY_DEFAULT.get(task)
        if primary_name is not None and primary_name not in _DIRECTIONS:
            from modelyard.errors import ConfigError

            raise ConfigError(
                f"unknown primary metric {primary_name!r}; choose one of: {', '.join(_DIRECTIONS)}"
            )
        present = [m for m in [*values, "latency_ms"] if m == "latency_ms" or values[m].notna().any()]
        primaries = [m for m in present if m == primary_name]
        guardrails = [m for m in present if m != primary_name]
        if primary_name is not None and not primaries:
            families.append(
                {
                    "name": "primary",
                    "metrics": [primary_name],
                    "arms": treatments,
                    "comparisons": 0,
                    "correction": "none",
                    "alpha": plan.alpha,
                    "alpha_each": plan.alpha,
                    "note": "no data yet (no feedback joined)",
                }
            )
        for role, metrics in (("primary", primaries), ("guardrail", guardrails)):
            if not metrics:
                continue
            m = len(metrics) * len(treatments)
            each = seq.bonferroni(plan.alpha, m)
            family = f"{role}: {', '.join(metrics)} x {len(treatments)} arm(s)"
            families.append(
                {
                    "name": role,
                    "metrics": metrics,
                    "arms": treatments,
                    "comparisons": m,
                    "correction": "Bonferroni" if m > 1 else "none",
                    "alpha": plan.alpha,
                    "alpha_each": each,
                }
            )
            for name in treatments:
                pair = (control, name)
                for metric in metrics:
                    comp = _compare(metric, groups, pair, live, units, values, pre, plan, each, unit_name)
                    comp = _replace(comp, family=family, role=role)
                    if refuse:
                        comp = _replace(comp, verdict="no verdict (rows lost)")
                    comparisons.append(comp)
        warnings += _simpson(comparisons, live, units, values, periods, plan)
        if plan.design == "fixed":
            reached = min(s.units for s in summaries if s.variant in (control, *treatments))
            if reached < plan.planned_units:
                warnings.append(
                    f"read before the planned horizon ({reached} of {plan.planned_units} units per arm): "
                    "fixed-horizon p-values are valid only at the planned size; reading them while data "
                    "arrive inflates false positives (use the sequential design to monitor)"
                )
    if total and not comparisons and len([s for s in summaries if s.requests]) > 1:
        warnings.append(f"no control variant {control!r} in the log; nothing to compare against")
    for s in summaries:
        if s.requests and not s.labelled and any(v.labelled for v in summaries):
            warnings.append(f"{s.variant}: no feedback joined yet, model metrics not available")
    shadow_rows = log[modes != "live"] if not log.empty else log
    return ExperimentReport(
        model=deployment.model,
        router=deployment.router,
        status=deployment.status,
        revision=deployment.revision,
        control=control,
        since=since,
        until=until,
        variants=summaries,
        comparisons=comparisons,
        srm=srm,
        shadows=shadow_report(log, task=task, tolerance=shadow_tolerance) if len(shadow_rows) else [],
        warnings=warnings,
        unit=unit_name,
        design=plan.describe(),
        families=families,
        coverage=coverage,
    )


def _replace(comp: sig.Comparison, **changes: Any) -> sig.Comparison:
    from dataclasses import replace

    return replace(comp, **changes)


def _with_labels(live: pd.DataFrame, feedback: pd.DataFrame | None, label: str) -> pd.DataFrame:
    import pandas as pd

    if feedback is not None and not feedback.empty and not live.empty:
        fb = feedback[["request_id", label]].drop_duplicates("request_id", keep="last")
        return live.merge(fb.rename(columns={label: "_label"}), on="request_id", how="left").set_axis(
            live.index
        )
    return live.assign(_label=pd.NA) if not live.empty else live


def _summary(
    name: str, version: int | None, rows: pd.DataFrame, units: pd.Series, total: int, task: str, dropped: int
) -> VariantSummary:
    import pandas as pd

    errs = _errors(rows) if len(rows) else pd.Series(dtype=bool)
    ok = rows[~errs] if len(rows) else rows
    lat = rows["latency_ms"].astype(float) if len(rows) else pd.Series(dtype=float)
    labelled = ok[ok["_label"].notna()] if len(ok) else ok
    return VariantSummary(
        variant=name,
        version=version,
        requests=len(rows),
        share=float(len(rows) / total) if total else 0.0,
        errors=int(errs.sum()) if len(rows) else 0,
        error_rate=float(errs.mean()) if len(rows) else None,
        latency_ms={
            "mean": float(lat.mean()) if len(lat) else None,
            "p50": float(lat.quantile(0.5)) if len(lat) else None,
            "p95": float(lat.quantile(0.95)) if len(lat) else None,
            "p99": float(lat.quantile(0.99)) if len(lat) else None,
        },
        predictions=_prediction_summary(ok, task) if len(ok) else {},
        metrics=_metrics(labelled, task) if len(labelled) else {},
        labelled=len(labelled),
        units=int(units.loc[rows.index].nunique()) if len(rows) else 0,
        dropped=dropped,
    )


def _dropped(log: pd.DataFrame, modes: pd.Series, of_mode: str) -> dict[str, int]:
    """Rows lost per variant, from the logger's ``mode="dropped"`` markers (count in ``prediction``)."""
    if log.empty:
        return {}
    marks = log[modes == "dropped"]
    if "prediction_label" in marks.columns:
        marks = marks[marks["prediction_label"].astype(str) == of_mode]
    if marks.empty:
        return {}
    counts = marks.groupby(marks["variant"].astype(str))["prediction"].sum()
    return {str(k): int(v) for k, v in counts.items()}


def _coverage(summaries: list[VariantSummary], max_loss: float) -> tuple[dict[str, Any], str]:
    """Logged / (logged + dropped) per variant, and the reason to refuse a verdict ('' if none)."""
    logged = sum(s.requests for s in summaries)
    lost = sum(s.dropped for s in summaries)
    seen = logged + lost
    per = {
        s.variant: (s.requests / (s.requests + s.dropped) if s.requests + s.dropped else None)
        for s in summaries
    }
    coverage = {
        "logged": logged,
        "dropped": lost,
        "coverage": logged / seen if seen else None,
        "variants": per,
    }
    if not lost:
        return coverage, ""
    share = lost / seen
    if share > max_loss:
        return coverage, (
            f"the prediction logger dropped {lost} of {seen} live rows ({share:.1%} > {max_loss:.1%}): "
            "losses come in bursts and can bias every comparison, so no verdict is given; "
            "raise serving.log.max_queue or fix the sink and read again"
        )
    rates = [(s.dropped, s.requests + s.dropped) for s in summaries if s.requests + s.dropped]
    if len(rates) > 1:
        from scipy import stats

        table = [[d, n - d] for d, n in rates]
        if any(d for d, _ in rates):
            _, p, _, _ = stats.chi2_contingency(table, correction=False)
            if p < 0.01:
                return coverage, (
                    f"the prediction logger lost rows unequally between variants (p={p:.2g}): "
                    "the comparison could be biased, so no verdict is given"
                )
    return coverage, ""


def _metric_values(rows: pd.DataFrame, task: str) -> dict[str, pd.Series]:
    """One value per request per ratio metric (NaN where the metric does not apply)."""
    import numpy as np
    import pandas as pd

    out: dict[str, pd.Series] = {}
    if rows.empty:
        return out
    errs = _errors(rows)
    out["error_rate"] = errs.astype(float)
    ok = ~errs
    pred = rows["prediction"]
    if task == "classification":
        if _binary(pred[ok]):
            out["positive_rate"] = (pred.astype(float) == 1).astype(float).where(ok)
    else:
        out["prediction_mean"] = pred.astype(float).where(ok)
    labelled = ok & rows["_label"].notna()
    if task == "classification":
        answer = pred
        if "prediction_label" in rows.columns:
            answer = pred.astype(object).where(pred.notna(), rows["prediction_label"])
        correct = np.full(len(rows), np.nan)
        mask = labelled.to_numpy()
        if mask.any():
            correct[mask] = same_labels(answer[labelled].to_numpy(), rows.loc[labelled, "_label"].to_numpy())
        out["accuracy"] = pd.Series(correct, index=rows.index)
    else:
        err = (pred.astype(float) - pd.to_numeric(rows["_label"], errors="coerce")).abs()
        out["absolute_error"] = err.where(labelled)
    return out


def _pre_values(
    pre_log: pd.DataFrame | None, pre_feedback: pd.DataFrame | None, label: str, task: str
) -> dict[str, dict[str, float]]:
    """Per metric, each unit's pre-experiment value (the CUPED covariate)."""
    if pre_log is None or pre_log.empty:
        return {}
    rows = _with_labels(pre_log[pre_log["mode"].astype(str) == "live"], pre_feedback, label)
    if rows.empty:
        return {}
    units, _ = unit_keys(rows)
    return {m: pre_period_values(units, v) for m, v in _metric_values(rows, task).items()}


def _compare(
    metric: str,
    groups: dict[str, pd.DataFrame],
    pair: tuple[str, str],
    live: pd.DataFrame,
    units: pd.Series,
    values: dict[str, pd.Series],
    pre: dict[str, dict[str, float]],
    plan: seq.Plan,
    alpha: float,
    unit_name: str,
) -> sig.Comparison:
    c, t = groups[pair[0]], groups[pair[1]]
    direction = _DIRECTIONS[metric]
    if metric == "latency_ms":
        return sig.shift_comparison(
            metric,
            c["latency_ms"].astype(float).to_numpy(),
            t["latency_ms"].astype(float).to_numpy(),
            names=pair,
            direction=direction,
            plan=plan,
            alpha=alpha,
        )
    v = values[metric]
    cs = unit_sums(units.loc[c.index], v.loc[c.index], pre=pre.get(metric))
    ts = unit_sums(units.loc[t.index], v.loc[t.index], pre=pre.get(metric))
    return sig.ratio_comparison(
        metric, cs, ts, names=pair, direction=direction, plan=plan, alpha=alpha, unit=unit_name
    )


def _simpson(
    comparisons: list[sig.Comparison],
    live: pd.DataFrame,
    units: pd.Series,
    values: dict[str, pd.Series],
    periods: Sequence[tuple[datetime, Mapping[str, float]]] | None,
    plan: seq.Plan,
) -> list[str]:
    """Warn when pooling rows across weight changes moves an estimate by more than its standard error.

    With weights changing over time, each period holds a different mix of the arms; if the
    metric also drifts over time, the pooled difference mixes the drift into the effect
    (Simpson's paradox). The stratified estimate (per-period differences weighted by the
    period's units) does not.
    """
    import pandas as pd

    if not periods or len(periods) < 2 or live.empty:
        return []
    period = pd.Series(period_index(live["timestamp"], periods), index=live.index)
    ratios = {i: _share(periods[i][1]) for i in set(period)}
    if len(set(ratios.values())) < 2:
        return []
    out = []
    for comp in comparisons:
        if comp.metric not in values or comp.ci_low is None or comp.ci_high is None:
            continue
        v = values[comp.metric]
        diffs, weights = [], []
        for p in sorted(set(period)):
            c = live.index[(period == p) & (live["variant"].astype(str) == comp.control)]
            t = live.index[(period == p) & (live["variant"].astype(str) == comp.treatment)]
            cs, ts_ = unit_sums(units.loc[c], v.loc[c]), unit_sums(units.loc[t], v.loc[t])
            if cs.units < 2 or ts_.units < 2:
                continue
            ec, et = delta_estimates(cs, ts_)
            diffs.append(et.value - ec.value)
            weights.append(cs.units + ts_.units)
        if len(diffs) < 2:
            continue
        stratified = sum(d * w for d, w in zip(diffs, weights, strict=True)) / sum(weights)
        pooled = comp.treatment_value - comp.control_value
        se = (comp.ci_high - comp.ci_low) / 2 / _crit_of(comp, plan)
        if abs(pooled - stratified) > se or (pooled * stratified < 0):
            out.append(
                f"{comp.metric} ({comp.treatment} vs {comp.control}): the weights changed during the experiment "
                f"and pooling all periods gives {pooled:+.4g} while the per-period (stratified) difference is "
                f"{stratified:+.4g}; the metric drifted between periods (Simpson's paradox): trust the "
                "stratified figure or analyse one period"
            )
    return out


def _crit_of(comp: sig.Comparison, plan: seq.Plan) -> float:
    from modelyard.rollout.units import harmonic_units

    return seq.critical_z(plan, harmonic_units(comp.n_control, comp.n_treatment), comp.alpha)


def _share(weights: Mapping[str, float]) -> tuple[float, ...]:
    total = sum(weights.values()) or 1.0
    return tuple(round(weights[k] / total, 6) for k in sorted(weights))


def _metrics(labelled: pd.DataFrame, task: str) -> dict[str, float | None]:
    pred = labelled["prediction"]
    if "prediction_label" in labelled.columns:  # string class labels are logged there
        pred = pred.astype(object).where(pred.notna(), labelled["prediction_label"])
    return model_metrics(pred.to_numpy(), labelled["_label"].to_numpy(), task)
