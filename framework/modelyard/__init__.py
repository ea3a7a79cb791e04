"""modelyard: run machine-learning models in production around a Feast feature store.

Importing this package is cheap on purpose: Feast, pandas and the plugins are imported
where they are used, so ``modelyard --help`` and ``modelyard plugins`` answer fast.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the only place the version is written: pyproject.toml reads it from here

__all__ = ["__version__"]

from modelyard.features import feast_checks as _feast_checks

if _feast_checks.wanted_off():
    # a process started by the modelyard command (a serving worker...): Feast's checks stay off
    # here too, before anything imports Feast (modelyard.features.feast_checks says why)
    _feast_checks.skip_feast_typechecks()
