"""Drift by hand: a bare two-sample test per column with scipy, no modelyard code.

Numeric columns (not booleans): ``scipy.stats.ks_2samp`` of the reference's and the current
window's non-missing values. Everything else (strings, categories, booleans): a chi-squared test
of the 2 x K table of value counts (``scipy.stats.chi2_contingency``, levels seen in either
sample, missing values as their own level). A column drifted when p < ``alpha``; no
multiple-testing correction. It is what a user writes without a monitoring library, and the
baseline the drift benchmarks time modelyard's detectors against.

    python bench/baselines/drift_tests.py --reference ref.parquet --current cur.parquet [--alpha 0.05]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from scipy import stats


def is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def value_counts(values: pd.Series) -> pd.Series:
    """Count of each value, missing values under ``"<missing>"`` (float, for adding up)."""
    counts = values.value_counts(dropna=True, sort=False).astype(np.float64)
    counts.index = counts.index.astype(object)
    missing = float(values.isna().sum())
    if missing:
        counts = pd.concat([counts, pd.Series([missing], index=pd.Index(["<missing>"], dtype=object))])
    return counts


def counts_test(reference: pd.Series, current: pd.Series) -> float:
    """p-value of the chi-squared test of the two samples' value counts (missing as a level)."""
    ref, cur = value_counts(reference), value_counts(current)
    table = pd.concat([ref, cur], axis=1).fillna(0).to_numpy(dtype=np.float64).T
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def judge(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    alpha: float = 0.05,
    categorical: list[str] | None = None,
) -> dict[str, bool]:
    """Column -> drifted (p < alpha) for every column of ``reference``."""
    verdicts = {}
    for column in reference.columns:
        ref, cur = reference[column], current[column]
        if (categorical is None and is_numeric(ref)) or (
            categorical is not None and column not in categorical
        ):
            a, b = ref.dropna().to_numpy(np.float64), cur.dropna().to_numpy(np.float64)
            p = float(stats.ks_2samp(a, b).pvalue) if len(a) and len(b) else 1.0
        else:
            p = counts_test(ref, cur)
        verdicts[column] = p < alpha
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--categorical", nargs="*", default=None)
    args = parser.parse_args()
    verdicts = judge(
        pd.read_parquet(args.reference),
        pd.read_parquet(args.current),
        alpha=args.alpha,
        categorical=args.categorical,
    )
    print(json.dumps({"drifted": sorted(c for c, v in verdicts.items() if v), "columns": len(verdicts)}))


if __name__ == "__main__":
    main()
