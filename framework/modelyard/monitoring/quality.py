"""Data-quality checks of a window against the reference profile (the ``quality`` detector).

Per feature:

``type_change``
    the column is missing from the window, or its type changed (numeric in the reference, not
    parseable as numbers now; categorical in the reference, numeric now is accepted when the
    values still match categories).
``missing_rate_change``
    the missing-value rate rose by more than ``max_missing_increase`` (absolute) and the rise is
    significant (two-sample chi-squared on missing / present counts, so small windows do not alarm).
``unseen_share``
    the share of non-missing values of a categorical feature in categories the reference never had.
``out_of_range_share``
    the share of numeric values outside the reference's [min, max], above what the held-out
    reference rows themselves show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.monitoring.detector import Detector
from modelyard.monitoring.profile import FeatureProfile, category_keys
from modelyard.monitoring.results import DetectorResult, dataset_result
from modelyard.monitoring.stats.contingency import chi2_two_sample

if TYPE_CHECKING:
    import pandas as pd


class QualityConfig(BaseModel):
    """Thresholds of the ``quality`` detector."""

    model_config = ConfigDict(extra="forbid")

    max_missing_increase: float = Field(0.05, ge=0, le=1, description="absolute rise of the missing rate")
    max_unseen_share: float = Field(0.01, ge=0, le=1)
    max_out_of_range_share: float = Field(0.01, ge=0, le=1)
    alpha: float = Field(0.01, gt=0, lt=1, description="significance of a missing-rate rise")
    share_threshold: float = Field(0.5, gt=0, le=1, description="dataset fails when this share of checks do")


class QualityDetector(Detector):
    """Missing values, unseen categories, out-of-range values and type changes, per feature."""

    kind: ClassVar[str] = "quality"
    name: ClassVar[str] = "quality"

    def __init__(self, config: QualityConfig | None = None) -> None:
        super().__init__(config or QualityConfig())

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        profile = self.reference
        names = list(features) if features is not None else list(profile.features)
        out: list[DetectorResult] = []
        for name in names:
            fp = profile.feature(name)
            if name not in current.columns:
                out.append(self._result(fp, "type_change", 1.0, 0.0, True, 0, {"problem": "column missing"}))
                continue
            out.extend(self._check(fp, current[name]))
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

    def _check(self, fp: FeatureProfile, column: pd.Series) -> list[DetectorResult]:
        import pandas as pd

        cfg = self.config
        n = len(column)
        missing = int(column.isna().sum())
        present = n - missing
        results: list[DetectorResult] = []
        # type
        type_problem = None
        numeric_values = None
        if fp.kind == "numeric":
            numeric_values = pd.to_numeric(column, errors="coerce")
            unparsable = int(numeric_values.isna().sum()) - missing
            if unparsable > 0:
                type_problem = f"{unparsable} of {present} values are not numbers (dtype {column.dtype}, reference {fp.dtype})"
        results.append(
            self._result(
                fp,
                "type_change",
                1.0 if type_problem else 0.0,
                0.0,
                type_problem is not None,
                n,
                {"problem": type_problem, "dtype": str(column.dtype), "reference_dtype": fp.dtype}
                if type_problem
                else {"dtype": str(column.dtype), "reference_dtype": fp.dtype},
            )
        )
        # missing rate
        ref_rate = fp.missing_rate
        rate = missing / n if n else 0.0
        test = chi2_two_sample(np.array([fp.missing, fp.count]), np.array([missing, present]))
        rise = rate - ref_rate
        results.append(
            self._result(
                fp,
                "missing_rate_change",
                rise,
                cfg.max_missing_increase,
                n > 0 and rise > cfg.max_missing_increase and test.p_value < cfg.alpha,
                n,
                {"missing_rate": rate, "reference_missing_rate": ref_rate},
                p_value=test.p_value,
            )
        )
        if fp.kind == "categorical" and present:
            keys = category_keys(column.dropna())
            unseen_mask = ~keys.isin(list(fp.frequencies))
            unseen = int(unseen_mask.sum())
            examples = keys[unseen_mask].value_counts().head(10)
            share = unseen / present
            results.append(
                self._result(
                    fp,
                    "unseen_share",
                    share,
                    cfg.max_unseen_share,
                    share > cfg.max_unseen_share,
                    present,
                    {"unseen": {str(k): int(v) for k, v in examples.items()}},
                )
            )
        if fp.kind == "numeric" and fp.min is not None and numeric_values is not None:
            values = numeric_values.dropna().to_numpy(dtype=np.float64)
            if values.size:
                outside = (values < fp.min) | (values > fp.max)
                share = float(outside.mean())
                hold = fp.holdout_sample
                baseline = float(((hold < fp.min) | (hold > fp.max)).mean()) if hold.size else 0.0
                threshold = cfg.max_out_of_range_share + baseline
                results.append(
                    self._result(
                        fp,
                        "out_of_range_share",
                        share,
                        threshold,
                        share > threshold,
                        int(values.size),
                        {
                            "reference_min": fp.min,
                            "reference_max": fp.max,
                            "min": float(values.min()),
                            "max": float(values.max()),
                            "holdout_out_of_range_share": baseline,
                        },
                    )
                )
        return results
