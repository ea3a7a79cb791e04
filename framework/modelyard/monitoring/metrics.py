"""Model-performance metrics in numpy (no scikit-learn needed at monitoring time).

Classification (binary; ``positive`` is the positive label): accuracy, precision, recall, F1,
ROC AUC and log loss (the last two need the positive-class probability). Regression: MAE,
RMSE, R2. Each agrees with scikit-learn's function of the same name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION = ("mae", "rmse", "r2")
#: Metrics where lower is better (a rise is a degradation).
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})


def _confusion(y: np.ndarray, pred: np.ndarray, positive: object) -> tuple[int, int, int, int]:
    t, p = y == positive, pred == positive
    return int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum()), int((~t & ~p).sum())


def accuracy(y: np.ndarray, pred: np.ndarray, positive: object = 1) -> float:
    return float(np.mean(y == pred)) if y.size else float("nan")


def precision(y: np.ndarray, pred: np.ndarray, positive: object = 1) -> float:
    tp, fp, _, _ = _confusion(y, pred, positive)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y: np.ndarray, pred: np.ndarray, positive: object = 1) -> float:
    tp, _, fn, _ = _confusion(y, pred, positive)
    return tp / (tp + fn) if tp + fn else 0.0


def f1(y: np.ndarray, pred: np.ndarray, positive: object = 1) -> float:
    tp, fp, fn, _ = _confusion(y, pred, positive)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def roc_auc(y: np.ndarray, proba: np.ndarray, positive: object = 1) -> float:
    """Area under the ROC curve by the rank (Mann-Whitney) formula, ties counted half."""
    from scipy.stats import rankdata

    t = y == positive
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(proba)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y: np.ndarray, proba: np.ndarray, positive: object = 1) -> float:
    eps = np.finfo(np.float64).eps
    p = np.clip(proba.astype(np.float64), eps, 1 - eps)
    t = y == positive
    return float(-np.mean(np.where(t, np.log(p), np.log(1 - p))))


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y - pred)))


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0:
        return float("nan")
    return 1.0 - float(np.sum((y - pred) ** 2)) / total


LABEL_METRICS: dict[str, Callable[..., float]] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
}
PROBA_METRICS: dict[str, Callable[..., float]] = {"roc_auc": roc_auc, "log_loss": log_loss}
REGRESSION_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "mae": mae,
    "rmse": rmse,
    "r2": r2,
}
