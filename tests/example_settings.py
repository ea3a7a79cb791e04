"""Settings of the example repo the ``example_repo`` fixtures build, shared by tests that need them."""

from __future__ import annotations

EXAMPLE_END = "2026-01-29T00:00:00+00:00"
"""Where the example data of the ``example_repo`` fixture ends, and what it is materialized up to."""
EXAMPLE_DATA = {"seed": 7, "drivers": 40, "customers": 150, "days": 21, "trips": 2000}
"""Generator settings of the ``example_repo`` fixture: small, so a copy applies and materializes fast."""
