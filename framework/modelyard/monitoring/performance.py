"""Model performance against the version's validation baseline (the ``performance`` detector).

The window is a frame of logged predictions joined with their ground truth: columns
``label`` and ``prediction`` (and ``score``, the positive-class probability, for ROC AUC and log
loss); names are configurable. Each metric is compared with the baseline (the metrics
registered with the version, given through :meth:`PerformanceDetector.with_baseline`).

Labels arrive late, so a window's metric is often computed on a fraction of its rows, and a
metric on a few hundred labelled rows is noisy: a fixed margin alone fails good models. Each
metric therefore gets a confidence interval over the labelled rows (the bootstrap standard
error, ``bootstrap`` resamples, times the normal quantile of ``confidence`` with Bonferroni's
correction over the window's metrics: 99% for the family by default, so a good model fails a
window through sampling noise at most 1% of the time), and the verdict asks for both a
meaningful and a demonstrable change. A metric fails when it is worse than the baseline by more than
``max_degradation`` (absolute) *and* the interval of its difference from the baseline excludes
zero (the baseline is itself measured on a finite held-out set: when its size is known, its
standard error is added, see :meth:`PerformanceDetector.with_baseline`); when its whole
interval is below a floor from ``min_values`` (or above a ceiling for error metrics, from
``max_values``); or when it moved by more than ``max_change`` since the previous window.
Every result reports the labelled share of the window, the interval, and whether the sample
could tell the metric apart from its baseline. A user business metric
(``business_metric: "module:function"``, called with the window frame, returning a float) is
reported and judged against ``min_values`` / ``max_values`` like the others.

Concept drift shows as performance decay, and as label-distribution shift: when the
reference profile given to :meth:`PerformanceDetector.fit` profiles the model's label, the
window's labels are compared with it by the default drift test (statistic ``label_shift:...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import MonitoringError
from modelyard.monitoring import metrics as m
from modelyard.monitoring.detector import Detector
from modelyard.monitoring.results import DetectorResult

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile


class PerformanceConfig(BaseModel):
    """Settings of the ``performance`` detector."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["classification", "regression"] = "classification"
    metrics: list[str] | None = Field(None, description="default: every metric of the task")
    label_column: str = "label"
    prediction_column: str = "prediction"
    score_column: str = "score"
    positive: Any = 1
    max_degradation: float = Field(0.05, ge=0, description="absolute worsening vs the baseline that fails")
    max_change: float | None = Field(
        None, ge=0, description="absolute move since the previous window that fails"
    )
    min_values: dict[str, float] = Field(default_factory=dict)
    max_values: dict[str, float] = Field(default_factory=dict)
    business_metric: str | None = Field(None, description="'module:function' of the window frame -> float")
    min_rows: int = Field(30, ge=1, description="labelled rows needed for a verdict")
    confidence: float = Field(
        0.99, gt=0, lt=1, description="of the metrics' intervals, jointly (Bonferroni over the metrics)"
    )
    bootstrap: int = Field(200, ge=20, description="bootstrap resamples per window")
    bootstrap_rows: int = Field(
        20_000, ge=100, description="larger labelled samples are subsampled; the interval is rescaled"
    )
    seed: int = 0


class _LabelDriftConfig(BaseModel):
    """The default drift settings, for the single label column (no correction needed)."""

    alpha: float = 0.01
    correction: str = "none"
    min_wasserstein: float = 0.05
    min_jensen_shannon: float = 0.025
    calibrate: bool = True
    share_threshold: float = 1.0


