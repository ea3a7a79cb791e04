"""Reference profiles: contents, JSON round trip, held-out split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import MonitoringError
from modelyard.monitoring.categories import MAX_TAIL_BUCKETS, is_tail_cell
from modelyard.monitoring.profile import Profile


def test_profile_holds_what_detectors_need(reference_frame: pd.DataFrame, profile: Profile) -> None:
    assert profile.n_rows == 50_000 and profile.n_holdout == 15_000 and profile.n_fit == 35_000
    num = profile.feature("num_a")
    assert num.kind == "numeric" and num.count == 35_000 and num.missing == 0
    assert num.sample.size == 10_000 and np.all(np.diff(num.sample) >= 0)
    assert num.holdout_sample.size == 10_000
    assert num.min <= num.quantiles[50] <= num.max
    assert num.std == pytest.approx(1.0, abs=0.03)
    assert sum(num.bin_counts) == 35_000 and len(num.bin_counts) == len(num.bin_edges) + 1 == 10
    assert sum(num.histogram_counts) == 35_000
    cat = profile.feature("cat_a")
    assert cat.kind == "categorical" and set(cat.frequencies) == {"w", "x", "y", "z"}
    assert sum(cat.frequencies.values()) == 35_000 and sum(cat.holdout_frequencies.values()) == 15_000
    # the fit and held-out parts partition the rows
    assert reference_frame["cat_a"].value_counts()["w"] == cat.frequencies["w"] + cat.holdout_frequencies["w"]


def test_profile_round_trips_through_json(profile: Profile) -> None:
    again = Profile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert again.features.keys() == profile.features.keys()
    for name, fp in profile.features.items():
        other = again.features[name]
        assert other == fp  # dataclass equality (arrays excluded) ...
        assert np.array_equal(other.sample, fp.sample)  # ... and arrays exactly
        assert np.array_equal(other.holdout_sample, fp.holdout_sample)


def test_missing_values_types_and_inference() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 4.0] * 10,
            "flag": [True, False, True, True] * 10,
            "code": [1, 2, 3, 1] * 10,
            "s": pd.Series(["a", None, "b", "a"] * 10, dtype="string"),
        }
    )
    p = Profile.from_frame(frame, features=["x", "flag", "code", "s"], categorical=["flag", "code", "s"])
    assert p.feature("x").missing + p.feature("x").holdout_missing == 10
    code = p.feature("code")
    assert all(k in {"1", "2", "3"} or is_tail_cell(k) for k in code.frequencies)
    assert sum(code.frequencies.values()) == code.count
    inferred = Profile.from_frame(frame, features=["x", "flag", "code", "s"])
    assert inferred.feature("flag").kind == "categorical" and inferred.feature("code").kind == "numeric"
    assert inferred.feature("s").kind == "categorical"


def test_many_categories_are_bounded() -> None:
    frame = pd.DataFrame({"c": [f"v{i % 300}" for i in range(3000)]})
    p = Profile.from_frame(frame, features=["c"], max_categories=50)
    fp = p.feature("c")
    head = [k for k in fp.frequencies if not is_tail_cell(k)]
    assert len(head) <= 50 and 1 <= fp.tail_buckets <= MAX_TAIL_BUCKETS
    assert sum(fp.frequencies.values()) == p.n_fit == fp.count
    assert fp.vocabulary.size == 300  # every fit category is known, as a hash
    again = Profile.from_dict(json.loads(json.dumps(p.to_dict()))).feature("c")
    assert np.array_equal(again.vocabulary, fp.vocabulary) and again.tail_buckets == fp.tail_buckets


def test_a_reference_too_small_is_refused_or_warned(caplog) -> None:
    for rows in (0, 1):
        with pytest.raises(MonitoringError, match=f"reference of {rows} row"):
            Profile.from_frame(pd.DataFrame({"a": [1.0] * rows}), features=["a"])
    with caplog.at_level("WARNING", logger="modelyard.monitoring.profile"):
        Profile.from_frame(pd.DataFrame({"a": np.arange(50.0)}), features=["a"])
    assert "only 50 rows" in caplog.text


def test_infinite_values_are_counted_apart_in_the_reference() -> None:
    values = np.r_[np.arange(95.0), [np.inf, -np.inf, np.nan, np.inf, 1.0]]
    p = Profile.from_frame(pd.DataFrame({"a": values}), features=["a"], holdout=0.0)
    fp = p.feature("a")
    assert (fp.count, fp.missing, fp.non_finite) == (96, 1, 3)
    assert np.isfinite(fp.std) and fp.max == 94.0


def test_errors_name_the_problem() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(MonitoringError, match="'b'"):
        Profile.from_frame(frame, features=["a", "b"])
    p = Profile.from_frame(frame, features=["a"])
    with pytest.raises(MonitoringError, match="profiles: a"):
        p.feature("zz")
    with pytest.raises(MonitoringError, match="newer"):
        Profile.from_dict({**p.to_dict(), "format": 99})


def test_category_keys_agree_across_int_float_and_text() -> None:
    from modelyard.monitoring.profile import category_counts, category_key

    assert category_key(3) == category_key(3.0) == category_key("3") == category_key(np.int64(3)) == "3"
    assert category_key(2.5) == "2.5" and category_key(True) == "True"
    assert category_counts(pd.Series([1.0, 1.0, np.nan, 2.0])) == {"1": 2, "2": 1}
