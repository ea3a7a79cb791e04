"""What a detector returns: one :class:`DetectorResult` per feature (and one for the dataset)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DetectorResult:
    """One verdict of a detector on one feature of a window (``feature=None``: the whole dataset).

    ``statistic`` names what ``value`` is (``ks``, ``wasserstein_norm``, ``psi``, ``chi2``,
    ``jensen_shannon``, ``share_drifted``, ``missing_rate_change``...); ``p_value`` is the raw
    p-value of a significance test, if there is one (the multiple-testing adjusted one is in
    ``details["p_adjusted"]``); ``threshold`` is what ``value`` was compared with. The monitor
    runner adds model, version, variant and window when it stores results.
    """

    detector: str
    feature: str | None
    statistic: str
    value: float
    p_value: float | None
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        """A flat dict for storage (``monitor_results``): ``value`` is stored as ``score``; NaN as None."""
        row = asdict(self)
        row["score"] = _finite(row.pop("value"))
        row["p_value"] = _finite(row["p_value"])
        row["threshold"] = _finite(row["threshold"])
        return row


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def dataset_result(detector: str, results: list[DetectorResult], *, share_threshold: float) -> DetectorResult:
    """The dataset-level verdict: drift when the share of drifted features reaches ``share_threshold``."""
    per_feature = [r for r in results if r.feature is not None]
    n = len(per_feature)
    drifted = [r.feature for r in per_feature if r.drifted]
    share = len(drifted) / n if n else 0.0
    return DetectorResult(
        detector=detector,
        feature=None,
        statistic="share_drifted",
        value=share,
        p_value=None,
        threshold=share_threshold,
        drifted=bool(n) and share >= share_threshold,
        n_reference=max((r.n_reference for r in per_feature), default=0),
        n_current=max((r.n_current for r in per_feature), default=0),
        details={"drifted_features": drifted, "n_features": n},
    )
