"""Where a version came from: git commit of the training code, Python and library versions, who.

Recorded on every registration so a diff of two versions can say whether the code or
the environment changed, not only the data and the parameters.
"""

from __future__ import annotations

import functools
import getpass
import logging
import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Distributions whose versions are always recorded when installed: they shape how a
#: model is trained, saved, fed and served.
TRACKED_DISTRIBUTIONS: tuple[str, ...] = (
    "modelyard",
    "feast",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "skops",
    "onnx",
    "onnxruntime",
    "skl2onnx",
    "lightgbm",
    "xgboost",
)


@dataclass(frozen=True)
class Lineage:
    """The lineage fields of a version."""

    git_commit: str | None
    git_dirty: bool | None
    python_version: str
    libraries: dict[str, str] = field(default_factory=dict)
    created_by: str = ""


def git_state(path: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git working tree holding ``path``; ``(None, None)`` outside git."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=path, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError) as exc:
            logger.debug("git %s failed in %s: %s", args, path, exc)
            return None
        return done.stdout if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = run("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), (bool(status.strip()) if status is not None else None)


def library_versions(obj: Any = None) -> dict[str, str]:
    """Versions of :data:`TRACKED_DISTRIBUTIONS` that are installed, plus the one ``obj``'s class comes from."""
    top = type(obj).__module__.partition(".")[0] if obj is not None else ""
    return dict(_versions_for(top))


@functools.lru_cache(maxsize=64)
def _versions_for(top_module: str) -> tuple[tuple[str, str], ...]:
    """Installed versions are fixed for the life of a process: look them up once per module."""
    names = list(TRACKED_DISTRIBUTIONS)
    if top_module:
        for dist in metadata.packages_distributions().get(top_module, []):
            if dist not in names:
                names.append(dist)
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(sorted(versions.items()))


def config_sha256(path: Path) -> str | None:
    """sha256 of a yard's ``modelyard.yaml`` (``None`` if it cannot be read)."""
    from modelyard.artifacts.hashing import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        return None


def current_user() -> str:
    """Who is acting: ``MODELYARD_USER`` if set, else the login name."""
    user = os.environ.get("MODELYARD_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def collect(path: Path, obj: Any = None, *, created_by: str | None = None) -> Lineage:
    """The lineage of a version trained from the code at ``path`` (usually the yard)."""
    commit, dirty = git_state(path)
    return Lineage(
        git_commit=commit,
        git_dirty=dirty,
        python_version=platform.python_version(),
        libraries=library_versions(obj),
        created_by=created_by or current_user(),
    )
