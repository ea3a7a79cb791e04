"""Drift statistics per feature, and the detector base classes that judge windows with them.

:func:`prepare` turns a window's column into what the statistics need (a sorted NaN-free
array for numeric features; category counts aligned with the reference's for categorical
ones); :data:`STATISTICS` computes each statistic from a feature profile and prepared data.
Held-out reference chunks are prepared the same way, which is how thresholds are calibrated
out of sample (:mod:`modelyard.monitoring.calibration`).

:class:`StatisticDetector` judges one statistic (KS, Wasserstein, PSI, chi-squared,
Jensen-Shannon); :class:`DefaultDriftDetector` combines a test and an effect size per column
as :mod:`modelyard.monitoring.selection` chooses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from modelyard.errors import MonitoringError
from modelyard.monitoring.calibration import (
    NoiseFloor,
    categorical_chunks,
    noise_floor,
    numeric_chunks,
    simulated_floor,
)
from modelyard.monitoring.detector import SummaryDetector
from modelyard.monitoring.multiple_testing import adjust
from modelyard.monitoring.profile import (
    OTHER_CATEGORY,
    FeatureProfile,
    Profile,
    psi_bin_index,
)
from modelyard.monitoring.results import DetectorResult, dataset_result
from modelyard.monitoring.selection import MIN_ROWS, default_method
from modelyard.monitoring.stats.contingency import chi2_two_sample
from modelyard.monitoring.stats.ecdf import ks_pvalue, ks_wasserstein
from modelyard.monitoring.stats.jensen_shannon import js_distance, js_distance_rows
from modelyard.monitoring.stats.psi import psi, psi_rows
from modelyard.monitoring.window import ColumnSummary, WindowSummary


@dataclass
class FeatureData:
    """One feature of a window (or of a held-out chunk), ready for the statistics."""

    kind: str
    n: int
    values: np.ndarray | None = None  # numeric: sorted, NaN-free
    categories: list[str] = field(default_factory=list)  # categorical: reference order, then unseen
    reference_counts: np.ndarray | None = None
    current_counts: np.ndarray | None = None
    unseen: dict[str, int] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def numbers(self) -> np.ndarray:
        """A numeric feature's sorted values (a statistic of another kind asking is a bug)."""
        if self.values is None:
            raise MonitoringError(f"a {self.kind} feature has no numeric values to compare")
        return self.values

    @property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """A categorical feature's (reference, current) counts, aligned."""
        if self.reference_counts is None or self.current_counts is None:
            raise MonitoringError(f"a {self.kind} feature has no category counts to compare")
        return self.reference_counts, self.current_counts


def prepare(fp: FeatureProfile, column: ColumnSummary) -> FeatureData:
    """A window's summarised column prepared for the statistics of feature profile ``fp``.

    Numeric: the finite values (infinite ones are counted by the quality check, not compared).
    Categorical: the window's counts over the reference's cells.
    """
    if fp.kind == "numeric":
        values = np.sort(column.sample)
        return FeatureData(kind="numeric", n=int(values.size), values=values)
    cells, unseen = window_cells(fp, column.counts)
    return align_cells(fp, cells, unseen)


