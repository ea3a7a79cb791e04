"""The numeric cores agree with scipy's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelyard.monitoring.stats.contingency import chi2_two_sample, pool_sparse
from modelyard.monitoring.stats.ecdf import ks_pvalue, ks_wasserstein
from modelyard.monitoring.stats.jensen_shannon import js_distance
from modelyard.monitoring.stats.psi import psi


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.random.default_rng(1).normal(size=2000), np.random.default_rng(2).normal(0.2, 1.3, size=5000)),
        # heavy ties: integer-valued data
        (
            np.random.default_rng(3).integers(0, 5, 800).astype(float),
            np.random.default_rng(4).integers(0, 6, 900).astype(float),
        ),
        (np.random.default_rng(5).exponential(size=300), np.random.default_rng(6).exponential(size=40000)),
    ],
)
def test_ks_and_wasserstein_match_scipy(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.sort(a), np.sort(b)
    d, w = ks_wasserstein(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)
    assert ks_pvalue(d, a.size, b.size) == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_ks_pvalue_uses_the_exact_distribution_for_tiny_samples() -> None:
    a = np.sort(np.random.default_rng(7).normal(size=20))
    b = np.sort(np.random.default_rng(8).normal(0.8, size=25))
    d, _ = ks_wasserstein(a, b)
    assert ks_pvalue(d, a.size, b.size, a_sorted=a, b_sorted=b) == pytest.approx(
        stats.ks_2samp(a, b, method="exact").pvalue
    )


def test_ks_wasserstein_rejects_empty_samples() -> None:
    with pytest.raises(ValueError):
        ks_wasserstein(np.array([]), np.array([1.0]))


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([100, 50, 30, 5], [90, 70, 20, 9]),
        ([500, 480], [300, 350]),  # one degree of freedom: Yates' correction, as scipy
        ([1000, 10, 3, 400, 7], [250, 4, 0, 90, 1]),
    ],
)
def test_chi2_two_sample_matches_scipy_contingency(ref: list[int], cur: list[int]) -> None:
    mine = chi2_two_sample(np.array(ref), np.array(cur))
    theirs = stats.chi2_contingency(np.vstack([ref, cur]))
    assert mine.statistic == pytest.approx(theirs.statistic)
    assert mine.p_value == pytest.approx(theirs.pvalue)
    assert mine.dof == theirs.dof


def test_chi2_is_a_contingency_test_not_goodness_of_fit() -> None:
    # goodness-of-fit (reference shares as exact) gives a different, smaller p-value
    ref, cur = np.array([60, 40, 25, 15]), np.array([50, 50, 20, 20])
    gof = stats.chisquare(cur, ref / ref.sum() * cur.sum())
    mine = chi2_two_sample(ref, cur)
    assert mine.p_value == pytest.approx(stats.chi2_contingency(np.vstack([ref, cur])).pvalue)
    assert mine.p_value > gof.pvalue


def test_sparse_categories_are_pooled_before_the_test() -> None:
    ref = np.array([5000, 3000, 2, 1, 3, 0])
    cur = np.array([50, 30, 0, 1, 0, 2])
    r, c, pooled = pool_sparse(ref, cur, min_expected=5)
    assert pooled == 4
    assert list(r) == [5000, 3000, 6] and list(c) == [50, 30, 3]
    res = chi2_two_sample(ref, cur, min_expected=5)
    assert res.pooled == 4 and res.dof == 2
    assert res.p_value == pytest.approx(stats.chi2_contingency(np.vstack([r, c])).pvalue)


def test_jensen_shannon_matches_scipy() -> None:
    p, q = np.array([10, 20, 30, 0]), np.array([5, 25, 25, 5])
    assert js_distance(p, q) == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    assert js_distance(p, p) == pytest.approx(0.0, abs=1e-12)
    assert js_distance(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)


def test_psi_matches_its_definition() -> None:
    r, c = np.array([25, 25, 25, 25]), np.array([10, 20, 30, 40])
    pr, pc = r / r.sum(), c / c.sum()
    assert psi(r, c) == pytest.approx(np.sum((pc - pr) * np.log(pc / pr)))
    assert psi(r, r) == 0.0
    assert np.isfinite(psi(np.array([10, 0]), np.array([5, 5])))  # empty bin floored, not infinite


def test_row_wise_js_and_psi_equal_the_one_pair_versions() -> None:
    from modelyard.monitoring.stats.jensen_shannon import js_distance, js_distance_rows
    from modelyard.monitoring.stats.psi import psi, psi_rows

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 20, (6, 30)), rng.integers(0, 20, (6, 30))
    a[0, :5] = 0
    assert np.allclose(js_distance_rows(a, b), [js_distance(x, y) for x, y in zip(a, b, strict=True)])
    assert np.allclose(psi_rows(a, b), [psi(x, y) for x, y in zip(a, b, strict=True)])
    assert np.isnan(js_distance_rows(np.zeros((1, 3)), np.ones((1, 3))))[0]
