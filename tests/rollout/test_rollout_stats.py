"""Statistics of the experiment report against scipy reference computations, and the SRM check."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from scipy import stats

from modelyard.rollout import significance as sig
from modelyard.rollout.srm import check_ratio, expected_counts


def test_two_proportion_z_matches_the_chi_squared_of_the_2x2_table() -> None:
    # z-test without continuity correction is the 2x2 chi-squared test: z^2 == chi2, same p-value.
    res = sig.two_proportions("acc", (420, 470), (1000, 1000), direction="higher")
    chi2, p, _, _ = stats.chi2_contingency([[420, 580], [470, 530]], correction=False)
    assert res.statistic**2 == pytest.approx(chi2)
    assert res.p_value == pytest.approx(p)
    assert res.difference == pytest.approx(0.05)
    se = math.sqrt(0.42 * 0.58 / 1000 + 0.47 * 0.53 / 1000)
    assert (res.ci_low, res.ci_high) == pytest.approx((0.05 - 1.959964 * se, 0.05 + 1.959964 * se), rel=1e-5)
    assert res.verdict == "better"
    assert sig.two_proportions("err", (420, 470), (1000, 1000), direction="lower").verdict == "worse"
    assert sig.two_proportions("acc", (420, 425), (1000, 1000)).verdict == "not yet significant"


def test_mde_of_the_z_test_shrinks_with_sample_and_is_detectable() -> None:
    small = sig.two_proportions("acc", (50, 50), (100, 100))
    big = sig.two_proportions("acc", (5000, 5000), (10000, 10000))
    # 2.8 standard errors (1.96 + 0.84): 0.5*0.5*(2/100) -> se 0.0707 -> MDE ~0.198
    assert small.mde == pytest.approx((1.959964 + 0.841621) * math.sqrt(0.25 * 2 / 100), rel=1e-4)
    assert big.mde == pytest.approx(small.mde / 10, rel=1e-4)


def test_welch_matches_scipy_including_the_interval() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 300), rng.normal(10.6, 3, 250)
    res = sig.welch("y", a, b, direction="higher")
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.statistic == pytest.approx(ref.statistic)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high))
    assert res.verdict == "better" and res.p_value < 0.05
    assert res.mde > abs(res.ci_high - res.difference)  # MDE (2.8 se) exceeds the CI half-width (1.97 se)


def test_mann_whitney_matches_scipy_and_estimates_the_shift() -> None:
    rng = np.random.default_rng(4)
    a = rng.lognormal(3, 0.4, 400)
    b = a[:350] + 5.0
    res = sig.mann_whitney("latency", a, b, direction="lower")
    ref = stats.mannwhitneyu(b, a, alternative="two-sided")
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.difference == pytest.approx(5.0, abs=2.0)
    assert res.ci_low < res.difference < res.ci_high
    assert res.verdict == "worse"


def test_too_small_samples_are_not_significant() -> None:
    assert sig.welch("y", [1.0], [2.0, 3.0]).verdict == "not yet significant"
    assert sig.two_proportions("p", (0, 0), (0, 10)).p_value is None


def test_srm_flags_a_broken_split_and_passes_a_good_one() -> None:
    good = check_ratio({"a": 5030, "b": 4970}, {"a": 0.5, "b": 0.5})
    assert not good.mismatch and good.p_value == pytest.approx(stats.chisquare([5030, 4970]).pvalue)
    broken = check_ratio({"a": 5300, "b": 4700}, {"a": 0.5, "b": 0.5})
    assert broken.mismatch and broken.p_value < 0.001 and "sample ratio mismatch" in broken.message
    weighted = check_ratio({"a": 9000, "b": 1000}, {"a": 0.9, "b": 0.1})
    assert not weighted.mismatch and weighted.chi2 == pytest.approx(0.0)
    leaked = check_ratio({"a": 100, "b": 3}, {"a": 1.0, "b": 0.0})
    assert leaked.mismatch and "b" in leaked.message


def test_expected_counts_follow_weight_changes() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    periods = [(t0, {"base": 0.9, "cand": 0.1}), (t0 + timedelta(hours=1), {"base": 0.5, "cand": 0.5})]
    ts = [t0 + timedelta(minutes=m) for m in range(0, 60, 1)] + [
        t0 + timedelta(minutes=60 + m) for m in range(40)
    ]
    expected = expected_counts(ts, periods)
    assert expected == pytest.approx({"base": 60 * 0.9 + 40 * 0.5, "cand": 60 * 0.1 + 40 * 0.5})
    # A ramp observed exactly as configured is not a mismatch, although the overall shares are not 50/50.
    assert not check_ratio({"base": 74, "cand": 26}, expected).mismatch
