"""The example plugin's mean-shift detector judges real windows against a real reference profile."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SRC = Path(__file__).resolve().parents[2] / "plugins" / "examples" / "modelyard-hello-detector" / "src"


@pytest.fixture
def hello(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(SRC))
    import modelyard_hello
    import modelyard_hello.detector

    return modelyard_hello


def _reference(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"conv_rate": rng.normal(0.5, 0.1, 4000), "trips": rng.poisson(20, 4000).astype(float), "city": "x"}
    )


def test_mean_shift_flags_a_shift_and_not_noise(hello) -> None:
    from modelyard.monitoring.profile import Profile
    from modelyard.monitoring.results import DetectorResult
    from modelyard.plugins.testing import make_host

    host = make_host(hello)
    spec = host.spec("detector", "mean-shift")
    assert spec.kind == "drift"
    profile = Profile.from_frame(_reference(), features=["conv_rate", "trips", "city"], categorical=["city"])
    detector = spec.build({"k": 4.0, "min_rows": 30}).fit(profile)

    rng = np.random.default_rng(1)
    same = pd.DataFrame({"conv_rate": rng.normal(0.5, 0.1, 500), "trips": rng.poisson(20, 500).astype(float)})
    shifted = same.assign(conv_rate=same["conv_rate"] + 0.05)

    calm = {r.feature: r for r in detector.score(same)}
    assert set(calm) == {"conv_rate", "trips"}  # numeric features only
    assert all(isinstance(r, DetectorResult) for r in calm.values())
    assert not any(r.drifted for r in calm.values())
    assert calm["conv_rate"].value < 4.0 and calm["conv_rate"].p_value > 1e-4

    moved = {r.feature: r for r in detector.score(shifted, features=["conv_rate", "trips"])}
    assert moved["conv_rate"].drifted and moved["conv_rate"].value > 10
    assert moved["conv_rate"].statistic == "mean_shift_z" and moved["conv_rate"].threshold == 4.0
    assert moved["conv_rate"].n_current == 500 and moved["conv_rate"].n_reference > 0
    assert not moved["trips"].drifted


def test_small_windows_are_not_judged(hello) -> None:
    from modelyard.monitoring.profile import Profile
    from modelyard.plugins.testing import make_host

    detector = make_host(hello).spec("detector", "mean-shift").build({"min_rows": 50})
    detector.fit(Profile.from_frame(_reference(), features=["conv_rate"]))
    window = pd.DataFrame({"conv_rate": [5.0] * 10 + [None] * 100})
    (result,) = detector.score(window)
    assert result.n_current == 10 and not result.drifted and math.isnan(result.value)


def test_settings_are_validated(hello) -> None:
    from modelyard.errors import ConfigError
    from modelyard.plugins.testing import make_host

    spec = make_host(hello).spec("detector", "mean-shift")
    with pytest.raises(ConfigError, match="min_rows"):
        spec.build({"min_rows": 1})
    with pytest.raises(ConfigError, match="kk"):
        spec.build({"kk": 1})
