"""Helpers of the training tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def edit_models(repo: Path, **changes: dict[str, Any]) -> None:
    """Update model sections of the repo's modelyard.yaml (shallow merge per model)."""
    path = repo / "modelyard.yaml"
    config = yaml.safe_load(path.read_text())
    for model, change in changes.items():
        config["models"][model].update(change)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
