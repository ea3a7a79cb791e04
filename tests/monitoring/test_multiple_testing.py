"""Benjamini-Hochberg, Bonferroni and Holm adjustments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelyard.errors import MonitoringError
from modelyard.monitoring.multiple_testing import adjust


def test_bh_matches_scipy_false_discovery_control() -> None:
    p = np.random.default_rng(0).uniform(size=30) ** 3
    assert np.allclose(adjust(p, "bh"), stats.false_discovery_control(p, method="bh"))


def test_bonferroni_and_holm() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2])
    assert np.allclose(adjust(p, "bonferroni"), [0.04, 0.16, 0.12, 0.8])
    # Holm: sorted 0.01*4, 0.03*3, 0.04*2, 0.2*1 -> 0.04, 0.09, 0.09 (monotone), 0.2
    assert np.allclose(adjust(p, "holm"), [0.04, 0.09, 0.09, 0.2])
    assert np.allclose(adjust(p, "none"), p)


def test_nan_p_values_are_left_out_of_the_count() -> None:
    out = adjust([0.01, np.nan, 0.02], "bonferroni")
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.04)


def test_unknown_method_names_the_choices() -> None:
    with pytest.raises(MonitoringError, match="bh, bonferroni, holm, none"):
        adjust([0.1], "sidak")
