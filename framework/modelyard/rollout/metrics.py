"""Model metrics from predictions and ground truth, shared by the experiment report and replay.

The formulas are monitoring's (:mod:`modelyard.monitoring.metrics`); this adds the label
comparison rollouts need (predictions and labels logged with different types).
"""

from __future__ import annotations

from typing import Any


def same_labels(pred: Any, label: Any) -> Any:
    """Element-wise equality of class labels: numerically when both sides are numbers (1 == 1.0), else as text."""
    import numpy as np
    import pandas as pd

    p = pd.Series(np.asarray(pred, dtype=object))
    t = pd.Series(np.asarray(label, dtype=object))
    pn, tn = pd.to_numeric(p, errors="coerce"), pd.to_numeric(t, errors="coerce")
    both = pn.notna() & tn.notna()
    return np.where(both, pn == tn, p.astype(str) == t.astype(str))


def model_metrics(pred: Any, label: Any, task: str) -> dict[str, float | None]:
    """``accuracy`` for classification; ``mae`` and ``rmse`` for regression (empty without rows)."""
    import numpy as np

    from modelyard.monitoring import metrics as performance

    if not len(pred):
        return {}
    if task == "classification":
        # labels compared by same_labels (1 == 1.0 == "1"), which monitoring's accuracy does not do
        return {"accuracy": float(np.mean(same_labels(pred, label)))}
    y, p = np.asarray(label, dtype=float), np.asarray(pred, dtype=float)
    return {"mae": performance.mae(y, p), "rmse": performance.rmse(y, p)}