def window_cells(fp: FeatureProfile, counts: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """Category counts as counts over ``fp``'s cells, and the values the reference never had."""
    if OTHER_CATEGORY in fp.frequencies:  # a format-1 profile: the rarest categories pooled in one cell
        cells: dict[str, int] = {}
        unseen: dict[str, int] = {}
        for k, v in counts.items():
            if k not in fp.frequencies:
                unseen[k] = v
            cell = k if k in fp.frequencies else OTHER_CATEGORY
            cells[cell] = cells.get(cell, 0) + v
        return cells, unseen
    return fp.cells().count(counts)


def align_cells(
    fp: FeatureProfile, current: dict[str, int], unseen: dict[str, int] | None = None
) -> FeatureData:
    """Reference and current counts over the same cells (cells the reference lacks appended)."""
    categories = list(fp.frequencies)
    known = set(categories)
    extra = sorted((k for k in current if k not in known), key=lambda k: -current[k])
    categories += extra
    ref = [fp.frequencies.get(k, 0) for k in categories]
    cur = [current.get(k, 0) for k in categories]
    return FeatureData(
        kind="categorical",
        n=int(sum(cur)),
        categories=categories,
        reference_counts=np.asarray(ref, dtype=np.float64),
        current_counts=np.asarray(cur, dtype=np.float64),
        unseen=dict(sorted((unseen or {}).items(), key=lambda kv: -kv[1])),
    )


def _ks_w(fp: FeatureProfile, data: FeatureData) -> tuple[float, float]:
    if "ks_w" not in data.cache:
        data.cache["ks_w"] = ks_wasserstein(fp.sample, data.numbers)
    return data.cache["ks_w"]


def stat_ks(fp: FeatureProfile, data: FeatureData) -> tuple[float, float | None]:
    d, _ = _ks_w(fp, data)
    return d, ks_pvalue(d, fp.sample.size, data.n, a_sorted=fp.sample, b_sorted=data.numbers)


def stat_wasserstein_norm(fp: FeatureProfile, data: FeatureData) -> tuple[float, float | None]:
    _, w = _ks_w(fp, data)
    return w / fp.spread, None


def stat_psi(fp: FeatureProfile, data: FeatureData) -> tuple[float, float | None]:
    if data.kind == "numeric":
        current = np.bincount(psi_bin_index(data.numbers, fp.bin_edges), minlength=len(fp.bin_counts))
        return psi(np.asarray(fp.bin_counts), current), None
    return psi(*data.counts), None


def stat_jensen_shannon(fp: FeatureProfile, data: FeatureData) -> tuple[float, float | None]:
    return js_distance(*data.counts), None


def make_stat_chi2(
    min_expected: float,
) -> Callable[[FeatureProfile, FeatureData], tuple[float, float | None]]:
    def stat_chi2(fp: FeatureProfile, data: FeatureData) -> tuple[float, float | None]:
        key = f"chi2:{min_expected}"
        if key not in data.cache:
            data.cache[key] = chi2_two_sample(*data.counts, min_expected=min_expected)
        res = data.cache[key]
        return res.statistic, res.p_value

    return stat_chi2


@dataclass(frozen=True)
class Statistic:
    """A drift statistic: which feature kinds it applies to, how to compute it, how its noise scales."""

    name: str
    kinds: tuple[str, ...]
    compute: Callable[[FeatureProfile, FeatureData], tuple[float, float | None]]
    is_test: bool  # True: judged on its p-value; False: an effect size judged on its value
    exponent: float = 0.5  # noise ~ (1/n + 1/m) ** exponent, for calibration
    #: the statistic of each row pair of two 2-D count arrays, for categorical features (simulated floors)
    counts: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


STATISTICS: dict[str, Statistic] = {
    "ks": Statistic("ks", ("numeric",), stat_ks, is_test=True),
    "wasserstein_norm": Statistic("wasserstein_norm", ("numeric",), stat_wasserstein_norm, is_test=False),
    "psi": Statistic(
        "psi", ("numeric", "categorical"), stat_psi, is_test=False, exponent=1.0, counts=psi_rows
    ),
    "chi2": Statistic("chi2", ("categorical",), make_stat_chi2(0.0), is_test=True),
    "jensen_shannon": Statistic(
        "jensen_shannon", ("categorical",), stat_jensen_shannon, is_test=False, counts=js_distance_rows
    ),
}


def reference_size(fp: FeatureProfile, statistic: str) -> int:
    """How many reference values a statistic compares with (the sample, or the full counts)."""
    if fp.kind == "numeric" and statistic in ("ks", "wasserstein_norm"):
        return int(fp.sample.size)
    return int(fp.count)


def calibrate_floor(fp: FeatureProfile, stat: Statistic, seed: int) -> NoiseFloor | None:
    """The out-of-sample noise floor of ``stat`` for feature ``fp``, from its held-out part."""
    if fp.kind == "numeric":
        if fp.sample.size == 0:
            return None
        chunks = numeric_chunks(fp.holdout_sample, seed)
        prepared = [FeatureData(kind="numeric", n=c.size, values=c) for c in chunks]
    elif fp.kind == "categorical":
        aligned = align_cells(fp, fp.holdout_frequencies)
        chunks = categorical_chunks(aligned.counts[1].astype(np.int64), seed)
        prepared = [
            FeatureData(
                kind="categorical",
                n=int(c.sum()),
                categories=aligned.categories,
                reference_counts=aligned.reference_counts,
                current_counts=c.astype(np.float64),
            )
            for c in chunks
        ]
    else:
        return None
    return noise_floor(
        prepared,
        [d.n for d in prepared],
        lambda d: stat.compute(fp, d)[0],
        m=reference_size(fp, stat.name),
        exponent=stat.exponent,
    )


#: Effect-size statistics whose noise floors a profile stores when it is built.
CALIBRATED_STATISTICS = ("wasserstein_norm", "jensen_shannon", "psi")


def calibrate_profile(profile: Profile) -> Profile:
    """``profile`` with the noise floors of :data:`CALIBRATED_STATISTICS` for every feature stored."""
    floors: dict[str, dict[str, dict[str, float]]] = {}
    for stat_name in CALIBRATED_STATISTICS:
        stat = STATISTICS[stat_name]
        for name, fp in profile.features.items():
            if fp.kind in stat.kinds:
                floor = calibrate_floor(fp, stat, profile.seed)
                if floor is not None:
                    floors.setdefault(stat_name, {})[name] = asdict(floor)
    return replace(profile, floors=floors)


def reference_floor(profile: Profile, name: str, stat: Statistic) -> NoiseFloor | None:
    """The noise floor of ``stat`` for feature ``name``: stored in the profile, else computed now."""
    stored = profile.floors.get(stat.name, {}).get(name)
    if stored is not None:
        return NoiseFloor(
            scale=float(stored["scale"]),
            exponent=float(stored["exponent"]),
            m=int(stored["m"]),
            chunks=int(stored["chunks"]),
        )
    return calibrate_floor(profile.feature(name), stat, profile.seed)


def _no_verdict(
    detector: str, feature: str, statistic: str, n_ref: int, n: int, threshold: float, reason: str
) -> DetectorResult:
    return DetectorResult(
        detector=detector,
        feature=feature,
        statistic=statistic,
        value=float("nan"),
        p_value=None,
        threshold=threshold,
        drifted=False,
        n_reference=n_ref,
        n_current=n,
        details={"skipped": reason},
    )


def _skip_reason(fp: FeatureProfile, column: ColumnSummary, n: int) -> str | None:
    """Why a feature gets no drift verdict (``None``: it gets one)."""
    if not column.present:
        return "column missing from the window (the quality check fails it)"
    if fp.count < MIN_ROWS:
        return f"the reference has only {fp.count} non-missing values; at least {MIN_ROWS} are needed"
    if n < MIN_ROWS:
        return f"only {n} non-missing values in the window; at least {MIN_ROWS} are needed"
    return None


def _not_finite(value: float, p: float | None) -> str | None:
    """A statistic that is not a number never passes as "no drift": the problem it names fails the feature."""
    if not np.isfinite(value):
        return f"the statistic is {value}: it cannot say the feature is unchanged"
    if p is not None and not np.isfinite(p):
        return f"the p-value is {p}: it cannot say the feature is unchanged"
    return None


class _FloorCache:
    """Noise floors per feature: held-out (fitted once) and simulated (per window size, memoised)."""

    def __init__(self, profile: Profile, stats: dict[str, Statistic | None]) -> None:
        self.profile = profile
        self.held_out = {
            name: reference_floor(profile, name, stat) for name, stat in stats.items() if stat is not None
        }
        self._simulated: dict[tuple[str, str, int], float] = {}

    def floor(self, name: str, stat: Statistic, data: FeatureData) -> float | None:
        """The floor of ``stat`` for feature ``name`` at this window's size (``None``: not calibrated)."""
        held = self.held_out.get(name)
        level = held.at(data.n) if held is not None else None
        if data.kind == "categorical" and stat.counts is not None and data.reference_counts is not None:
            key = (name, stat.name, data.n)
            if key not in self._simulated:
                self._simulated[key] = simulated_floor(
                    data.reference_counts, data.n, stat.counts, seed=self.profile.seed
                )
            sim = self._simulated[key]
            level = sim if level is None else max(level, sim)
        return level


class StatisticDetector(SummaryDetector):
    """Judges every feature with one statistic of :data:`STATISTICS`.

    Config fields used: ``alpha`` and ``correction`` (tests), ``threshold`` and ``calibrate``
    (effect sizes), ``share_threshold`` (dataset verdict), ``min_expected`` (chi-squared).
    """

    kind: ClassVar[str] = "drift"
    statistic: ClassVar[str] = "ks"

    def _stat(self) -> Statistic:
        stat = STATISTICS[self.statistic]
        min_expected = getattr(self.config, "min_expected", 0.0)
        if stat.name == "chi2" and min_expected:
            stat = Statistic("chi2", stat.kinds, make_stat_chi2(min_expected), is_test=True)
        return stat

    def _fit(self, reference: Profile) -> None:
        stat = self._stat()
        calibrated = not stat.is_test and getattr(self.config, "calibrate", False)
        self._floors = _FloorCache(
            reference,
            {name: stat for name, fp in reference.features.items() if calibrated and fp.kind in stat.kinds},
        )

    def kinds(self) -> tuple[str, ...]:
        return self._stat().kinds

    def score_summary(
        self, summary: WindowSummary, *, features: list[str] | None = None
    ) -> list[DetectorResult]:
        stat = self._stat()
        names = self._names(features, stat.kinds)
        cfg = self.config
        rows: list[tuple[str, FeatureData, float, float | None, int]] = []
        results: list[DetectorResult | None] = []
        for name in names:
            fp = self.reference.feature(name)
            column = summary.columns[name]
            data = prepare(fp, column)
            n_ref = reference_size(fp, stat.name)
            reason = _skip_reason(fp, column, data.n)
            if reason is not None:
                results.append(
                    _no_verdict(self.name, name, stat.name, n_ref, data.n, self._base_threshold(), reason)
                )
                continue
            value, p = stat.compute(fp, data)
            rows.append((name, data, value, p, n_ref))
            results.append(None)
        p_adj = adjust(
            [r[3] if r[3] is not None else np.nan for r in rows], getattr(cfg, "correction", "none")
        )
        judged = iter(zip(rows, p_adj, strict=True))
        out: list[DetectorResult] = []
        for res in results:
            if res is not None:
                out.append(res)
                continue
            (name, data, value, p, n_ref), pa = next(judged)
            details: dict[str, Any] = {}
            if stat.is_test:
                threshold = float(cfg.alpha)
                drifted = bool(pa < threshold)
                details.update(p_adjusted=float(pa), correction=cfg.correction)
            else:
                threshold = float(cfg.threshold)
                floor = self._floors.floor(name, stat, data)
                if floor is not None:
                    details["noise_floor"] = floor
                    threshold = max(threshold, floor)
                drifted = bool(value >= threshold)
            problem = _not_finite(value, p)
            if problem is not None:
                drifted = True
                details["problem"] = problem
            if data.unseen:
                details["unseen_categories"] = dict(list(data.unseen.items())[:20])
            out.append(
                DetectorResult(
                    detector=self.name,
                    feature=name,
                    statistic=stat.name,
                    value=float(value),
                    p_value=None if p is None else float(p),
                    threshold=threshold,
                    drifted=drifted,
                    n_reference=n_ref,
                    n_current=data.n,
                    details=details,
                )
            )
        out.append(dataset_result(self.name, out, share_threshold=float(cfg.share_threshold)))
        return out

    def _base_threshold(self) -> float:
        return float(self.config.alpha if self._stat().is_test else self.config.threshold)


#: The default detector's effect size per feature kind.
DEFAULT_EFFECT = {"numeric": "wasserstein_norm", "categorical": "jensen_shannon"}


class DefaultDriftDetector(SummaryDetector):
    """The default drift verdict: significance test AND effect size, per column type.

    See :mod:`modelyard.monitoring.selection`. Each result's ``value`` is the effect size,
    ``p_value`` the test's raw p-value; ``details`` hold the test, its statistic, the adjusted
    p-value, the minimum effect and the calibrated noise floor.
    """

    kind: ClassVar[str] = "drift"

    def _fit(self, reference: Profile) -> None:
        self._floors = _FloorCache(
            reference,
            {
                name: STATISTICS[DEFAULT_EFFECT[fp.kind]]
                for name, fp in reference.features.items()
                if self.config.calibrate and fp.kind in DEFAULT_EFFECT
            },
        )

    def kinds(self) -> tuple[str, ...]:
        return ("numeric", "categorical")

    def score_summary(
        self, summary: WindowSummary, *, features: list[str] | None = None
    ) -> list[DetectorResult]:
        cfg = self.config
        names = self._names(features, self.kinds())
        pending: list[dict[str, Any]] = []
        out: list[DetectorResult | dict[str, Any]] = []
        for name in names:
            fp = self.reference.feature(name)
            column = summary.columns[name]
            data = prepare(fp, column)
            method = default_method(
                fp.kind,
                data.n,
                n_categories=len(data.categories),
                min_wasserstein=cfg.min_wasserstein,
                min_jensen_shannon=cfg.min_jensen_shannon,
            )
            effect_name = DEFAULT_EFFECT[fp.kind]
            reason = _skip_reason(fp, column, data.n)
            if reason is not None or method is None:
                out.append(
                    _no_verdict(
                        self.name, name, effect_name, fp.count, data.n, float("nan"), reason or "no method"
                    )
                )
                continue
            test = (
                STATISTICS["ks"]
                if method.test == "ks"
                else Statistic("chi2", ("categorical",), make_stat_chi2(method.min_expected), is_test=True)
            )
            test_value, p = test.compute(fp, data)
            effect, _ = STATISTICS[method.effect].compute(fp, data)
            row = {
                "name": name,
                "fp": fp,
                "data": data,
                "method": method,
                "test_value": test_value,
                "p": p,
                "effect": effect,
            }
            pending.append(row)
            out.append(row)
        p_adj = adjust([r["p"] for r in pending], cfg.correction)
        for row, pa in zip(pending, p_adj, strict=True):
            row["p_adjusted"] = float(pa)
        results: list[DetectorResult] = []
        for item in out:
            if isinstance(item, DetectorResult):
                results.append(item)
                continue
            results.append(self._verdict(item))
        results.append(dataset_result(self.name, results, share_threshold=cfg.share_threshold))
        return results

    def _verdict(self, row: dict[str, Any]) -> DetectorResult:
        cfg = self.config
        method = row["method"]
        data: FeatureData = row["data"]
        fp: FeatureProfile = row["fp"]
        threshold = method.min_effect
        details: dict[str, Any] = {
            "test": method.test,
            "test_statistic": float(row["test_value"]),
            "p_adjusted": row["p_adjusted"],
            "alpha": cfg.alpha,
            "correction": cfg.correction,
            "min_effect": method.min_effect,
            "method": method.reason,
        }
        floor = self._floors.floor(row["name"], STATISTICS[method.effect], data)
        if floor is not None:
            details["noise_floor"] = floor
            threshold = max(threshold, floor)
        significant = row["p_adjusted"] < cfg.alpha
        large = bool(row["effect"] >= threshold)
        details["significant"] = bool(significant)
        details["effect_large"] = large
        drifted = bool(significant and large)
        problem = _not_finite(row["effect"], row["p"])
        if problem is not None:
            drifted = True
            details["problem"] = problem
        if data.unseen:
            details["unseen_categories"] = dict(list(data.unseen.items())[:20])
        return DetectorResult(
            detector=self.name,
            feature=row["name"],
            statistic=method.effect,
            value=float(row["effect"]),
            p_value=float(row["p"]),
            threshold=float(threshold),
            drifted=drifted,
            n_reference=reference_size(fp, method.effect),
            n_current=data.n,
            details=details,
        )
