"""Helpers for the routing tests: a small yard on disk and registry versions to deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelyard.config.schema import YardConfig
from modelyard.plugins.testing import make_host
from modelyard.registry.types import VersionDraft
from modelyard.routing.deployment import DeploymentStore


def write_yard(
    path: Path,
    *,
    registry_url: str,
    guards: list[dict[str, Any]] | None = None,
    router: dict[str, Any] | None = None,
) -> Path:
    """A yard directory with one model ``rides`` (no Feast objects are needed for routing)."""
    path.mkdir(parents=True, exist_ok=True)
    deployment: dict[str, Any] = {"guards": guards or []}
    if router is not None:
        deployment["router"] = router
    config = {
        "project": "routing-test",
        "registry": {"plugin": "sqlalchemy", "settings": {"url": registry_url}},
        "serving": {"cache": None, "log": {"plugin": "parquet"}, "reload_interval": 0.2},
        "models": {
            "rides": {
                "feature_service": "rides_v1",
                "entity_keys": ["driver_id"],
                "task": "classification",
                "label": "accepted",
                "deployment": deployment,
            }
        },
    }
    (path / "modelyard.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (path / "feature_store.yaml").write_text(
        "project: routing_test\nprovider: local\nregistry: data/registry.db\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\nentity_key_serialization_version: 3\n"
    )
    return path


def add_versions(backend: Any, model: str, n: int) -> list[int]:
    """Register ``n`` versions of ``model`` directly in the backend (artifacts are not needed to route)."""
    versions = []
    for i in range(n):
        draft = VersionDraft(
            model=model,
            flavor="sklearn",
            artifact_uri=f"file:///nowhere/{model}/{i}",
            artifact_sha256=f"{i:064x}",
            feature_service="rides_v1",
        )
        versions.append(backend.add_version(draft).version)
    return versions


def make_store(url: str, *, guards: list[dict] | None = None, router: dict | None = None) -> DeploymentStore:
    """A DeploymentStore over a fresh SqlAlchemyBackend on ``url``, declaring the model ``rides``."""
    from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig

    deployment: dict = {"guards": guards or []}
    if router is not None:
        deployment["router"] = router
    config = YardConfig.model_validate(
        {
            "project": "routing-test",
            "serving": {"cache": None, "reload_interval": 0.2},
            "models": {
                "rides": {
                    "feature_service": "rides_v1",
                    "entity_keys": ["driver_id"],
                    "task": "classification",
                    "label": "accepted",
                    "deployment": deployment,
                }
            },
        }
    )
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url))
    return DeploymentStore(backend, host=make_host(), config=config)
