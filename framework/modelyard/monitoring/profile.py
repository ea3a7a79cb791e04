"""The reference profile: everything drift and quality detectors need to know about training data.

A :class:`Profile` is computed once per snapshot (``Profile.from_frame``) and stored with it as
JSON (``to_dict`` / ``from_dict``), so a monitor run never re-reads the training rows.

The reference rows are split at random into a *fit* part and a *held-out* part (``holdout``,
30% by default). Every statistic a detector compares a window with comes from the fit part;
the held-out part is kept (as a bounded sample for numeric features, as category counts for
categorical ones) so thresholds can be calibrated out of sample: the held-out rows are
unchanged data by construction, so the statistic they give against the fit part is what
"no drift" looks like for that feature (see :mod:`modelyard.monitoring.calibration`).

Per feature the profile holds: kind (numeric / categorical / other), dtype, non-missing count
and missing count, and for numeric features min, max, mean, standard deviation, percentiles,
an equal-width histogram, decile bins with their counts (for PSI) and a sorted bounded random
sample (for Kolmogorov-Smirnov and Wasserstein), and how many values were infinite; for
categorical features the counts of its *cells* (frequent categories one by one, the long tail
in hashed buckets: :mod:`modelyard.monitoring.categories`), the fit part's vocabulary, and how
many held-out values the fit part never saw (the baseline of the ``unseen_share`` check).

A reference with fewer than two rows is refused; one with fewer than
:data:`MIN_REFERENCE_ROWS` is profiled with a warning, because nothing can be calibrated on it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelyard.errors import MonitoringError
from modelyard.monitoring.categories import Cells, build_cells, is_tail_cell

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

#: Format 2 added categorical cells (hashed tail buckets), the vocabulary and non-finite counts.
PROFILE_FORMAT = 2
#: Below this many reference rows a profile is built with a warning: no threshold can be calibrated.
MIN_REFERENCE_ROWS = 100
#: Percentile levels stored for numeric features (0, 1, ..., 100).
QUANTILE_LEVELS: tuple[float, ...] = tuple(i / 100 for i in range(101))
#: Number of reference-quantile bins used by PSI.
PSI_BINS = 10
#: Number of equal-width histogram bins kept for plots.
HISTOGRAM_BINS = 20
#: Key under which format-1 profiles counted categories beyond ``max_categories`` together.
OTHER_CATEGORY = "__other__"

Kind = Literal["numeric", "categorical", "other"]


def _encode(array: np.ndarray) -> dict[str, str]:
    """A float64 array as JSON-safe base64 (compact and exact, unlike decimal text)."""
    data = np.ascontiguousarray(array, dtype="<f8")
    return {"dtype": "<f8", "base64": base64.b64encode(data.tobytes()).decode("ascii")}


def _encode_hashes(array: np.ndarray) -> dict[str, str]:
    data = np.ascontiguousarray(array, dtype="<u8")
    return {"dtype": "<u8", "base64": base64.b64encode(data.tobytes()).decode("ascii")}


def _decode(value: Mapping[str, str] | Sequence[float]) -> np.ndarray:
    if isinstance(value, Mapping):
        return np.frombuffer(base64.b64decode(value["base64"]), dtype=value.get("dtype", "<f8")).astype(
            np.float64
        )
    return np.asarray(value, dtype=np.float64)


def _decode_hashes(value: Mapping[str, str] | None) -> np.ndarray:
    if not value:
        return np.empty(0, dtype=np.uint64)
    return np.frombuffer(base64.b64decode(value["base64"]), dtype="<u8").astype(np.uint64)


def category_key(value: Any) -> str:
    """The string a profile keys a category value by: ``3``, ``3.0`` and ``"3"`` are all ``"3"``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def category_keys(values: pd.Series) -> pd.Series:
    """:func:`category_key` of each value (computed once per distinct value)."""
    mapping = {v: category_key(v) for v in values.dropna().unique()}
    return values.map(mapping)


def category_counts(values: pd.Series) -> dict[str, int]:
    """Non-missing values counted by :func:`category_key`, most frequent first."""
    counted = values.dropna().value_counts(sort=True)
    counted = counted[counted > 0]  # a pandas categorical also lists its unused categories
    index = counted.index
    if index.inferred_type == "string":  # text keys are their own key: no per-value conversion
        return dict(zip(index.astype(object), counted.to_numpy().astype(int).tolist(), strict=True))
    counts: dict[str, int] = {}
    for value, count in counted.items():
        key = category_key(value)
        counts[key] = counts.get(key, 0) + int(count)
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def is_categorical_dtype(series: pd.Series) -> bool:
    """Whether a column is categorical by its dtype: strings, objects, categories and booleans."""
    import pandas as pd

    dtype = series.dtype
    return bool(
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
    )


