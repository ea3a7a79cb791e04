"""The rules of materialization that need no store: the lookback setting and when a winner replaces what is stored."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from modelyard.config.schema import YardConfig
from modelyard.features.materialize.plan import replaces


def test_lookback_is_a_duration_with_a_default() -> None:
    assert YardConfig(project="p").features.materialize.lookback_delta == timedelta(days=1)
    config = YardConfig.model_validate({"project": "p", "features": {"materialize": {"lookback": "90m"}}})
    assert config.features.materialize.lookback_delta == timedelta(minutes=90)
    assert YardConfig.model_validate(
        {"project": "p", "features": {"materialize": {"lookback": "0s"}}}
    ).features.materialize.lookback_delta == timedelta(0)
    with pytest.raises(ValidationError, match="lookback"):
        YardConfig.model_validate({"project": "p", "features": {"materialize": {"lookback": "a day"}}})
    with pytest.raises(ValidationError, match="lookbak"):
        YardConfig.model_validate({"project": "p", "features": {"materialize": {"lookbak": "1d"}}})


def test_a_winner_replaces_only_an_older_row_or_an_equal_one_when_new() -> None:
    stored = np.array([0, 10, 10, 10, 20, 1_999_999_999], dtype=np.int64)
    present = np.array([False, True, True, True, True, True])
    winner = np.array([5, 11, 10, 10, 19, 1_000_000_001], dtype=np.int64)
    new = np.array([False, False, True, False, True, False])
    assert replaces(stored, present, winner, new, 1).tolist() == [True, True, True, False, False, False]
    # at whole seconds (SQLite) the last two are the same second: equal, not new, so kept
    assert replaces(stored[-1:], present[-1:], winner[-1:], new[-1:], 10**9).tolist() == [False]
    assert replaces(stored[-1:], present[-1:], winner[-1:], ~new[-1:], 10**9).tolist() == [True]
