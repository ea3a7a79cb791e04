"""Long-tailed categoricals (Zipf over 2,000 and 100,000 levels): quiet when unchanged, planted shifts found.

The generator (``zipf_frames``) is not the one the thresholds were tuned on. Each reference is
its own draw, as in production, where the reference is one training sample among many.
"""

from __future__ import annotations

import pandas as pd
import pytest
from zipf_frames import zipf_column, zipf_shares

from modelyard.monitoring.profile import Profile

STATISTIC_DETECTORS = ["chi2", "jensen_shannon", "psi"]


def _reference(levels: int, seed: int) -> Profile:
    frame = pd.DataFrame(
        {"c": zipf_column(40_000, levels, seed=seed), "d": zipf_column(40_000, 40, seed=seed + 1)}
    )
    return Profile.from_frame(frame, features=["c", "d"], seed=seed)


def _window(n: int, levels: int, seed: int) -> pd.DataFrame:
    return pd.DataFrame({"c": zipf_column(n, levels, seed=seed), "d": zipf_column(n, 40, seed=seed + 1)})


@pytest.mark.parametrize("levels", [2_000, 100_000])
def test_unchanged_long_tail_is_quiet(host, levels: int) -> None:
    for seed in range(2):
        profile = _reference(levels, seed=10 * seed + 1)
        detectors = {
            name: host.spec("detector", name).build().fit(profile)
            for name in ["drift", "quality", *STATISTIC_DETECTORS]
        }
        for n in (1_000, 20_000):
            window = _window(n, levels, seed=500 + seed)
            for name, detector in detectors.items():
                results = detector.score(window)
                failed = [(r.feature, r.statistic, r.value, r.threshold) for r in results if r.drifted]
                assert failed == [], f"{name} alarms on an unchanged {levels}-level column (n={n}): {failed}"
            chi2 = detectors["chi2"].score(window)[0]
            assert chi2.p_value > 1e-3  # not the 1e-49 of a biased tail cell


def test_tail_unseen_share_is_judged_against_the_held_out_share(host) -> None:
    profile = _reference(100_000, seed=3)
    fp = profile.feature("c")
    assert fp.holdout_unseen / fp.holdout_count > 0.05  # in a long tail, new values are normal ...
    res = next(
        r
        for r in host.spec("detector", "quality").build().fit(profile).score(_window(20_000, 100_000, seed=4))
        if r.feature == "c" and r.statistic == "unseen_share"
    )
    assert res.value > 0.05 and not res.drifted  # ... and not an alarm
    assert res.threshold == pytest.approx(res.details["baseline"] + 0.01)


@pytest.mark.parametrize("levels", [2_000, 100_000])
def test_a_new_category_at_two_percent_is_found(host, levels: int) -> None:
    profile = _reference(levels, seed=5)
    window = _window(20_000, levels, seed=6)
    window.loc[: int(0.02 * len(window)) - 1, "c"] = "brand-new-value"
    quality = {
        (r.feature, r.statistic): r
        for r in host.spec("detector", "quality").build().fit(profile).score(window)
    }
    assert quality[("c", "unseen_share")].drifted
    assert quality[("c", "unseen_share")].details["unseen"]["brand-new-value"] == 400
    assert not quality[("d", "unseen_share")].drifted
    drift = {r.feature: r for r in host.spec("detector", "drift").build().fit(profile).score(window)}
    assert drift["c"].drifted and not drift["d"].drifted
    assert drift["c"].details["unseen_categories"]["brand-new-value"] == 400


@pytest.mark.parametrize("levels", [2_000, 100_000])
def test_a_five_point_share_move_is_found(host, levels: int) -> None:
    profile = _reference(levels, seed=7)
    shares = zipf_shares(levels).copy()
    shares[0] -= 0.05  # the top category loses 5 points ...
    shares[1:] += 0.05 / (levels - 1)  # ... spread over all the others
    window = pd.DataFrame(
        {"c": zipf_column(20_000, levels, seed=8, shares=shares), "d": zipf_column(20_000, 40, seed=9)}
    )
    drift = {r.feature: r for r in host.spec("detector", "drift").build().fit(profile).score(window)}
    assert drift["c"].drifted and not drift["d"].drifted
    assert drift["c"].value > drift["c"].details["noise_floor"]
