"""What drift and quality detectors keep of a window: per-column summaries built batch by batch.

A window of the prediction log can be larger than memory. Every check of the ``drift`` and
``quality`` detectors needs only a few numbers per column (row, missing, infinite, unparsable
counts; values outside the reference range; the extremes), the category counts of a
categorical column, and, for the numeric tests, a sample of the finite values. A
:class:`WindowSummary` accumulates exactly those from as many batches as the window has
(:meth:`WindowSummary.update`), so its memory is bounded by ``max_sample`` values per numeric
column (a uniform random sample without replacement, whatever the order of the batches) and
the number of distinct categories, not by the window's rows.

The numeric tests compare with a reference *sample* of ``sample_size`` values (10,000 by
default), so a window sample many times that size loses no measurable power; with
``max_sample=None`` (what :meth:`Detector.score` on a frame uses) every value is kept.

Types are checked here too, once per batch: a numeric feature arriving as text (``"38"``),
values that are not numbers, booleans arriving as 0/1 (mapped back to ``False``/``True`` so they
are judged as the same categories, and reported as a type change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from modelyard.monitoring.profile import category_counts

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import FeatureProfile, Profile

#: Default bound on the sample of a numeric column kept while streaming a window.
STREAM_SAMPLE = 200_000


def _is_bool_dtype(dtype: str) -> bool:
    return dtype in ("bool", "boolean")


@dataclass
class ColumnSummary:
    """One feature of a window, summarised (see the module docstring)."""

    name: str
    kind: str
    rows: int = 0
    missing: int = 0
    non_finite: int = 0
    unparsable: int = 0
    as_text: int = 0
    bool_as_number: int = 0
    present: bool = False
    dtypes: set[str] = field(default_factory=set)
    # numeric
    n_finite: int = 0
    out_of_range: int = 0
    vmin: float = float("inf")
    vmax: float = float("-inf")
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))
    _priority: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    # categorical
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def non_missing(self) -> int:
        """Values present (numbers, finite or not, or categories)."""
        return self.rows - self.missing

    @property
    def constant(self) -> bool:
        """Whether every present value is the same one."""
        if self.kind == "numeric":
            return self.n_finite > 0 and self.vmin == self.vmax and self.non_finite == 0
        return len(self.counts) == 1

    def add_missing_rows(self, n: int) -> None:
        self.rows += n
        self.missing += n

    def update(
        self, fp: FeatureProfile, column: pd.Series, *, rng: np.random.Generator, max_sample: int | None
    ) -> None:
        self.present = True
        self.dtypes.add(str(column.dtype))
        self.rows += len(column)
        if fp.kind == "numeric":
            self._update_numeric(fp, column, rng=rng, max_sample=max_sample)
        else:
            self._update_categorical(fp, column)

    def _update_numeric(
        self, fp: FeatureProfile, column: pd.Series, *, rng: np.random.Generator, max_sample: int | None
    ) -> None:
        import pandas as pd

        missing = int(column.isna().sum())
        self.missing += missing
        dtype = column.dtype
        if pd.api.types.is_bool_dtype(dtype):
            values = column.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        elif pd.api.types.is_numeric_dtype(dtype):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            parsed = pd.to_numeric(column, errors="coerce")
            parsed_ok = parsed.notna().to_numpy()
            self.unparsable += int(len(column) - parsed_ok.sum()) - missing
            present = column.dropna()
            is_text = np.fromiter((isinstance(v, str) for v in present), dtype=bool, count=len(present))
            self.as_text += int((is_text & parsed.loc[present.index].notna().to_numpy()).sum())
            values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(values)
        self.non_finite += int((~finite & ~np.isnan(values)).sum())
        ok = values[finite]
        if not ok.size:
            return
        self.n_finite += int(ok.size)
        if fp.min is not None and fp.max is not None:
            self.out_of_range += int(((ok < fp.min) | (ok > fp.max)).sum())
        self.vmin = min(self.vmin, float(ok.min()))
        self.vmax = max(self.vmax, float(ok.max()))
        if max_sample is None:
            self.sample = np.concatenate([self.sample, ok]) if self.sample.size else ok.copy()
            return
        # uniform sample without replacement across batches: keep the smallest random priorities
        priority = rng.random(ok.size)
        sample = np.concatenate([self.sample, ok])
        priorities = np.concatenate([self._priority, priority])
        if sample.size > max_sample:
            keep = np.argpartition(priorities, max_sample)[:max_sample]
            sample, priorities = sample[keep], priorities[keep]
        self.sample, self._priority = sample, priorities

    def _update_categorical(self, fp: FeatureProfile, column: pd.Series) -> None:
        import pandas as pd

        self.missing += int(column.isna().sum())
        dtype = column.dtype
        if (
            _is_bool_dtype(fp.dtype)
            and pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
        ):
            present = column.dropna()
            as_bool = present.isin([0, 1])
            self.bool_as_number += int(as_bool.sum())
            column = present.astype(object).where(~as_bool, present.map({0: False, 1: True}))
        for key, count in category_counts(column).items():
            self.counts[key] = self.counts.get(key, 0) + count


class WindowSummary:
    """The summaries of a window's features against one reference profile, built batch by batch."""

    def __init__(
        self,
        profile: Profile,
        features: list[str] | None = None,
        *,
        max_sample: int | None = STREAM_SAMPLE,
        seed: int = 0,
    ) -> None:
        self.profile = profile
        names = list(features) if features is not None else list(profile.features)
        for name in names:
            profile.feature(name)  # an unknown name lists the profiled ones
        self.columns = {n: ColumnSummary(n, profile.features[n].kind) for n in names}
        self.max_sample = max_sample
        self.rows = 0
        self.start = None
        self.end = None
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_frame(
        cls, profile: Profile, frame: pd.DataFrame, features: list[str] | None = None
    ) -> WindowSummary:
        """A frame summarised whole (every numeric value kept)."""
        summary = cls(profile, features, max_sample=None)
        summary.update(frame)
        return summary

    def update(self, frame: pd.DataFrame) -> None:
        """Add a batch of rows."""
        self.rows += len(frame)
        for name, col in self.columns.items():
            if name in frame.columns:
                col.update(
                    self.profile.features[name], frame[name], rng=self._rng, max_sample=self.max_sample
                )
            else:
                col.add_missing_rows(len(frame))

    @property
    def absent(self) -> list[str]:
        """Features whose column never appeared in the window."""
        return [n for n, c in self.columns.items() if not c.present]