class PerformanceDetector(Detector):
    """Classification or regression metrics of a labelled window vs a baseline."""

    kind: ClassVar[str] = "performance"
    name: ClassVar[str] = "performance"

    def __init__(self, config: PerformanceConfig | None = None) -> None:
        super().__init__(config or PerformanceConfig())
        self.baseline: dict[str, float] = {}
        self.previous: dict[str, float] = {}
        self.baseline_rows: int | None = None
        names = self.config.metrics or list(
            m.CLASSIFICATION if self.config.task == "classification" else m.REGRESSION
        )
        known = m.CLASSIFICATION if self.config.task == "classification" else m.REGRESSION
        unknown = [x for x in names if x not in known]
        if unknown:
            raise MonitoringError(
                f"unknown {self.config.task} metric(s) {unknown}; choose from: {', '.join(known)}"
            )
        self.metric_names = names

    def fit(self, reference: Profile | None = None, *, label: str | None = None) -> PerformanceDetector:
        """Keep the reference profile for label shift (when it profiles ``label``, the model's label name).

        The metric baseline comes from :meth:`with_baseline`.
        """
        self._reference = reference
        self._label = label
        return self

    def _label_shift(self, current: pd.DataFrame) -> list[DetectorResult]:
        """Concept drift seen in the labels: the default drift test on the label column vs the reference's."""
        label = getattr(self, "_label", None)
        if self._reference is None or label is None or label not in self._reference.features:
            return []
        from modelyard.monitoring.drift import DefaultDriftDetector

        drift = DefaultDriftDetector(_LabelDriftConfig()).fit(self._reference)
        frame = current[[self.config.label_column]].rename(columns={self.config.label_column: label})
        results = drift.score(frame, features=[label])[0]
        return [replace(results, detector=self.name, statistic=f"label_shift:{results.statistic}")]

    def with_baseline(
        self,
        baseline: Mapping[str, float],
        previous: Mapping[str, float] | None = None,
        *,
        baseline_rows: int | None = None,
    ) -> PerformanceDetector:
        """Set the version's validation metrics and (optionally) the previous window's; returns ``self``.

        ``baseline_rows`` is the number of held-out rows the baseline was measured on (a version
        trained by ``modelyard train`` records it as ``test_rows``). With it, the baseline is a
        noisy estimate too, and a window is judged against it with the standard error of the
        *difference*; without it the baseline counts as exact.
        """
        if baseline_rows is not None and baseline_rows < 1:
            raise MonitoringError(f"baseline_rows must be a positive row count, got {baseline_rows}")
        self.baseline = {k: float(v) for k, v in baseline.items()}
        self.previous = {k: float(v) for k, v in (previous or {}).items()}
        self.baseline_rows = baseline_rows
        return self

    def compute(self, current: pd.DataFrame) -> dict[str, float]:
        """The metrics of a labelled window (rows without a label or a prediction are left out)."""
        cfg = self.config
        self._check_columns(current)
        frame = current.dropna(subset=[cfg.label_column, cfg.prediction_column])
        values = self._metrics(*self._arrays(frame))
        if cfg.business_metric:
            from modelyard.plugins.specs import resolve

            values["business"] = float(resolve(cfg.business_metric)(frame))
        return values

    def _arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        cfg = self.config
        y = frame[cfg.label_column].to_numpy()
        pred = frame[cfg.prediction_column].to_numpy()
        score = None
        if cfg.score_column in frame.columns and frame[cfg.score_column].notna().all():
            score = frame[cfg.score_column].to_numpy(np.float64)
        return y, pred, score

    def _metrics(self, y: np.ndarray, pred: np.ndarray, score: np.ndarray | None) -> dict[str, float]:
        cfg = self.config
        values: dict[str, float] = {}
        for name in self.metric_names:
            if cfg.task == "regression":
                values[name] = m.REGRESSION_METRICS[name](y.astype(np.float64), pred.astype(np.float64))
            elif name in m.LABEL_METRICS:
                values[name] = m.LABEL_METRICS[name](y, pred, cfg.positive)
            elif score is not None:
                values[name] = m.PROBA_METRICS[name](y, score, cfg.positive)
        return values

    def intervals(self, labelled: pd.DataFrame) -> dict[str, tuple[float, float]]:
        """Joint ``confidence`` intervals of the metrics over the labelled rows.

        Each is the metric plus or minus its bootstrap standard error (``bootstrap`` resamples)
        times the normal quantile of ``1 - (1 - confidence) / (2 k)`` for ``k`` metrics. Above
        ``bootstrap_rows`` labelled rows a random subsample is bootstrapped and the standard
        error shrunk by ``sqrt(subsample / n)`` (the metrics here are means or smooth functions
        of means, whose spread scales so).
        """
        from scipy import stats

        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        y, pred, score = self._arrays(labelled)
        n = y.size
        shrink = 1.0
        if n > cfg.bootstrap_rows:
            keep = rng.choice(n, size=cfg.bootstrap_rows, replace=False)
            y, pred, score = y[keep], pred[keep], None if score is None else score[keep]
            shrink = float(np.sqrt(cfg.bootstrap_rows / n))
        point = self._metrics(y, pred, score)
        draws: dict[str, list[float]] = {k: [] for k in point}
        for _ in range(cfg.bootstrap):
            idx = rng.integers(0, y.size, y.size)
            for k, v in self._metrics(y[idx], pred[idx], None if score is None else score[idx]).items():
                draws[k].append(v)
        z = float(stats.norm.ppf(1 - (1 - cfg.confidence) / (2 * max(len(point), 1))))
        full = self._metrics(*self._arrays(labelled)) if shrink < 1 else point
        out: dict[str, tuple[float, float]] = {}
        for k, values in draws.items():
            arr = np.asarray(values, dtype=np.float64)
            arr = arr[np.isfinite(arr)]
            if arr.size < 10 or not np.isfinite(full.get(k, np.nan)):
                out[k] = (float("-inf"), float("inf"))
                continue
            half = z * float(arr.std(ddof=1)) * shrink
            out[k] = (full[k] - half, full[k] + half)
        return out

    def _check_columns(self, current: pd.DataFrame) -> None:
        cfg = self.config
        for col in (cfg.label_column, cfg.prediction_column):
            if col not in current.columns:
                raise MonitoringError(
                    f"performance detector: the window has no {col!r} column (it has {list(current.columns)}); "
                    "join the feedback to the predictions first, or set label_column / prediction_column"
                )

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        cfg = self.config
        self._check_columns(current)
        n = (
            int(current[[cfg.label_column, cfg.prediction_column]].notna().all(axis=1).sum())
            if len(current)
            else 0
        )
        if n < cfg.min_rows:
            return [
                DetectorResult(
                    detector=self.name,
                    feature=None,
                    statistic=name,
                    value=float("nan"),
                    p_value=None,
                    threshold=float("nan"),
                    drifted=False,
                    n_reference=0,
                    n_current=n,
                    details={
                        "skipped": f"only {n} labelled rows; at least {cfg.min_rows} are needed",
                        "labelled_rows": n,
                        "window_rows": len(current),
                        "labelled_share": n / len(current) if len(current) else 0.0,
                    },
                )
                for name in self.metric_names
            ]
        values = self.compute(current)
        labelled = current.dropna(subset=[cfg.label_column, cfg.prediction_column])
        intervals = self.intervals(labelled)
        label_shift = self._label_shift(current)
        share = n / len(current)
        out = []
        for name, value in values.items():
            lower_better = name in m.LOWER_IS_BETTER
            lo, hi = intervals.get(name, (value, value))
            # the end of the interval most favourable to the model: what the sample cannot rule out
            best = lo if lower_better else hi
            reasons: list[str] = []
            base = self.baseline.get(name)
            threshold = float("nan")
            distinguishable = None
            diff_lo = diff_hi = float("nan")
            if base is not None:
                threshold = base + cfg.max_degradation if lower_better else base - cfg.max_degradation
                # the difference's interval: the window's spread, plus the baseline's own when its
                # held-out size is known (the same metric on n_base rows spreads sqrt(n / n_base) as much)
                half = (hi - lo) / 2
                if self.baseline_rows:
                    half *= float(np.sqrt(1 + n / self.baseline_rows))
                diff_lo, diff_hi = value - base - half, value - base + half
                distinguishable = bool(diff_lo > 0 if lower_better else diff_hi < 0)
                worse = (value > threshold) if lower_better else (value < threshold)
                if worse and distinguishable:
                    held_out = f" on {self.baseline_rows} held-out rows" if self.baseline_rows else ""
                    reasons.append(
                        f"{name} {value:.4g} (CI {lo:.4g} to {hi:.4g}, {n} labelled rows) is worse than the "
                        f"baseline {base:.4g}{held_out} by more than {cfg.max_degradation}"
                    )
            if name in cfg.min_values and best < cfg.min_values[name]:
                reasons.append(
                    f"{name} {value:.4g} (CI up to {best:.4g}) is below the minimum {cfg.min_values[name]}"
                )
            if name in cfg.max_values and best > cfg.max_values[name]:
                reasons.append(
                    f"{name} {value:.4g} (CI down to {best:.4g}) is above the maximum {cfg.max_values[name]}"
                )
            prev = self.previous.get(name)
            if cfg.max_change is not None and prev is not None and abs(value - prev) > cfg.max_change:
                reasons.append(f"{name} moved from {prev:.4g} to {value:.4g} since the previous window")
            out.append(
                DetectorResult(
                    detector=self.name,
                    feature=None,
                    statistic=name,
                    value=float(value),
                    p_value=None,
                    threshold=threshold,
                    drifted=bool(reasons),
                    n_reference=0,
                    n_current=n,
                    details={
                        "baseline": base,
                        "previous": prev,
                        "reasons": reasons,
                        "ci_low": float(lo),
                        "ci_high": float(hi),
                        "confidence": cfg.confidence,
                        "labelled_rows": n,
                        "window_rows": len(current),
                        "labelled_share": share,
                        "distinguishable_from_baseline": distinguishable,
                        "baseline_rows": self.baseline_rows,
                        "difference_ci_low": float(diff_lo),
                        "difference_ci_high": float(diff_hi),
                    },
                )
            )
        return out + label_shift
