"""Fixtures of the monitoring tests: a reference frame, its profile, a plugin host."""

from __future__ import annotations

import pandas as pd
import pytest
from drift_frames import FEATURES, make_frame


@pytest.fixture(scope="session")
def reference_frame() -> pd.DataFrame:
    return make_frame(50_000, seed=100)


@pytest.fixture(scope="session")
def profile(reference_frame: pd.DataFrame):
    from modelyard.monitoring.profile import Profile

    return Profile.from_frame(reference_frame, features=FEATURES)


@pytest.fixture(scope="session")
def host():
    from modelyard.plugins.testing import make_host

    return make_host()
