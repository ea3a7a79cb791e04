"""The Yard: one project directory, a Feast feature repo plus ``modelyard.yaml``.

``Yard.load(path)`` reads and validates the config against the installed plugins and
hands every component its settings. Feast, the registry and the rest are built lazily,
on first use, so commands that need none of them stay fast.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.config.loader import CONFIG_FILE, load_config, validate_plugins
from modelyard.config.schema import ModelConfig, YardConfig
from modelyard.errors import ConfigError, ModelNotFound

if TYPE_CHECKING:
    from feast import FeatureStore

    from modelyard.features.store import FeatureFacade
    from modelyard.plugins.manager import PluginHost
    from modelyard.registry.retention import VersionNeed
    from modelyard.registry.service import Registry

logger = logging.getLogger(__name__)

FEAST_CONFIG_FILE = "feature_store.yaml"


class Yard:
    """A loaded, validated yard. Build it with :meth:`load`."""

    def __init__(self, path: Path, config: YardConfig, host: PluginHost) -> None:
        self.path = path
        self.config = config
        self.host = host

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *, host: PluginHost | None = None) -> Yard:
        """Read ``modelyard.yaml`` in ``path`` (default: the current directory) and validate it.

        Raises :class:`~modelyard.errors.ConfigError` naming the file and key of the first
        problem: unknown key, wrong type, unknown plugin, bad plugin settings.
        """
        from modelyard.plugins.manager import PluginHost

        repo = Path(path or os.getcwd()).resolve()
        if repo.is_file():
            repo = repo.parent
        config = load_config(repo / CONFIG_FILE)
        if not (repo / FEAST_CONFIG_FILE).exists():
            raise ConfigError(
                f"no {FEAST_CONFIG_FILE} beside {CONFIG_FILE}: a yard is a Feast feature repo",
                file=str(repo / FEAST_CONFIG_FILE),
            )
        host = host or PluginHost.from_entry_points()
        validate_plugins(config, host, file=str(repo / CONFIG_FILE))
        return cls(repo, config, host)

    # -- locations -------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def home(self) -> Path:
        """The state directory of the embedded default (registry database, logs, artifacts)."""
        home = Path(self.config.home)
        return home if home.is_absolute() else self.path / home

    def resolve_path(self, value: str) -> str:
        """A path from config, made absolute against the repo; URLs are returned unchanged."""
        if "://" in value:
            return value
        p = Path(value)
        return str(p if p.is_absolute() else self.path / p)

    # -- models ----------------------------------------------------------------------

    def model(self, name: str) -> ModelConfig:
        """The declared model ``name``; an unknown name lists the declared ones."""
        try:
            return self.config.models[name]
        except KeyError:
            known = ", ".join(sorted(self.config.models)) or "(none declared)"
            raise ModelNotFound(f"unknown model {name!r}; {self.config_file} declares: {known}") from None

    # -- components, built on first use -----------------------------------------------

    @cached_property
    def feature_store(self) -> FeatureStore:
        """The Feast FeatureStore of this repo (imports Feast: about 4 s the first time)."""
        from modelyard.features.store import open_feature_store

        # feature_store.yaml, or the file $MODELYARD_FEATURE_STORE_YAML names (e.g. the Redis variant)
        return open_feature_store(self.path)

    @cached_property
    def features(self) -> FeatureFacade:
        """Training frames and online vectors for declared models, through Feast."""
        from modelyard.features.store import FeatureFacade

        return FeatureFacade(self)

    @cached_property
    def registry(self) -> Registry:
        """Model versions, aliases and snapshots: the backend plugin ``registry`` names in config."""
        from modelyard.registry.service import Registry

        return Registry.for_yard(self)

    def deployment_needs(self) -> list[VersionNeed]:
        """Versions the deployments ``modelyard.yaml`` declares serve, so gc keeps them."""
        from modelyard.routing.deployment import DeploymentStore

        return DeploymentStore.for_yard(self).declared_needs()

    def promotion_checks(self, model: str, version: int) -> list[Any]:
        """Results of the required checks ``models.<model>.promotion.require`` names (gate results)."""
        from modelyard.rollout.promotion_checks import required_checks

        return required_checks(self, model, version)

    def build_plugin(self, role: str, choice: Any, **context: Any) -> Any:
        """Build the plugin a :class:`~modelyard.config.schema.PluginChoice` names."""
        spec = self.host.spec(role, choice.plugin)
        return spec.build(choice.settings, **context)
