"""Every error modelyard raises on purpose, in one hierarchy.

Each message says what is wrong and, where there is one, what to do about it. Catch
:class:`ModelyardError` to handle all of them; the CLI prints them without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class ModelyardError(Exception):
    """Base class of every error modelyard raises deliberately."""


# --- configuration ---------------------------------------------------------------------


class ConfigError(ModelyardError):
    """A ``modelyard.yaml`` (or a value in it) is wrong.

    ``file`` and ``key`` locate the problem: ``key`` is a dotted path such as
    ``models.trip_acceptance.entity_keys``.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.message = message
        where = ""
        if file:
            where += f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(f"{where}{message}")


# --- plugins ---------------------------------------------------------------------------


class PluginError(ModelyardError):
    """Something is wrong with a plugin or with the choice of one."""


class PluginLoadError(PluginError):
    """An installed plugin could not be imported or registered."""

    def __init__(self, name: str, distribution: str | None, error: BaseException | str) -> None:
        self.name = name
        self.distribution = distribution
        self.error = error
        dist = f" (distribution {distribution})" if distribution else ""
        super().__init__(f"plugin {name!r}{dist} failed to load: {error}")


class PluginValidationError(PluginError):
    """A plugin implements a hook that does not exist or with the wrong arguments."""


class DuplicatePluginError(PluginError):
    """Two plugins registered the same name for the same role."""

    def __init__(self, role: str, name: str, providers: Sequence[str]) -> None:
        self.role = role
        self.name = name
        self.providers = list(providers)
        super().__init__(
            f"two plugins provide the {role} {name!r}: {' and '.join(self.providers)}; "
            "uninstall one of them or rename its plugin"
        )


class UnknownPluginError(PluginError):
    """Config names a plugin that no installed (and loadable) plugin provides."""

    def __init__(self, role: str, name: str, known: Iterable[str], failed: Iterable[str] = ()) -> None:
        self.role = role
        self.name = name
        self.known = sorted(known)
        self.failed = list(failed)
        msg = f"unknown {role} plugin {name!r}; choose one of: {', '.join(self.known) or '(none installed)'}"
        close = difflib.get_close_matches(name, self.known, n=1, cutoff=0.6)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        if self.failed:
            msg += f". These plugins failed to load and may be the one meant: {'; '.join(self.failed)}"
        super().__init__(msg)


# --- features (Feast) ------------------------------------------------------------------


class FeatureError(ModelyardError):
    """The Feast feature repo does not match what a model declares, or a read failed."""


class FeatureServiceNotFound(FeatureError):
    """A model names a Feast FeatureService that the feature repo does not define."""


class EntityKeyMismatch(FeatureError):
    """The entity keys a model declares differ from its FeatureService's join keys."""


class DefinitionError(FeatureError):
    """The feature repo's Python definitions fail to load (names the file, line and problem)."""


class SchemaChangeRefused(FeatureError):
    """``modelyard apply`` would remove or retype a feature that a version in use still reads."""


class OnlineStoreUnavailable(FeatureError):
    """The Feast online store (Redis, SQLite...) could not be reached."""


# --- registry --------------------------------------------------------------------------


class RegistryError(ModelyardError):
    """A model-registry operation failed."""


class ModelNotFound(RegistryError):
    """No model of that name is declared or registered."""


class VersionNotFound(RegistryError):
    """No such version (or alias) of a model."""


class AliasNotFound(RegistryError):
    """No version holds that alias."""


class NoPreviousHolder(RegistryError):
    """A rollback was asked for, but the alias history has no earlier holder."""


class ArtifactIntegrityError(RegistryError):
    """An artifact's bytes no longer match the sha256 recorded when it was registered."""


class SchemaMismatch(RegistryError):
    """A model's feature schema differs from its FeatureService's."""


class SnapshotNotFound(RegistryError):
    """No snapshot with that id."""


class DatabaseVersionError(RegistryError):
    """The registry database was written by a newer modelyard than this one."""


class GcRefused(RegistryError):
    """Garbage collection stopped before deleting anything: it could not prove what is unused."""


class PromotionRefused(RegistryError):
    """A promotion failed the model's gates or was vetoed by a plugin; nothing moved."""


class ReproductionError(RegistryError):
    """A version cannot be retrained or verified from what the registry recorded."""


# --- serving and rollout ---------------------------------------------------------------


class ServingError(ModelyardError):
    """A prediction request could not be answered."""


class BadRequest(ServingError):
    """The request itself is wrong (unknown entity key, wrong type, too large...)."""


class RolloutError(ModelyardError):
    """A deployment or rollout command cannot be carried out."""


# --- monitoring ------------------------------------------------------------------------


class MonitoringError(ModelyardError):
    """A monitor could not run (no reference, empty window, bad settings...)."""


# --- artifacts, flavors and training (added by the artifacts work) ------------------------


class ArtifactNotFound(RegistryError):
    """No artifact is stored at that URI (deleted by gc, or a store moved)."""


class FlavorError(ModelyardError):
    """A flavor cannot save this object, or cannot load these artifact files."""


class TrainingError(ModelyardError):
    """``modelyard train`` could not build a version (no training section, bad function, bad result...)."""


# --- serving (added by the serving work) ---------------------------------------------------


class BatchTooLarge(BadRequest):
    """A prediction request has more rows than ``serving.max_batch`` allows."""


class BodyTooLarge(BadRequest):
    """A request body is larger than ``serving.limits.max_body_bytes``."""


class PredictionFailed(ServingError):
    """The model raised on this input (e.g. missing values it cannot take under policy ``pass``)."""


class ModelNotReady(ServingError):
    """The model is declared but has no loaded version to answer with (nothing promoted, load failed...)."""


class NoReferenceProfile(MonitoringError):
    """A version was registered without a training snapshot, so drift and quality have nothing to compare with."""


# --- batch scoring -----------------------------------------------------------------------


class BatchError(ModelyardError):
    """A batch scoring run failed for a reason other than its input (e.g. the output could not be written)."""


class ContainerizeError(ModelyardError):
    """A serving image cannot be described: a plugin or distribution the yard needs cannot be resolved."""
