"""Which versions of a model are in use, and which features each reads (for schema-change checks).

A version is in use while an alias points at it or a stored deployment routes traffic to it
(live or shadow). The features it reads are the ``feature_names`` its artifact was saved with
(``modelyard-artifact.json``); when it was saved without them, every feature of its model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelyard.errors import ModelNotFound, RegistryError

if TYPE_CHECKING:
    from modelyard.registry.service import Registry
    from modelyard.registry.types import ModelVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionInUse:
    """A version some alias or deployment still needs, and the feature columns it reads."""

    model: str
    version: int
    uses: tuple[str, ...]  # e.g. ("alias production", "deployed live")
    features: tuple[str, ...] | None  # None: not recorded (assume every feature of the model)

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version} ({', '.join(self.uses)})"


def versions_in_use(registry: Registry, model: str) -> list[VersionInUse]:
    """The versions of ``model`` an alias or a stored deployment names, in version order."""
    backend = registry.backend
    try:
        aliases = backend.aliases(model)
    except ModelNotFound:
        return []
    uses: dict[int, list[str]] = {}
    for alias, version in sorted(aliases.items()):
        uses.setdefault(int(version), []).append(f"alias {alias}")
    deployment = backend.get_deployment(model) or {}
    for variant in deployment.get("variants") or []:
        try:
            version = int(variant["version"])
        except (KeyError, TypeError, ValueError):
            continue
        uses.setdefault(version, []).append(f"deployed {variant.get('mode', 'live')}")
    out = []
    for version, how in sorted(uses.items()):
        try:
            info = registry.get_version(model, version)
        except RegistryError:
            continue
        out.append(VersionInUse(model, version, tuple(how), _saved_feature_names(registry, info)))
    return out


def _saved_feature_names(registry: Registry, info: ModelVersion) -> tuple[str, ...] | None:
    """The ``feature_names`` in the artifact's metadata (read unverified: only names are needed)."""
    from modelyard.artifacts.flavor import METADATA_FILE

    try:
        names = json.loads(registry.artifacts.read_text(info.artifact_uri, METADATA_FILE)).get(
            "feature_names"
        )
    except (OSError, ValueError, RegistryError) as exc:
        logger.debug("feature names of %s unknown: %s", info.label, exc)
        return None
    return None if names is None else tuple(str(n) for n in names)