@dataclass(frozen=True)
class FeatureProfile:
    """What the reference looks like for one feature (fit part), plus its held-out part."""

    name: str
    kind: Kind
    dtype: str
    count: int
    missing: int
    holdout_count: int = 0
    holdout_missing: int = 0
    # numeric: infinite values (counted apart: neither missing nor in the statistics)
    non_finite: int = 0
    holdout_non_finite: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: tuple[float, ...] = ()
    histogram_edges: tuple[float, ...] = ()
    histogram_counts: tuple[int, ...] = ()
    bin_edges: tuple[float, ...] = ()
    bin_counts: tuple[int, ...] = ()
    sample: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)
    holdout_sample: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)
    # categorical
    frequencies: dict[str, int] = field(default_factory=dict)  # per cell, most frequent head first
    holdout_frequencies: dict[str, int] = field(default_factory=dict)  # the held-out part, same cells
    tail_buckets: int = 0
    vocabulary: np.ndarray = field(
        default_factory=lambda: np.empty(0, dtype=np.uint64), repr=False, compare=False
    )
    holdout_unseen: int = 0  # held-out values in categories the fit part never had

    def cells(self) -> Cells:
        """The cell layout of a categorical feature (:mod:`modelyard.monitoring.categories`)."""
        head = frozenset(k for k in self.frequencies if not is_tail_cell(k) and k != OTHER_CATEGORY)
        return Cells(head=head, tail_buckets=self.tail_buckets, vocabulary=self.vocabulary)

    @property
    def non_finite_rate(self) -> float:
        total = self.count + self.missing + self.non_finite
        return self.non_finite / total if total else 0.0

    @property
    def missing_rate(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else 0.0

    @property
    def spread(self) -> float:
        """A scale to normalise numeric distances by: the standard deviation, else IQR / 1.349, else 1."""
        if self.std is not None and self.std > 0 and np.isfinite(self.std):
            return float(self.std)
        if len(self.quantiles) == len(QUANTILE_LEVELS):
            iqr = self.quantiles[75] - self.quantiles[25]
            if iqr > 0:
                return float(iqr / 1.349)
        return 1.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
            "holdout_count": self.holdout_count,
            "holdout_missing": self.holdout_missing,
        }
        if self.kind == "numeric":
            out.update(
                non_finite=self.non_finite,
                holdout_non_finite=self.holdout_non_finite,
                min=self.min,
                max=self.max,
                mean=self.mean,
                std=self.std,
                quantiles=list(self.quantiles),
                histogram_edges=list(self.histogram_edges),
                histogram_counts=list(self.histogram_counts),
                bin_edges=list(self.bin_edges),
                bin_counts=list(self.bin_counts),
                sample=_encode(self.sample),
                holdout_sample=_encode(self.holdout_sample),
            )
        elif self.kind == "categorical":
            out.update(
                frequencies=dict(self.frequencies),
                holdout_frequencies=dict(self.holdout_frequencies),
                tail_buckets=self.tail_buckets,
                vocabulary=_encode_hashes(self.vocabulary),
                holdout_unseen=self.holdout_unseen,
            )
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureProfile:
        kwargs: dict[str, Any] = {
            k: d[k]
            for k in ("name", "kind", "dtype", "count", "missing", "holdout_count", "holdout_missing")
            if k in d
        }
        if d["kind"] == "numeric":
            kwargs.update(
                non_finite=int(d.get("non_finite", 0)),
                holdout_non_finite=int(d.get("holdout_non_finite", 0)),
                min=d.get("min"),
                max=d.get("max"),
                mean=d.get("mean"),
                std=d.get("std"),
                quantiles=tuple(d.get("quantiles", ())),
                histogram_edges=tuple(d.get("histogram_edges", ())),
                histogram_counts=tuple(int(c) for c in d.get("histogram_counts", ())),
                bin_edges=tuple(d.get("bin_edges", ())),
                bin_counts=tuple(int(c) for c in d.get("bin_counts", ())),
                sample=_decode(d.get("sample", [])),
                holdout_sample=_decode(d.get("holdout_sample", [])),
            )
        elif d["kind"] == "categorical":
            kwargs.update(
                frequencies={str(k): int(v) for k, v in d.get("frequencies", {}).items()},
                holdout_frequencies={str(k): int(v) for k, v in d.get("holdout_frequencies", {}).items()},
                tail_buckets=int(d.get("tail_buckets", 0)),
                vocabulary=_decode_hashes(d.get("vocabulary")),
                holdout_unseen=int(d.get("holdout_unseen", 0)),
            )
        return cls(**kwargs)


