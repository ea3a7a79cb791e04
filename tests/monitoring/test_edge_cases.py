"""Edge cases of drift and quality, each asserting the verdict: missing columns, infinities, types, tiny windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from drift_frames import make_frame

from modelyard.monitoring import drift as drift_module
from modelyard.monitoring.drift import Statistic, StatisticDetector
from modelyard.monitoring.profile import Profile
from modelyard_plugins.detectors.drift import EffectConfig


def _by(results):
    return {(r.feature, r.statistic): r for r in results}


def _failed(results) -> set[tuple[str | None, str]]:
    return {(r.feature, r.statistic) for r in results if r.drifted and r.feature is not None}


def test_a_missing_column_fails_quality_and_the_others_are_still_judged(host, profile: Profile) -> None:
    cur = make_frame(20_000, seed=21, shift=0.3).drop(columns=["cat_b"])
    drift = {r.feature: r for r in host.spec("detector", "drift").build().fit(profile).score(cur)}
    assert not drift["cat_b"].drifted and "column missing" in drift["cat_b"].details["skipped"]
    assert drift["num_a"].drifted  # the shift in another column is still found
    assert not drift["num_b"].drifted and np.isfinite(drift["num_b"].value)
    quality = host.spec("detector", "quality").build().fit(profile).score(cur)
    assert _failed(quality) == {("cat_b", "type_change")}
    for name in ["ks", "chi2", "psi"]:
        results = {r.feature: r for r in host.spec("detector", name).build().fit(profile).score(cur)}
        assert "cat_b" not in results or "skipped" in results["cat_b"].details


def test_infinite_values_fail_quality_and_drift_is_judged_on_the_finite_ones(host, profile: Profile) -> None:
    cur = make_frame(10_000, seed=22)
    cur.loc[:199, "num_b"] = np.inf  # 2% infinite, the rest unchanged
    quality = _by(host.spec("detector", "quality").build().fit(profile).score(cur))
    res = quality[("num_b", "non_finite_share")]
    assert res.drifted and res.value == pytest.approx(0.02) and res.details["count"] == 200
    assert not quality[("num_b", "out_of_range_share")].drifted  # inf is not counted twice
    for name in ["drift", "wasserstein", "ks", "psi"]:
        r = {x.feature: x for x in host.spec("detector", name).build().fit(profile).score(cur)}["num_b"]
        assert np.isfinite(r.value) and not r.drifted and r.n_current == 9_800
    shifted = make_frame(10_000, seed=23, shift=0.5)
    shifted.loc[:99, "num_a"] = -np.inf
    r = {x.feature: x for x in host.spec("detector", "drift").build().fit(profile).score(shifted)}["num_a"]
    assert r.drifted and np.isfinite(r.value)  # the shift is not hidden behind an infinite effect


def test_a_statistic_that_is_not_a_number_never_passes(host, profile: Profile, monkeypatch) -> None:
    monkeypatch.setitem(
        drift_module.STATISTICS,
        "broken",
        Statistic("broken", ("numeric",), lambda fp, data: (float("nan"), None), is_test=False),
    )

    class Broken(StatisticDetector):
        name = "broken"
        statistic = "broken"

    results = {
        r.feature: r
        for r in Broken(EffectConfig(calibrate=False)).fit(profile).score(make_frame(1_000, seed=1))
    }
    assert results["num_a"].drifted
    assert "cannot say the feature is unchanged" in results["num_a"].details["problem"]


def test_numbers_arriving_as_text_are_a_type_change(host, profile: Profile) -> None:
    cur = make_frame(2_000, seed=24)
    cur["num_a"] = cur["num_a"].round(3).astype(str)  # "0.123"
    quality = _by(host.spec("detector", "quality").build().fit(profile).score(cur))
    res = quality[("num_a", "type_change")]
    assert res.drifted and "2000 of 2000 numbers arrive as text" in res.details["problem"]
    assert _failed(quality.values()) == {("num_a", "type_change")}
    drift = {r.feature: r for r in host.spec("detector", "drift").build().fit(profile).score(cur)}
    assert not drift["num_a"].drifted and drift["num_a"].n_current == 2_000  # still judged, as numbers


def _bool_profile() -> Profile:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"flag": rng.random(5_000) < 0.3, "x": rng.normal(size=5_000)})
    return Profile.from_frame(ref, features=["flag", "x"])


def test_a_boolean_arriving_as_zero_and_one_is_a_type_change_not_drift(host) -> None:
    profile = _bool_profile()
    assert profile.feature("flag").kind == "categorical"
    rng = np.random.default_rng(1)
    cur = pd.DataFrame({"flag": (rng.random(3_000) < 0.3).astype(int), "x": rng.normal(size=3_000)})
    quality = _by(host.spec("detector", "quality").build().fit(profile).score(cur))
    assert _failed(quality.values()) == {("flag", "type_change")}
    assert "3000 of 3000 booleans arrive as 0/1" in quality[("flag", "type_change")].details["problem"]
    assert quality[("flag", "unseen_share")].value == 0.0
    drift = {r.feature: r for r in host.spec("detector", "drift").build().fit(profile).score(cur)}
    assert not drift["flag"].drifted and "unseen_categories" not in drift["flag"].details


def test_a_column_that_became_constant_fails(host, profile: Profile) -> None:
    cur = make_frame(500, seed=25)
    cur["num_b"] = 1.5
    cur["cat_b"] = "w"
    quality = _by(host.spec("detector", "quality").build().fit(profile).score(cur))
    assert quality[("num_b", "constant")].drifted and quality[("cat_b", "constant")].drifted
    assert quality[("cat_b", "constant")].details["value"] == "w"
    assert not quality[("num_a", "constant")].drifted


def test_constant_windows_of_a_zero_inflated_column_are_normal(host) -> None:
    rng = np.random.default_rng(2)
    counts = np.where(rng.random(20_000) < 0.97, 0, rng.poisson(3, size=20_000) + 1).astype(float)
    profile = Profile.from_frame(pd.DataFrame({"n": counts}), features=["n"])
    res = _by(host.spec("detector", "quality").build().fit(profile).score(pd.DataFrame({"n": np.zeros(40)})))
    assert res[("n", "constant")].value == 1.0 and not res[("n", "constant")].drifted  # 0.97**40 = 30%


def test_tiny_windows_need_min_rows_before_a_share_check_fails(host, profile: Profile) -> None:
    cur = make_frame(13, seed=26)
    cur.loc[0, "num_b"] = 1e6  # one value out of range in 13 rows
    detector = host.spec("detector", "quality").build().fit(profile)
    res = _by(detector.score(cur))[("num_b", "out_of_range_share")]
    assert res.value == pytest.approx(1 / 13) and not res.drifted and "at least 30" in res.details["skipped"]
    many = make_frame(13, seed=26)
    many.loc[:9, "num_b"] = 1e6  # ten of 13: a real problem, once the user lowers min_rows
    strict = host.spec("detector", "quality").build({"min_rows": 10}).fit(profile)
    assert _by(strict.score(many))[("num_b", "out_of_range_share")].drifted
    assert not _by(detector.score(many))[("num_b", "out_of_range_share")].drifted


def test_one_value_out_of_range_in_a_normal_window_is_not_an_alert(host, profile: Profile) -> None:
    cur = make_frame(40, seed=27)
    cur.loc[0, "num_b"] = 1e6
    res = _by(host.spec("detector", "quality").build().fit(profile).score(cur))[
        ("num_b", "out_of_range_share")
    ]
    assert res.details["count"] == 1 and not res.drifted


def test_features_with_a_tiny_reference_get_no_drift_verdict(host) -> None:
    ref = pd.DataFrame({"x": np.r_[np.arange(20.0), [np.nan] * 200], "y": np.arange(220.0)})
    profile = Profile.from_frame(ref, features=["x", "y"])
    results = {r.feature: r for r in host.spec("detector", "drift").build().fit(profile).score(ref)}
    assert not results["x"].drifted and "the reference has only" in results["x"].details["skipped"]
    assert "skipped" not in results["y"].details
