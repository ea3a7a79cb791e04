"""Drift of a window streamed in batches, by hand: binned counts and scipy, no modelyard code.

The baseline of ``bench_monitor_stream.py``: the same question modelyard's streamed window
summary answers (did each column move against the reference?) in bounded memory. Per numeric
column the window's values are counted into the reference's 20 quantile bins (plus one for
missing values) batch by batch; per other column its value counts are added up; at the end a
chi-squared test of reference counts against window counts (``scipy.stats.chi2_contingency``)
per column, drifted when p < ``alpha``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from drift_tests import is_numeric, value_counts
from scipy import stats

BINS = 20


class StreamCounts:
    """Counts of one window, batch by batch, in the reference's bins and levels."""

    def __init__(self, reference: pd.DataFrame) -> None:
        self.edges: dict[str, np.ndarray] = {}
        self.reference: dict[str, dict[object, float]] = {}
        self.current: dict[str, dict[object, float]] = {}
        for column in reference.columns:
            values = reference[column]
            if is_numeric(values):
                finite = values.dropna().to_numpy(np.float64)
                self.edges[column] = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1]))
            self.reference[column] = dict(self._counts(column, values).items())
            self.current[column] = {}

    def _counts(self, column: str, values: pd.Series) -> pd.Series:
        edges = self.edges.get(column)
        if edges is None:
            return value_counts(values)
        numbers = values.to_numpy(np.float64, na_value=np.nan)
        missing = np.isnan(numbers)
        bins = np.bincount(np.searchsorted(edges, numbers[~missing], side="right"), minlength=len(edges) + 1)
        return pd.Series(np.append(bins, missing.sum()).astype(np.float64))

    def update(self, batch: pd.DataFrame) -> None:
        for column, seen in self.current.items():
            counts = self._counts(column, batch[column])
            for value, n in zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True):
                if n:
                    seen[value] = seen.get(value, 0.0) + n

    def judge(self, alpha: float = 0.05) -> dict[str, bool]:
        verdicts = {}
        for column, ref in self.reference.items():
            cur = self.current[column]
            levels = list(ref.keys() | cur.keys())
            table = np.array([[ref.get(v, 0.0) for v in levels], [cur.get(v, 0.0) for v in levels]])
            table = table[:, table.sum(axis=0) > 0]
            p = float(stats.chi2_contingency(table, correction=False).pvalue) if table.shape[1] > 1 else 1.0
            verdicts[column] = p < alpha
        return verdicts


def judge_stream(
    reference: pd.DataFrame, batches: Iterable[pd.DataFrame], alpha: float = 0.05
) -> dict[str, bool]:
    counts = StreamCounts(reference)
    for batch in batches:
        counts.update(batch)
    return counts.judge(alpha)
