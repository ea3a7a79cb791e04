"""Train/serve skew against a real Feast repo: online vectors vs point-in-time offline values."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from modelyard.config.loader import load_config
from modelyard.errors import MonitoringError
from modelyard.monitoring.skew import SkewConfig, compare
from modelyard.plugins.testing import make_host
from modelyard.yard import Yard

MODEL = "trip_acceptance"
EXAMPLE_END = (
    "2026-01-29T00:00:00+00:00"  # tests/conftest.py: where example_repo's data ends and is materialized
)


@pytest.fixture
def logged(example_repo):
    """A yard and a 'prediction log' of online vectors read as of the materialization end."""
    yard = Yard(example_repo, load_config(example_repo / "modelyard.yaml"), make_host())
    drivers = pd.read_parquet(example_repo / "data" / "driver_stats.parquet")["driver_id"].unique()[:12]
    customers = pd.read_parquet(example_repo / "data" / "customer_profile.parquet")["customer_id"].unique()[
        :12
    ]
    entities = {"driver_id": [int(d) for d in drivers], "customer_id": [int(c) for c in customers]}
    end = datetime.fromisoformat(EXAMPLE_END)
    online = yard.features.online_vectors(MODEL, entities, as_of=end)
    online["timestamp"] = pd.Timestamp(end)
    return yard, online


def test_quiet_when_online_matches_offline(logged) -> None:
    yard, online = logged
    detector = make_host().spec("detector", "skew").build().bind(yard, MODEL)
    results = detector.score(online)
    per_feature = [r for r in results if r.feature]
    assert [r.feature for r in per_feature] == yard.features.feature_names(MODEL)
    assert [r.feature for r in per_feature if r.drifted] == []
    assert all(r.value == 0.0 for r in per_feature)


def test_catches_an_injected_mismatch_with_examples(logged) -> None:
    yard, online = logged
    skewed = online.copy()
    skewed.loc[skewed.index[:4], "conv_rate"] = (
        skewed["conv_rate"].iloc[:4] * 1.5 + 0.01
    )  # e.g. a scaling bug online
    skewed.loc[skewed.index[:3], "vehicle_type"] = "hovercraft"
    detector = make_host().spec("detector", "skew").build().bind(yard, MODEL)
    by = {r.feature: r for r in detector.score(skewed)}
    assert by["conv_rate"].drifted and by["conv_rate"].value == pytest.approx(4 / len(skewed))
    assert by["vehicle_type"].drifted and by["vehicle_type"].details["mismatches"] == 3
    example = by["conv_rate"].details["examples"][0]
    assert example["driver_id"] == int(skewed["driver_id"].iloc[0])
    assert example["online"] != pytest.approx(example["offline"])
    assert not by["rating"].drifted


def test_compare_treats_missing_on_both_sides_as_equal() -> None:
    online = pd.DataFrame({"k": [1, 2, 3, 4], "x": [1.0, np.nan, 3.0, np.nan], "c": ["a", None, "b", "z"]})
    offline = pd.DataFrame(
        {"k": [1, 2, 3, 4], "x": [1.0 + 1e-12, np.nan, 3.1, 4.0], "c": ["a", None, "b", "y"]}
    )
    by = {r.feature: r for r in compare(online, offline, ["x", "c"], keys=["k"], config=SkewConfig())}
    # floats bit for bit by default: 1.0 vs 1.0 + 1e-12 differs
    assert by["x"].details["mismatches"] == 3 and by["c"].details["mismatches"] == 1
    assert by["c"].details["examples"] == [{"k": 4, "online": "z", "offline": "y"}]
    assert by["c"].details["entities"] == [{"k": 4}]
    loose = SkewConfig(max_ulps=10_000)
    assert compare(online, offline, ["x"], keys=["k"], config=loose)[0].details["mismatches"] == 2


def test_compare_by_feast_type() -> None:
    """Large integers, timestamps, lists, -0.0 and small rates: each one found, nothing else."""
    online = pd.DataFrame(
        {
            "k": [1, 2, 3, 4],
            "big": pd.Series([10**12 + 1, 2**62, 5, None], dtype=object),
            "at": pd.to_datetime([0, 10**9, 2 * 10**9, 3 * 10**9], utc=True),
            "floats": [[1.5, 2.0], [0.1], [], None],
            "f32": [0.1, -0.0, 1.0, 2.0],
        }
    )
    offline = pd.DataFrame(
        {
            "k": [1, 2, 3, 4],
            "big": pd.array([10**12, 2**62, 5, None], dtype="Int64"),
            "at": pd.to_datetime([0, 10**9 + 1, 2 * 10**9, 3 * 10**9], utc=True),
            "floats": [np.array([1.5, 2.0], dtype="float32"), np.array([0.1], dtype="float32"), [], [1.0]],
            "f32": np.array([0.1, 0.0, 1.0, 2.0], dtype="float32"),
        }
    )
    types = {"big": "INT64", "at": "UNIX_TIMESTAMP", "floats": "FLOAT_LIST", "f32": "FLOAT"}
    results = compare(online, offline, list(types), keys=["k"], config=SkewConfig(), types=types)
    found = {r.feature: [e["k"] for e in r.details["entities"]] for r in results}
    assert found == {"big": [1], "at": [2], "floats": [4], "f32": [2]}
    assert all(r.drifted for r in results)  # one row in four, or one in a million: an alert
    tolerant = compare(
        online, offline, ["big"], keys=["k"], config=SkewConfig(max_mismatch_rate=0.3), types=types
    )
    assert not tolerant[0].drifted


def test_unbound_or_incomplete_windows_are_refused(logged) -> None:
    yard, online = logged
    detector = make_host().spec("detector", "skew").build()
    with pytest.raises(MonitoringError, match="bind"):
        detector.score(online)
    with pytest.raises(MonitoringError, match="timestamp"):
        detector.bind(yard, MODEL).score(online.drop(columns=["timestamp"]))