def psi_bin_index(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """The PSI bin of each value: 0 below the first interior edge ... ``len(edges)`` above the last."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")


def _numeric_profile(
    name: str,
    dtype: str,
    fit: np.ndarray,
    hold: np.ndarray,
    *,
    sample_size: int,
    rng: np.random.Generator,
) -> FeatureProfile:
    fit_ok = fit[np.isfinite(fit)]
    hold_ok = hold[np.isfinite(hold)]
    fit_nan, hold_nan = int(np.isnan(fit).sum()), int(np.isnan(hold).sum())
    base: dict[str, Any] = {
        "name": name,
        "kind": "numeric",
        "dtype": dtype,
        "count": int(fit_ok.size),
        "missing": fit_nan,
        "holdout_count": int(hold_ok.size),
        "holdout_missing": hold_nan,
        "non_finite": int(fit.size - fit_ok.size - fit_nan),
        "holdout_non_finite": int(hold.size - hold_ok.size - hold_nan),
        "holdout_sample": np.sort(_bounded(hold_ok, sample_size, rng)),
    }
    if fit_ok.size == 0:
        return FeatureProfile(**base)
    quantiles = np.quantile(fit_ok, QUANTILE_LEVELS)
    lo, hi = float(quantiles[0]), float(quantiles[-1])
    hist_counts, hist_edges = np.histogram(fit_ok, bins=HISTOGRAM_BINS, range=(lo, hi if hi > lo else lo + 1))
    deciles = np.quantile(fit_ok, [i / PSI_BINS for i in range(1, PSI_BINS)])
    edges = np.unique(deciles)
    bin_counts = np.bincount(psi_bin_index(fit_ok, edges), minlength=edges.size + 1)
    return FeatureProfile(
        **base,
        min=lo,
        max=hi,
        mean=float(fit_ok.mean()),
        std=float(fit_ok.std(ddof=1)) if fit_ok.size > 1 else 0.0,
        quantiles=tuple(float(q) for q in quantiles),
        histogram_edges=tuple(float(e) for e in hist_edges),
        histogram_counts=tuple(int(c) for c in hist_counts),
        bin_edges=tuple(float(e) for e in edges),
        bin_counts=tuple(int(c) for c in bin_counts),
        sample=np.sort(_bounded(fit_ok, sample_size, rng)),
    )


def _bounded(values: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if values.size <= size:
        return values.astype(np.float64, copy=True)
    return rng.choice(values, size=size, replace=False).astype(np.float64)


def _presence(name: str, kind: Kind, dtype: str, fit_col: pd.Series, hold_col: pd.Series) -> dict[str, Any]:
    """The name, kind and present / missing counts of a non-numeric feature's fit and held-out parts."""
    fit_missing = int(fit_col.isna().sum())
    hold_missing = int(hold_col.isna().sum())
    return {
        "name": name,
        "kind": kind,
        "dtype": dtype,
        "count": len(fit_col) - fit_missing,
        "missing": fit_missing,
        "holdout_count": len(hold_col) - hold_missing,
        "holdout_missing": hold_missing,
    }


def _categorical_profile(
    name: str, dtype: str, fit_col: pd.Series, hold_col: pd.Series, *, max_categories: int
) -> FeatureProfile:
    fit_counts = category_counts(fit_col)
    hold_counts = category_counts(hold_col)
    cells = build_cells(fit_counts, hold_counts, max_categories=max_categories)
    fit_cells, _ = cells.count(fit_counts)
    hold_cells, hold_unseen = cells.count(hold_counts)
    head = sorted(cells.head, key=lambda k: -fit_cells.get(k, 0))  # most frequent first
    frequencies = {k: fit_cells.get(k, 0) for k in head}
    for k in sorted(k for k in fit_cells if k not in cells.head):
        frequencies[k] = fit_cells[k]
    return FeatureProfile(
        **_presence(name, "categorical", dtype, fit_col, hold_col),
        frequencies=frequencies,
        holdout_frequencies=hold_cells,
        tail_buckets=cells.tail_buckets,
        vocabulary=cells.vocabulary,
        holdout_unseen=int(sum(hold_unseen.values())),
    )


@dataclass(frozen=True)
class Profile:
    """The reference profile of a snapshot: a :class:`FeatureProfile` per feature.

    Build it with :meth:`from_frame`; store it with :meth:`to_dict` (JSON-serialisable).
    """

    features: dict[str, FeatureProfile]
    n_rows: int
    n_fit: int
    n_holdout: int
    holdout: float
    seed: int
    sample_size: int
    floors: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    format: int = PROFILE_FORMAT

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        features: list[str],
        categorical: list[str] | None = None,
        holdout: float = 0.3,
        seed: int = 0,
        sample_size: int = 10_000,
        max_categories: int = 1_000,
        calibrate: bool = True,
    ) -> Profile:
        """Profile ``features`` of ``frame``.

        ``categorical`` names the categorical features; when ``None`` they are inferred from
        the dtype (strings, objects, categories, booleans; everything numeric is numeric).
        ``holdout`` is the share of rows kept apart for threshold calibration, ``seed`` fixes
        which rows; ``sample_size`` bounds the stored samples per numeric feature;
        ``max_categories`` bounds the head cells of a categorical feature. With
        ``calibrate`` the noise floors of the effect-size statistics are computed now, from the
        held-out rows, and stored in ``floors`` so detectors need not redo it on every run.
        """
        import pandas as pd

        missing_cols = [f for f in features if f not in frame.columns]
        if missing_cols:
            raise MonitoringError(
                f"cannot profile features {missing_cols}: the frame has no such columns "
                f"(it has {list(frame.columns)})"
            )
        if not 0 <= holdout < 1:
            raise MonitoringError(f"holdout must be in [0, 1), got {holdout}")
        unknown_cat = sorted(set(categorical or ()) - set(features))
        if unknown_cat:
            raise MonitoringError(
                f"categorical names {unknown_cat}, which are not among the features {features}"
            )
        rng = np.random.default_rng(seed)
        n = len(frame)
        if n < 2:
            raise MonitoringError(
                f"cannot profile a reference of {n} row(s): drift and quality need a training sample to "
                f"compare with (at least {MIN_REFERENCE_ROWS} rows to calibrate thresholds)"
            )
        if n < MIN_REFERENCE_ROWS:
            logger.warning(
                "the reference has only %d rows (fewer than %d): thresholds cannot be calibrated on held-out "
                "rows, and features with fewer than 30 values get no drift verdict",
                n,
                MIN_REFERENCE_ROWS,
            )
        n_hold = round(n * holdout) if n >= 10 else 0
        order = rng.permutation(n)
        hold_idx, fit_idx = np.sort(order[:n_hold]), np.sort(order[n_hold:])
        profiles: dict[str, FeatureProfile] = {}
        for name in features:
            col = frame[name]
            dtype = str(col.dtype)
            is_cat = name in categorical if categorical is not None else is_categorical_dtype(col)
            if is_cat:
                profiles[name] = _categorical_profile(
                    name, dtype, col.iloc[fit_idx], col.iloc[hold_idx], max_categories=max_categories
                )
            elif pd.api.types.is_numeric_dtype(col.dtype):
                values = col.to_numpy(dtype=np.float64, na_value=np.nan)
                profiles[name] = _numeric_profile(
                    name, dtype, values[fit_idx], values[hold_idx], sample_size=sample_size, rng=rng
                )
            else:
                profiles[name] = FeatureProfile(
                    **_presence(name, "other", dtype, col.iloc[fit_idx], col.iloc[hold_idx])
                )
        profile = cls(
            features=profiles,
            n_rows=n,
            n_fit=len(fit_idx),
            n_holdout=n_hold,
            holdout=holdout,
            seed=seed,
            sample_size=sample_size,
        )
        if calibrate:
            from modelyard.monitoring.drift import calibrate_profile

            profile = calibrate_profile(profile)
        return profile

    def feature(self, name: str) -> FeatureProfile:
        """The profile of feature ``name``; an unknown name lists the profiled ones."""
        try:
            return self.features[name]
        except KeyError:
            raise MonitoringError(
                f"the reference profile has no feature {name!r}; it profiles: {', '.join(self.features)}"
            ) from None

    def names(self, kind: Kind | None = None) -> list[str]:
        """Feature names, in profile order, optionally only those of one kind."""
        return [n for n, f in self.features.items() if kind is None or f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``json.dumps`` works on it); arrays are base64 float64."""
        return {
            "format": self.format,
            "n_rows": self.n_rows,
            "n_fit": self.n_fit,
            "n_holdout": self.n_holdout,
            "holdout": self.holdout,
            "seed": self.seed,
            "sample_size": self.sample_size,
            "floors": self.floors,
            "features": [f.to_dict() for f in self.features.values()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        """The profile :meth:`to_dict` wrote."""
        fmt = int(d.get("format", PROFILE_FORMAT))
        if fmt > PROFILE_FORMAT:
            raise MonitoringError(
                f"reference profile format {fmt} is newer than this modelyard reads ({PROFILE_FORMAT}); upgrade modelyard"
            )
        feats = [FeatureProfile.from_dict(f) for f in d["features"]]
        return cls(
            features={f.name: f for f in feats},
            n_rows=int(d["n_rows"]),
            n_fit=int(d["n_fit"]),
            n_holdout=int(d["n_holdout"]),
            holdout=float(d["holdout"]),
            seed=int(d["seed"]),
            sample_size=int(d["sample_size"]),
            floors={s: {f: dict(v) for f, v in by.items()} for s, by in d.get("floors", {}).items()},
            format=fmt,
        )
