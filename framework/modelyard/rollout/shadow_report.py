"""Shadow report: how a shadow variant's answers compare with what live answered, request by request.

Shadow rows (``mode="shadow"``) are paired with the live row of the same ``request_id``.
For each shadow variant: its **coverage** (requests it scored out of the live requests served
in the window, and the rows its bounded queue dropped, from the prediction log's drop
markers), how many requests it scored, its error rate and latency, the
agreement rate with live (equal labels for classification; ``|shadow - live| <=
tolerance`` for regression) and the distribution of the differences (shadow - live) of
predictions and, for binary classifiers, of scores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ShadowSummary:
    """One shadow variant against live."""

    variant: str
    version: int | None
    requests: int
    paired: int
    errors: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    live_latency_p50_ms: float | None
    agreement: float | None
    prediction_difference: dict[str, float | None] = field(default_factory=dict)
    score_difference: dict[str, float | None] = field(default_factory=dict)
    served: int = 0
    """Live requests served in the window."""
    dropped: int = 0
    """Shadow rows dropped (queue full, backlog at shutdown) by the drop markers."""
    coverage: float | None = None
    """Distinct requests the shadow scored / live requests served."""

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def distribution(values: Any) -> dict[str, float | None]:
    """Mean, std, mean absolute value and the 5/25/50/75/95 % quantiles of ``values``."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if not len(arr):
        return {"n": 0}
    q = np.quantile(arr, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "n": len(arr),
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
        "mean_abs": float(np.abs(arr).mean()),
        "p05": float(q[0]),
        "p25": float(q[1]),
        "p50": float(q[2]),
        "p75": float(q[3]),
        "p95": float(q[4]),
    }


def _errors(frame: pd.DataFrame) -> pd.Series:
    err = frame["error"]
    return err.notna() & (err.astype(str) != "")


def _quantile(series: pd.Series, q: float) -> float | None:
    s = series.dropna().astype(float)
    return float(s.quantile(q)) if len(s) else None


def _answer(frame: pd.DataFrame) -> pd.Series:
    """The prediction as logged: numeric column, else the string label column."""
    if "prediction_label" in frame.columns:
        return frame["prediction"].where(frame["prediction"].notna(), frame["prediction_label"])
    return frame["prediction"]


def shadow_report(log: pd.DataFrame, *, task: str, tolerance: float = 0.0) -> list[ShadowSummary]:
    """One :class:`ShadowSummary` per shadow variant found in ``log``."""
    import numpy as np

    if log.empty or "mode" not in log.columns:
        return []
    modes = log["mode"].astype(str)
    live = log[modes == "live"]
    served = int(live["request_id"].nunique())
    marks = log[(modes == "dropped")]
    if "prediction_label" in marks.columns:
        marks = marks[marks["prediction_label"].astype(str) == "shadow"]
    dropped = marks.groupby(marks["variant"].astype(str))["prediction"].sum() if len(marks) else {}
    live_ok = live[~_errors(live)].drop_duplicates("request_id").set_index("request_id")
    out = []
    for name, rows in log[log["mode"].astype(str) == "shadow"].groupby("variant", sort=True):
        errs = _errors(rows)
        ok = rows[~errs].drop_duplicates("request_id").set_index("request_id")
        common = ok.index.intersection(live_ok.index)
        s, lv = ok.loc[common], live_ok.loc[common]
        agreement = None
        pred_diff: dict[str, float | None] = {}
        score_diff: dict[str, float | None] = {}
        if len(common):
            if task == "classification":
                agreement = float((_answer(s).astype(str).values == _answer(lv).astype(str).values).mean())
            else:
                diff = s["prediction"].astype(float).values - lv["prediction"].astype(float).values
                agreement = float((np.abs(diff) <= tolerance).mean())
            if s["prediction"].notna().all() and lv["prediction"].notna().all():
                pred_diff = distribution(
                    s["prediction"].astype(float).values - lv["prediction"].astype(float).values
                )
            if "score" in s.columns and s["score"].notna().any():
                score_diff = distribution(s["score"].astype(float).values - lv["score"].astype(float).values)
        versions = rows["version"].dropna().unique()
        out.append(
            ShadowSummary(
                variant=str(name),
                version=int(versions[0]) if len(versions) == 1 else None,
                requests=len(rows),
                paired=len(common),
                errors=int(errs.sum()),
                error_rate=float(errs.mean()) if len(rows) else None,
                latency_p50_ms=_quantile(rows["latency_ms"], 0.5),
                latency_p99_ms=_quantile(rows["latency_ms"], 0.99),
                live_latency_p50_ms=_quantile(
                    live.loc[live["request_id"].isin(rows["request_id"]), "latency_ms"], 0.5
                ),
                agreement=agreement,
                prediction_difference=pred_diff,
                score_difference=score_diff,
                served=served,
                dropped=int(dropped.get(str(name), 0)) if len(marks) else 0,
                coverage=float(rows["request_id"].nunique() / served) if served else None,
            )
        )
    return out
