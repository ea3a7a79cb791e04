"""Fixtures for the prediction-log tests."""

from __future__ import annotations

import pytest
from logging_helpers import MemorySink


@pytest.fixture
def memory_sink() -> MemorySink:
    return MemorySink()
