"""Data-quality checks of a window against the reference profile (the ``quality`` detector).

Per feature:

``type_change``
    the column is missing from the window, or its type changed: a numeric feature with values
    that are not numbers, or numbers arriving as text (``"38"``); a numeric feature arriving as
    booleans; a boolean feature arriving as 0/1. A categorical feature arriving as numbers that
    still match its categories is accepted.
``missing_rate_change``
    the missing-value rate rose by more than ``max_missing_increase`` (absolute) and the rise is
    significant (two-sample chi-squared on missing / present counts, so small windows do not alarm).
``non_finite_share``
    the share of infinite values of a numeric feature, above the reference's own.
``unseen_share``
    the share of values of a categorical feature in categories the reference (its fit part) never
    had, above the share the *held-out* reference rows show: in a long tail new values are normal.
``out_of_range_share``
    the share of numeric values outside the reference's [min, max], above what the held-out
    reference rows themselves show.
``constant``
    every value of the window is the same, when the reference makes that improbable (its most
    common value's share to the power of the window's size is below ``alpha``).

A share check fails only when the window's share is *significantly* above its baseline plus the
allowed margin (one-sided binomial test at ``alpha``; the baseline is taken at the upper end of
its own uncertainty), and only on windows of at least ``min_rows`` values: one value out of
range in 13 rows is not an alert.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.monitoring.detector import SummaryDetector
from modelyard.monitoring.profile import FeatureProfile
from modelyard.monitoring.results import DetectorResult, dataset_result
from modelyard.monitoring.stats.contingency import chi2_two_sample

if TYPE_CHECKING:
    from modelyard.monitoring.window import ColumnSummary, WindowSummary


class QualityConfig(BaseModel):
    """Thresholds of the ``quality`` detector."""

    model_config = ConfigDict(extra="forbid")

    max_missing_increase: float = Field(0.05, ge=0, le=1, description="absolute rise of the missing rate")
    max_unseen_share: float = Field(0.01, ge=0, le=1, description="excess over the held-out unseen share")
    max_out_of_range_share: float = Field(0.01, ge=0, le=1)
    max_non_finite_share: float = Field(0.0, ge=0, le=1, description="excess over the reference's share")
    alpha: float = Field(0.01, gt=0, lt=1, description="significance of a rise")
    min_rows: int = Field(30, ge=1, description="share checks need this many values in the window to fail")
    share_threshold: float = Field(0.5, gt=0, le=1, description="dataset fails when this share of checks do")


def excess_share_p(count: int, n: int, baseline: float, baseline_n: int, margin: float) -> float:
    """One-sided p-value that a share of ``count / n`` exceeds ``baseline + margin``.

    ``baseline`` is itself a share measured on ``baseline_n`` values; it is taken at the upper end
    of its 95% interval (``+ 2 sd``), so an uncertain baseline does not make windows fail.
    """
    from scipy import stats

    if n <= 0 or count <= 0:
        return 1.0
    spread = 2.0 * np.sqrt(baseline * (1 - baseline) / baseline_n) if baseline_n > 0 else 0.0
    null = min(1.0, baseline + spread + margin)
    if null >= 1.0:
        return 1.0
    return float(stats.binom.sf(count - 1, n, null))


class QualityDetector(SummaryDetector):
    """Missing values, unseen categories, out-of-range and infinite values, type changes, constant columns."""

    kind: ClassVar[str] = "quality"
    name: ClassVar[str] = "quality"

    def __init__(self, config: QualityConfig | None = None) -> None:
        super().__init__(config or QualityConfig())

    def score_summary(
        self, summary: WindowSummary, *, features: list[str] | None = None
    ) -> list[DetectorResult]:
        profile = self.reference
        names = list(features) if features is not None else list(profile.features)
        out: list[DetectorResult] = []
        for name in names:
            fp = profile.feature(name)
            column = summary.columns[name]
            if not column.present:
                out.append(self._result(fp, "type_change", 1.0, 0.0, True, 0, {"problem": "column missing"}))
                continue
            out.extend(self._check(fp, column))
        out.append(dataset_result(self.name, out, share_threshold=self.config.share_threshold))
        return out

    def _result(
        self,
        fp: FeatureProfile,
        statistic: str,
        value: float,
        threshold: float,
        failed: bool,
        n: int,
        details: dict[str, Any] | None = None,
        p_value: float | None = None,
    ) -> DetectorResult:
        return DetectorResult(
            detector=self.name,
            feature=fp.name,
            statistic=statistic,
            value=float(value),
            p_value=p_value,
            threshold=float(threshold),
            drifted=bool(failed),
            n_reference=fp.count + fp.missing,
            n_current=n,
            details=details or {},
        )

    def _share(
        self,
        fp: FeatureProfile,
        statistic: str,
        count: int,
        n: int,
        *,
        baseline: float,
        baseline_n: int,
        margin: float,
        details: dict[str, Any],
    ) -> DetectorResult:
        """A share check: fails when ``count / n`` is significantly above ``baseline + margin``."""
        cfg = self.config
        share = count / n if n else 0.0
        p = excess_share_p(count, n, baseline, baseline_n, margin)
        threshold = baseline + margin
        enough = n >= cfg.min_rows
        details = {**details, "count": count, "baseline": baseline, "min_rows": cfg.min_rows}
        if not enough and share > threshold:
            details["skipped"] = f"only {n} values in the window; at least {cfg.min_rows} are needed to fail"
        return self._result(
            fp,
            statistic,
            share,
            threshold,
            enough and share > threshold and p < cfg.alpha,
            n,
            details,
            p_value=p,
        )

    def _check(self, fp: FeatureProfile, column: ColumnSummary) -> list[DetectorResult]:
        cfg = self.config
        n = column.rows
        present = column.non_missing
        results = [self._type_check(fp, column)]
        # missing rate
        ref_rate = fp.missing_rate
        rate = column.missing / n if n else 0.0
        test = chi2_two_sample(
            np.array([fp.missing, fp.count + fp.non_finite]), np.array([column.missing, present])
        )
        rise = rate - ref_rate
        results.append(
            self._result(
                fp,
                "missing_rate_change",
                rise,
                cfg.max_missing_increase,
                n >= cfg.min_rows and rise > cfg.max_missing_increase and test.p_value < cfg.alpha,
                n,
                {"missing_rate": rate, "reference_missing_rate": ref_rate},
                p_value=test.p_value,
            )
        )
        if fp.kind == "numeric":
            ref_total = fp.count + fp.non_finite
            results.append(
                self._share(
                    fp,
                    "non_finite_share",
                    column.non_finite,
                    present,
                    baseline=fp.non_finite / ref_total if ref_total else 0.0,
                    baseline_n=ref_total,
                    margin=cfg.max_non_finite_share,
                    details={"reference_non_finite": fp.non_finite},
                )
            )
        if fp.kind == "categorical" and present:
            cells = fp.cells()
            keys = list(column.counts)
            known = cells.knows(keys) if keys else np.zeros(0, dtype=bool)
            unseen = {k: column.counts[k] for k, ok in zip(keys, known, strict=True) if not ok}
            results.append(self._unseen_check(fp, unseen, present))
        if fp.kind == "numeric" and fp.min is not None and column.n_finite:
            hold = fp.holdout_sample
            baseline = float(((hold < fp.min) | (hold > fp.max)).mean()) if hold.size else 0.0
            results.append(
                self._share(
                    fp,
                    "out_of_range_share",
                    column.out_of_range,
                    column.n_finite,
                    baseline=baseline,
                    baseline_n=int(hold.size),
                    margin=cfg.max_out_of_range_share,
                    details={
                        "reference_min": fp.min,
                        "reference_max": fp.max,
                        "min": column.vmin,
                        "max": column.vmax,
                        "holdout_out_of_range_share": baseline,
                    },
                )
            )
        results.append(self._constant_check(fp, column))
        return results

    def _unseen_check(self, fp: FeatureProfile, unseen: dict[str, int], present: int) -> DetectorResult:
        """Values the fit part never had: their total share against the held-out rows' share, and
        the largest single new value's share against the margin.

        In a long tail many values are new in every window, each rarely (a value with a share of
        1% would have been seen in the reference), so the held-out share is the baseline of the
        total; a single new value taking more than the margin is a new category, whatever the tail.
        """
        cfg = self.config
        hold_n = fp.holdout_count
        baseline = fp.holdout_unseen / hold_n if hold_n else 0.0
        ranked = sorted(unseen.items(), key=lambda kv: -kv[1])
        result = self._share(
            fp,
            "unseen_share",
            sum(unseen.values()),
            present,
            baseline=baseline,
            baseline_n=hold_n,
            margin=cfg.max_unseen_share,
            details={"unseen": dict(ranked[:10]), "holdout_unseen_share": baseline},
        )
        if not ranked or result.drifted or present < cfg.min_rows:
            return result
        top_value, top = ranked[0]
        p_top = excess_share_p(top, present, 0.0, 0, cfg.max_unseen_share)
        if p_top >= cfg.alpha:
            return result
        details = {**result.details, "new_category": top_value, "new_category_share": top / present}
        return replace(result, drifted=True, p_value=p_top, details=details)

    def _type_check(self, fp: FeatureProfile, column: ColumnSummary) -> DetectorResult:
        present = column.non_missing
        dtypes = ", ".join(sorted(column.dtypes))
        problems = []
        if column.unparsable:
            problems.append(f"{column.unparsable} of {present} values are not numbers")
        if column.as_text:
            problems.append(f"{column.as_text} of {present} numbers arrive as text")
        if fp.kind == "numeric" and any(d in ("bool", "boolean") for d in column.dtypes):
            problems.append("numbers arrive as booleans")
        if column.bool_as_number:
            problems.append(f"{column.bool_as_number} of {present} booleans arrive as 0/1")
        problem = "; ".join(problems) or None
        details: dict[str, Any] = {"dtype": dtypes, "reference_dtype": fp.dtype}
        if problem:
            details["problem"] = f"{problem} (dtype {dtypes}, reference {fp.dtype})"
        return self._result(
            fp, "type_change", 1.0 if problem else 0.0, 0.0, problem is not None, column.rows, details
        )

    def _constant_check(self, fp: FeatureProfile, column: ColumnSummary) -> DetectorResult:
        """Every value the same, when the reference makes that improbable at this window size."""
        cfg = self.config
        n = column.n_finite if fp.kind == "numeric" else column.non_missing
        top = _top_share(fp)
        p = float(top**n) if n else 1.0
        constant = column.constant and n >= cfg.min_rows
        details: dict[str, Any] = {"reference_top_share": top}
        if column.constant:
            value = column.vmin if fp.kind == "numeric" else next(iter(column.counts))
            details["value"] = value
        return self._result(
            fp,
            "constant",
            1.0 if column.constant else 0.0,
            0.0,
            constant and p < cfg.alpha,
            n,
            details,
            p_value=p,
        )


def _top_share(fp: FeatureProfile) -> float:
    """The reference share of its most common value (1.0: the reference itself is constant)."""
    if fp.kind == "numeric":
        if fp.sample.size == 0:
            return 1.0
        _, counts = np.unique(fp.sample, return_counts=True)
        return float(counts.max() / fp.sample.size)
    total = sum(fp.frequencies.values())
    return max(fp.frequencies.values()) / total if total else 1.0
