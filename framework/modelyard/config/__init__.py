"""``modelyard.yaml``: its schema (:mod:`.schema`) and how it is read (:mod:`.loader`)."""

from __future__ import annotations

from modelyard.config.loader import CONFIG_FILE, load_config
from modelyard.config.schema import ModelConfig, PluginChoice, YardConfig

__all__ = ["CONFIG_FILE", "ModelConfig", "PluginChoice", "YardConfig", "load_config"]
