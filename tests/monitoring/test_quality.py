"""Data-quality checks: missing rates, unseen categories, out-of-range values, type changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from drift_frames import make_frame

from modelyard.monitoring.profile import Profile


def _failed(results) -> set[tuple[str | None, str]]:
    return {(r.feature, r.statistic) for r in results if r.drifted and r.feature is not None}


def test_quiet_on_clean_data(host, profile: Profile) -> None:
    detector = host.spec("detector", "quality").build().fit(profile)
    for n, seed in [(200, 1), (5_000, 2), (50_000, 3)]:
        assert _failed(detector.score(make_frame(n, seed=seed))) == set()


def test_each_problem_is_caught_and_named(host, profile: Profile) -> None:
    cur = make_frame(5_000, seed=4)
    cur.loc[:999, "num_a"] = np.nan  # 20% missing
    cur.loc[:199, "cat_a"] = "brand-new"  # 4% unseen
    cur.loc[:299, "num_b"] = 1e6  # 6% out of range
    results = host.spec("detector", "quality").build().fit(profile).score(cur)
    assert _failed(results) == {
        ("num_a", "missing_rate_change"),
        ("cat_a", "unseen_share"),
        ("num_b", "out_of_range_share"),
    }
    by = {(r.feature, r.statistic): r for r in results}
    assert by[("num_a", "missing_rate_change")].value == 0.2
    assert by[("cat_a", "unseen_share")].details["unseen"] == {"brand-new": 200}
    assert by[("num_b", "out_of_range_share")].details["max"] == 1e6


def test_type_changes_and_missing_columns(host, profile: Profile) -> None:
    cur = make_frame(1_000, seed=5).astype({"num_a": object})
    cur.loc[:9, "num_a"] = "n/a"
    cur = cur.drop(columns=["cat_b"])
    results = host.spec("detector", "quality").build().fit(profile).score(cur)
    failed = _failed(results)
    assert ("num_a", "type_change") in failed and ("cat_b", "type_change") in failed
    by = {(r.feature, r.statistic): r for r in results}
    assert "10 of 1000 values are not numbers" in by[("num_a", "type_change")].details["problem"]
    assert by[("cat_b", "type_change")].details["problem"] == "column missing"


def test_small_windows_need_significance_for_a_missing_rise(host) -> None:
    ref = pd.DataFrame({"x": np.r_[np.random.default_rng(0).normal(size=9_900), [np.nan] * 100]})
    profile = Profile.from_frame(ref, features=["x"])
    detector = host.spec("detector", "quality").build().fit(profile)
    tiny = pd.DataFrame({"x": [np.nan, 1.0, 2.0, 0.5, -1.0, 0.0, 0.3, 0.2, -0.4, 0.1]})  # 10% of 10 rows
    res = next(r for r in detector.score(tiny) if r.statistic == "missing_rate_change")
    assert res.value > 0.05 and not res.drifted and res.p_value > 0.01
