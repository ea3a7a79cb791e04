"""Drift detectors: values against scipy, quiet without drift, catch drift, selection and calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from drift_frames import FEATURES, LEVELS, make_frame
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelyard.errors import ConfigError, MonitoringError
from modelyard.monitoring.profile import Profile
from modelyard.monitoring.selection import MIN_ROWS, default_method

DRIFT_DETECTORS = ["drift", "ks", "wasserstein", "psi", "chi2", "jensen_shannon"]


def _by_feature(results):
    return {r.feature: r for r in results}


def test_every_drift_detector_is_registered(host) -> None:
    specs = host.detectors()
    for name in DRIFT_DETECTORS:
        assert specs[name].kind == "drift"


def test_values_match_scipy_on_the_profile(host, profile: Profile) -> None:
    cur = make_frame(3_000, seed=7, shift=0.3, share_shift=0.05)
    ks = _by_feature(host.spec("detector", "ks").build({"correction": "none"}).fit(profile).score(cur))
    w = _by_feature(host.spec("detector", "wasserstein").build().fit(profile).score(cur))
    chi = _by_feature(host.spec("detector", "chi2").build({"min_expected": 0}).fit(profile).score(cur))
    js = _by_feature(host.spec("detector", "jensen_shannon").build().fit(profile).score(cur))
    for name in ("num_a", "num_b"):
        fp = profile.feature(name)
        ref = stats.ks_2samp(fp.sample, cur[name], method="asymp")
        assert ks[name].value == pytest.approx(ref.statistic)
        assert ks[name].p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
        assert w[name].value == pytest.approx(stats.wasserstein_distance(fp.sample, cur[name]) / fp.std)
        assert ks[name].n_reference == fp.sample.size and ks[name].n_current == 3_000
    for name in ("cat_a", "cat_b"):
        freq = profile.feature(name).frequencies
        ref_counts = np.array([freq[k] for k in LEVELS])
        cur_counts = cur[name].value_counts().reindex(LEVELS).to_numpy()
        table = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
        assert chi[name].value == pytest.approx(table.statistic)
        assert chi[name].p_value == pytest.approx(table.pvalue)
        assert js[name].value == pytest.approx(
            jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum(), base=2)
        )


@pytest.mark.parametrize("n", [1_000, 10_000, 50_000])
def test_quiet_without_drift(host, profile: Profile, n: int) -> None:
    """The default and the (calibrated) effect-size detectors raise no alarm on unchanged data."""
    for name in ["drift", "wasserstein", "psi", "jensen_shannon"]:
        detector = host.spec("detector", name).build().fit(profile)
        for seed in range(4):
            results = detector.score(make_frame(n, seed=1000 + seed))
            flagged = [r.feature for r in results if r.drifted]
            assert flagged == [], (
                f"{name} raised false alarms on unchanged data: {flagged} (n={n}, seed={seed})"
            )


@pytest.mark.parametrize("name", ["ks", "chi2"])
def test_plain_tests_alarm_at_about_their_level(host, profile: Profile, name: str) -> None:
    """A bare significance test flags unchanged features at about alpha: why the default needs effect sizes."""
    detector = host.spec("detector", name).build({"alpha": 0.05, "correction": "none"}).fit(profile)
    verdicts = [
        r.drifted
        for seed in range(40)
        for r in detector.score(make_frame(1_000, seed=2000 + seed))
        if r.feature
    ]
    assert 0 < sum(verdicts) / len(verdicts) < 0.12


def test_default_detector_catches_small_known_shifts(host, profile: Profile) -> None:
    detector = host.spec("detector", "drift").build().fit(profile)
    results = detector.score(make_frame(50_000, seed=5, shift=0.1, share_shift=0.05))
    by = _by_feature(results)
    assert by["num_a"].drifted and by["cat_a"].drifted
    assert not by["num_b"].drifted and not by["cat_b"].drifted
    dataset = by[None]
    assert dataset.statistic == "share_drifted" and dataset.value == 0.5 and dataset.drifted
    assert dataset.details["drifted_features"] == ["num_a", "cat_a"]
    assert by["num_a"].details["test"] == "ks" and by["cat_a"].details["test"] == "chi2"


def test_large_samples_do_not_flag_trivial_shifts(host) -> None:
    reference = make_frame(400_000, seed=11)
    profile = Profile.from_frame(reference, features=FEATURES, sample_size=100_000)
    current = make_frame(400_000, seed=12, shift=0.025)
    ks = _by_feature(host.spec("detector", "ks").build().fit(profile).score(current))
    drift = _by_feature(host.spec("detector", "drift").build().fit(profile).score(current))
    assert ks["num_a"].drifted  # significant ...
    assert drift["num_a"].details["significant"] and not drift["num_a"].details["effect_large"]
    assert not drift["num_a"].drifted  # ... but trivial


def test_default_selection_rules() -> None:
    assert default_method("numeric", MIN_ROWS - 1) is None
    num = default_method("numeric", 500)
    assert (num.test, num.effect, num.min_effect) == ("ks", "wasserstein_norm", 0.05)
    cat = default_method("categorical", 500, n_categories=200)
    assert (cat.test, cat.effect, cat.min_expected) == ("chi2", "jensen_shannon", 5.0)
    assert "pooled" in cat.reason
    assert "pooled" not in default_method("categorical", 50_000, n_categories=4).reason
    assert default_method("other", 1000) is None


def test_unchanged_high_cardinality_column_stays_quiet(host) -> None:
    rng = np.random.default_rng(3)
    levels = np.array([f"c{i}" for i in range(200)])
    shares = rng.dirichlet(np.ones(200))
    ref = pd.DataFrame({"c": rng.choice(levels, size=20_000, p=shares)})
    profile = Profile.from_frame(ref, features=["c"])
    detector = host.spec("detector", "drift").build().fit(profile)
    for seed in range(5):
        cur = pd.DataFrame({"c": np.random.default_rng(50 + seed).choice(levels, size=1_000, p=shares)})
        (res, _) = detector.score(cur)
        assert not res.drifted, res


def test_calibrated_noise_floor_shrinks_with_window_size(host, profile: Profile) -> None:
    detector = host.spec("detector", "wasserstein").build({"threshold": 0.0}).fit(profile)
    small = _by_feature(detector.score(make_frame(200, seed=3)))["num_b"]
    large = _by_feature(detector.score(make_frame(20_000, seed=3)))["num_b"]
    assert small.details["noise_floor"] > large.details["noise_floor"] > 0
    assert small.threshold == small.details["noise_floor"]
    # the floor sits above what unchanged windows of that size measure
    assert small.value < small.threshold and large.value < large.threshold
    uncalibrated = host.spec("detector", "wasserstein").build({"threshold": 0.0, "calibrate": False})
    res = _by_feature(uncalibrated.fit(profile).score(make_frame(200, seed=3)))["num_b"]
    assert "noise_floor" not in res.details and res.threshold == 0.0 and res.drifted


def test_corrections_change_the_adjusted_p_values(host, profile: Profile) -> None:
    cur = make_frame(2_000, seed=9, shift=0.05)
    none = _by_feature(host.spec("detector", "ks").build({"correction": "none"}).fit(profile).score(cur))
    bonf = _by_feature(
        host.spec("detector", "ks").build({"correction": "bonferroni"}).fit(profile).score(cur)
    )
    for name in ("num_a", "num_b"):
        assert none[name].details["p_adjusted"] == pytest.approx(none[name].p_value)
        assert bonf[name].details["p_adjusted"] == pytest.approx(min(1.0, 2 * bonf[name].p_value))


def test_unseen_categories_are_reported(host, profile: Profile) -> None:
    cur = make_frame(5_000, seed=4)
    cur.loc[:999, "cat_b"] = "brand-new"
    res = _by_feature(host.spec("detector", "drift").build().fit(profile).score(cur))["cat_b"]
    assert res.details["unseen_categories"] == {"brand-new": 1000}
    assert res.drifted


def test_too_few_rows_give_no_verdict(host, profile: Profile) -> None:
    cur = make_frame(10, seed=1, shift=5.0)
    for name in DRIFT_DETECTORS:
        for r in host.spec("detector", name).build().fit(profile).score(cur):
            assert not r.drifted
            if r.feature is not None:
                assert "skipped" in r.details


def test_bad_settings_and_inputs_are_named(host, profile: Profile) -> None:
    with pytest.raises(ConfigError, match="alhpa"):
        host.spec("detector", "drift").build({"alhpa": 0.1})
    with pytest.raises(ConfigError, match="correction"):
        host.spec("detector", "ks").build({"correction": "sidak"})
    detector = host.spec("detector", "drift").build()
    with pytest.raises(MonitoringError, match="not fitted"):
        detector.score(make_frame(100, seed=1))
    detector.fit(profile)
    with pytest.raises(MonitoringError, match="no feature 'nope'"):
        detector.score(make_frame(100, seed=1), features=["nope"])
    ks = host.spec("detector", "ks").build().fit(profile)
    with pytest.raises(MonitoringError, match="judges numeric features; 'cat_a' is categorical"):
        ks.score(make_frame(100, seed=1), features=["num_a", "cat_a"])


def test_results_store_as_flat_rows(host, profile: Profile) -> None:
    results = host.spec("detector", "drift").build().fit(profile).score(make_frame(1_000, seed=2))
    row = results[0].to_row()
    assert {"detector", "feature", "statistic", "score", "p_value", "threshold", "drifted", "details"} <= set(
        row
    )
    assert row["detector"] == "drift" and isinstance(row["score"], float)
