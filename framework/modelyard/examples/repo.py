"""Ready-to-use copies of the example feature repo (``feature_repo/``), for tests, demos and benchmarks.

Feast's registry records absolute paths (the online store's), so every user gets a fresh copy
in a directory of its own: :func:`copy_example_repo` copies the definitions (and data, if the
source has any), :func:`prepare_example_repo` also generates data, applies and materializes.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# The files a yard's definitions consist of; state (registry, online store) is never copied.
_STATE_FILES = ("registry.db", "online_store.db")


def example_repo_source() -> Path:
    """The ``feature_repo/`` directory of the modelyard source tree."""
    path = Path(__file__).resolve().parents[3] / "feature_repo"
    if not (path / "feature_store.yaml").exists():
        raise FileNotFoundError(
            f"the example feature repo is not at {path} (is modelyard installed from source?)"
        )
    return path


def copy_example_repo(dest: str | Path, *, source: str | Path | None = None) -> Path:
    """Copy the example repo's definitions (and any generated Parquet, never Feast state) to ``dest``."""
    src = Path(source) if source is not None else example_repo_source()
    dest = Path(dest)
    shutil.copytree(
        src,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", ".modelyard", *_STATE_FILES),
        dirs_exist_ok=True,
    )
    return dest


def prepare_example_repo(
    dest: str | Path,
    *,
    source: str | Path | None = None,
    generate: bool = True,
    apply: bool = True,
    materialize_end: datetime | None = None,
    **generate_kwargs: Any,
) -> Path:
    """A fresh example repo in ``dest``: data generated (``generate_kwargs`` go to the generator),
    Feast definitions applied and, if ``materialize_end`` is given, materialized up to it."""
    from modelyard.examples.rideshare import generate as generate_data
    from modelyard.yard import Yard

    repo = copy_example_repo(dest, source=source)
    if generate:
        generate_data(repo, **generate_kwargs)
    if apply or materialize_end is not None:
        yard = Yard.load(repo)
        yard.features.apply()
        if materialize_end is not None:
            yard.features.materialize(materialize_end, progress=False)
    return repo
