"""The experiment report: per-variant traffic and quality, statistical comparisons, SRM, shadows.

:func:`build_report` works on a frame of prediction-log rows (live and shadow) and, when
there is ground truth, a feedback frame (``request_id`` plus the label column). It is
pure: the CLI (``modelyard experiment report``) gathers the inputs from the yard.

The control is the first live variant of the deployment (a canary's baseline); every
other live variant that got traffic is compared with it on

- error rate (two-proportion z-test, lower is better),
- latency (Mann-Whitney U, lower is better),
- the predictions themselves (positive rate by z-test for classification, mean by
  Welch's t-test for regression; no preferred direction),
- with feedback: accuracy (z-test, higher is better) for classification, absolute error
  (Welch, lower is better) for regression.

The sample-ratio check runs first: a mismatch is put at the top of ``warnings``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelyard.rollout import significance as sig
from modelyard.rollout.metrics import model_metrics
from modelyard.rollout.shadow_report import ShadowSummary, distribution, shadow_report
from modelyard.rollout.srm import SrmResult, check_ratio, expected_counts
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
    periods = []
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


def build_report(
    log: pd.DataFrame,
    *,
    deployment: Deployment,
    task: str,
    periods: Sequence[tuple[datetime, Mapping[str, float]]] | None = None,
    feedback: pd.DataFrame | None = None,
    label: str = "label",
    alpha: float = 0.05,
    since: datetime | None = None,
    until: datetime | None = None,
    shadow_tolerance: float = 0.0,
) -> ExperimentReport:
    """The report of ``deployment`` over the rows of ``log`` (see the module docstring)."""
    import pandas as pd

    warnings: list[str] = []
    live = log[log["mode"].astype(str) == "live"] if not log.empty else log
    total = len(live)
    if feedback is not None and not feedback.empty and not live.empty:
        fb = feedback[["request_id", label]].drop_duplicates("request_id", keep="last")
        live = live.merge(fb.rename(columns={label: "_label"}), on="request_id", how="left")
    elif not live.empty:
        live = live.assign(_label=pd.NA)

    order = [v.name for v in deployment.live_variants()]
    seen = sorted(set(live["variant"].astype(str)) - set(order)) if total else []
    names = order + seen
    control = deployment.state.get("baseline") or (order[0] if order else None)
    versions = {v.name: v.version for v in deployment.variants}

    summaries: list[VariantSummary] = []
    groups: dict[str, pd.DataFrame] = {}
    for name in names:
        rows = live[live["variant"].astype(str) == name] if total else live
        groups[name] = rows
        errs = _errors(rows) if len(rows) else pd.Series(dtype=bool)
        ok = rows[~errs] if len(rows) else rows
        lat = rows["latency_ms"].astype(float) if len(rows) else pd.Series(dtype=float)
        metrics: dict[str, float | None] = {}
        labelled = ok[ok["_label"].notna()] if len(ok) else ok
        if len(labelled):
            metrics = _metrics(labelled, task)
        summaries.append(
            VariantSummary(
                variant=name,
                version=versions.get(name),
                requests=int(len(rows)),
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
                metrics=metrics,
                labelled=int(len(labelled)),
            )
        )

    srm = None
    if total and periods:
        ts = [t.to_pydatetime() for t in pd.to_datetime(live["timestamp"], utc=True)]
        expected = expected_counts(ts, periods)
        observed = {s.variant: s.requests for s in summaries}
        srm = check_ratio(observed, expected)
        if srm.mismatch:
            warnings.append(srm.message)

    comparisons: list[sig.Comparison] = []
    if control is not None and control in groups:
        for name in names:
            if name == control or not len(groups[name]):
                continue
            comparisons += _compare(groups[control], groups[name], (control, name), task, alpha)
    if total and not comparisons and len([s for s in summaries if s.requests]) > 1:
        warnings.append(f"no control variant {control!r} in the log; nothing to compare against")
    for s in summaries:
        if s.requests and not s.labelled and any(v.labelled for v in summaries):
            warnings.append(f"{s.variant}: no feedback joined yet, model metrics not available")
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
        shadows=shadow_report(log, task=task, tolerance=shadow_tolerance) if not log.empty else [],
        warnings=warnings,
    )


def _metrics(labelled: pd.DataFrame, task: str) -> dict[str, float | None]:
    pred = labelled["prediction"]
    if "prediction_label" in labelled.columns:  # string class labels are logged there
        pred = pred.astype(object).where(pred.notna(), labelled["prediction_label"])
    return model_metrics(pred.to_numpy(), labelled["_label"].to_numpy(), task)


def _compare(
    c: pd.DataFrame, t: pd.DataFrame, names: tuple[str, str], task: str, alpha: float
) -> list[sig.Comparison]:
    out = []
    ce, te = _errors(c), _errors(t)
    out.append(
        sig.two_proportions(
            "error_rate",
            (int(ce.sum()), int(te.sum())),
            (len(c), len(t)),
            names=names,
            direction="lower",
            alpha=alpha,
        )
    )
    out.append(
        sig.mann_whitney(
            "latency_ms",
            c["latency_ms"].astype(float).values,
            t["latency_ms"].astype(float).values,
            names=names,
            direction="lower",
            alpha=alpha,
        )
    )
    cok, tok = c[~ce], t[~te]
    if task == "classification" and _binary(cok["prediction"]) and _binary(tok["prediction"]):
        out.append(
            sig.two_proportions(
                "positive_rate",
                (
                    int((cok["prediction"].astype(float) == 1).sum()),
                    int((tok["prediction"].astype(float) == 1).sum()),
                ),
                (len(cok), len(tok)),
                names=names,
                direction="none",
                alpha=alpha,
            )
        )
    elif task == "regression":
        out.append(
            sig.welch(
                "prediction_mean",
                cok["prediction"].astype(float).values,
                tok["prediction"].astype(float).values,
                names=names,
                direction="none",
                alpha=alpha,
            )
        )
    cl, tl = cok[cok["_label"].notna()], tok[tok["_label"].notna()]
    if len(cl) and len(tl):
        if task == "classification":
            cm = _metrics(cl, task)["accuracy"] or 0.0
            tm = _metrics(tl, task)["accuracy"] or 0.0
            out.append(
                sig.two_proportions(
                    "accuracy",
                    (round(cm * len(cl)), round(tm * len(tl))),
                    (len(cl), len(tl)),
                    names=names,
                    direction="higher",
                    alpha=alpha,
                )
            )
        else:
            import numpy as np

            ca = np.abs(cl["prediction"].astype(float).values - cl["_label"].astype(float).values)
            ta = np.abs(tl["prediction"].astype(float).values - tl["_label"].astype(float).values)
            out.append(sig.welch("absolute_error", ca, ta, names=names, direction="lower", alpha=alpha))
    return out
