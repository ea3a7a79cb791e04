"""modelyard: run machine-learning models in production around a Feast feature store.

Importing this package is cheap on purpose: Feast, pandas and the plugins are imported
where they are used, so ``modelyard --help`` and ``modelyard plugins`` answer fast.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the only place the version is written: pyproject.toml reads it from here

__all__ = ["__version__"]
