"""The Registry facade: what the rest of modelyard (and users) call to version models.

It wraps whichever :class:`~modelyard.registry.backend.RegistryBackend` the yard chose and
adds what no backend should have to re-implement: saving estimators with a flavor into
the content-addressed artifact store, checking the feature schema against the model's
FeatureService, recording lineage, verifying artifact hashes on every load, and firing
the ``on_promote`` / ``on_rollback`` event hooks after an alias moves.

::

    registry = yard.registry
    v = registry.register("trip_acceptance", pipeline, snapshot=snap, metrics={"roc_auc": 0.91})
    registry.promote("trip_acceptance", v.version, reason="better AUC on last week")
    predictor = registry.load_predictor(registry.get_version("trip_acceptance", alias="production"))
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import AliasNotFound, ModelNotFound, RegistryError, SchemaMismatch, VersionNotFound
from modelyard.registry import lineage
from modelyard.registry.backend import RegistryBackend
from modelyard.registry.types import AliasEvent, ModelVersion, Snapshot, VersionDraft

if TYPE_CHECKING:
    from modelyard.artifacts.flavor import Predictor
    from modelyard.artifacts.store import ArtifactStore
    from modelyard.config.schema import RetentionConfig
    from modelyard.plugins.manager import PluginHost
    from modelyard.registry.diff import VersionDiff
    from modelyard.registry.gates import PromotionRequest
    from modelyard.registry.in_use import VersionInUse
    from modelyard.registry.retention import GcReport
    from modelyard.registry.usage import ModelUsage
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

DEFAULT_ALIAS = "production"


class Registry:
    """Versions, aliases and snapshots of a yard's models, over a backend and an artifact store.

    ``yard`` is optional: without one, models need not be declared and no schema check is
    made (useful for tools and tests working on a bare registry).
    """

    def __init__(
        self,
        backend: RegistryBackend,
        artifacts: ArtifactStore,
        *,
        host: PluginHost,
        yard: Yard | None = None,
        retention: RetentionConfig | None = None,
        logs_dir: Path | None = None,
    ) -> None:
        from modelyard.config.schema import RetentionConfig

        self.backend = backend
        self.artifacts = artifacts
        self.host = host
        self.yard = yard
        self.retention = retention or (yard.config.retention if yard is not None else RetentionConfig())
        self.logs_dir = logs_dir or (yard.home / "logs" if yard is not None else None)

    @classmethod
    def for_yard(cls, yard: Yard) -> Registry:
        """The registry ``modelyard.yaml`` configures: its backend plugin and artifact store."""
        from modelyard.artifacts.store import ArtifactStore

        backend = yard.build_plugin("registry_backend", yard.config.registry, yard=yard)
        if not isinstance(backend, RegistryBackend):
            raise RegistryError(
                f"the registry_backend plugin {yard.config.registry.plugin!r} built a "
                f"{type(backend).__name__}, not a RegistryBackend"
            )
        artifacts = ArtifactStore(yard.resolve_path(yard.config.artifacts.url))
        return cls(backend, artifacts, host=yard.host, yard=yard)

    def close(self) -> None:
        """Release the backend's connections."""
        self.backend.close()

    # -- versions --------------------------------------------------------------------

    def register(
        self,
        model: str,
        estimator_or_path: Any,
        *,
        snapshot: Snapshot | str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        flavor: str | None = None,
        feature_names: Sequence[str] | None = None,
        schema_fingerprint: str | None = None,
        description: str = "",
        created_by: str | None = None,
        code_sha256: str | None = None,
    ) -> ModelVersion:
        """Store a new immutable version of ``model`` and return it.

        ``code_sha256`` is the sha256 of the training code's source file (``modelyard
        train`` passes it); with a yard, the sha256 of its ``modelyard.yaml`` is recorded too.

        ``estimator_or_path`` is an object a flavor can save (sklearn estimator, a class
        with ``predict(frame)``, ...), a file a flavor accepts (``model.onnx``), or a
        directory a flavor already wrote. ``flavor`` defaults to the model's declared
        flavor when that one can save the object, else the first installed one that can.

        With a yard, the version's schema fingerprint (``schema_fingerprint``, else the
        snapshot's) must equal the FeatureService's current one, and the artifact's
        feature columns must be features of that service; otherwise SchemaMismatch is
        raised and nothing is stored.
        """
        from modelyard.artifacts.flavor import METADATA_FILE, build_flavor, choose_flavor, read_metadata

        _need_name(model, "model")
        feature_service = ""
        declared_flavor: str | None = None
        if self.yard is not None:
            config = self.yard.model(model)
            feature_service = config.feature_service
            declared_flavor = config.flavor
        snap = self.get_snapshot(snapshot) if isinstance(snapshot, str) else snapshot
        if snap is not None and snap.model != model:
            raise RegistryError(f"snapshot {snap.id} is a training frame of {snap.model!r}, not of {model!r}")
        fingerprint = schema_fingerprint or (snap.schema_fingerprint if snap is not None else None)
        fingerprint = self._check_fingerprint(model, feature_service, fingerprint)

        with tempfile.TemporaryDirectory(prefix="modelyard-register-") as tmp:
            source = _as_path(estimator_or_path)
            if source is not None and source.is_dir() and (source / METADATA_FILE).exists():
                artifact_dir = source
                flavor_name = read_metadata(source, flavor=flavor)["flavor"]
            else:
                if source is not None and not source.exists():
                    raise RegistryError(f"cannot register {model}: {source} does not exist")
                obj = source if source is not None else estimator_or_path
                chosen = self._choose_flavor(obj, flavor, declared_flavor, choose_flavor, build_flavor)
                artifact_dir = Path(tmp) / "artifact"
                chosen.save(obj, artifact_dir, feature_names=feature_names)
                flavor_name = read_metadata(artifact_dir)["flavor"]
            meta = read_metadata(artifact_dir)
            self._check_feature_names(model, feature_service, meta.get("feature_names"))
            self._check_input_schema(model, feature_service, meta.get("input_schema"))
            self._check_loads(model, flavor_name, artifact_dir, build_flavor)
            stored = self.artifacts.put(artifact_dir)

        origin = lineage.collect(
            self.yard.path if self.yard is not None else Path.cwd(),
            estimator_or_path,
            created_by=created_by,
        )
        draft = VersionDraft(
            model=model,
            flavor=flavor_name,
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
            artifact_store=self.artifacts.canonical_url,
            artifact_size=stored.size,
            params=dict(params or {}),
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            snapshot_id=snap.id if snap is not None else None,
            feature_service=feature_service,
            schema_fingerprint=fingerprint,
            git_commit=origin.git_commit,
            git_dirty=origin.git_dirty,
            python_version=origin.python_version,
            libraries=origin.libraries,
            created_by=origin.created_by,
            description=description,
            code_sha256=code_sha256,
            config_sha256=lineage.config_sha256(self.yard.config_file) if self.yard is not None else None,
        )
        version = self.backend.add_version(draft)
        logger.info("registered %s (%s, artifact %s)", version.label, flavor_name, stored.sha256[:12])
        return version

    def _check_loads(self, model: str, flavor_name: str, artifact_dir: Path, build: Any) -> None:
        """Load the artifact with its flavor's loader, as serving will: nothing unloadable is recorded."""
        try:
            build(self.host, flavor_name).load(artifact_dir)
        except Exception as exc:  # any loader failure means: do not register
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RegistryError(
                f"cannot register {model}: its artifact does not load with the {flavor_name!r} flavor "
                f"({type(exc).__name__}: {reason}); nothing was stored"
            ) from exc

    def _choose_flavor(
        self, obj: Any, flavor: str | None, declared: str | None, choose: Any, build: Any
    ) -> Any:
        if flavor is not None:
            return choose(self.host, obj, flavor)
        if declared is not None:
            candidate = build(self.host, declared)
            if candidate.can_save(obj):
                return candidate
        return choose(self.host, obj)

    def _check_fingerprint(self, model: str, feature_service: str, fingerprint: str | None) -> str | None:
        if self.yard is None:
            return fingerprint
        current = self.yard.features.fingerprint(model)
        if fingerprint is not None and fingerprint != current:
            raise SchemaMismatch(
                f"cannot register {model}: it was trained on feature schema {fingerprint[:12]}, but "
                f"FeatureService {feature_service!r} now has schema {current[:12]}; the feature "
                "definitions changed since the training frame was taken: snapshot again and retrain"
            )
        return current

    def _check_feature_names(self, model: str, feature_service: str, names: Sequence[str] | None) -> None:
        if self.yard is None or names is None:
            return
        served = set(self.yard.features.feature_names(model))
        entity_keys = set(self.yard.model(model).entity_keys)
        missing = [n for n in names if n not in served and n not in entity_keys]
        if missing:
            raise SchemaMismatch(
                f"cannot register {model}: the model reads columns {missing} that FeatureService "
                f"{feature_service!r} does not serve (it serves: {', '.join(sorted(served))})"
            )

    def _check_input_schema(
        self, model: str, feature_service: str, input_schema: Sequence[Sequence[str]] | None
    ) -> None:
        """The artifact's declared column types (an MLflow signature...) against the FeatureService's."""
        if self.yard is None or not input_schema:
            return
        from modelyard.features.schema import input_schema_problems

        problems = input_schema_problems(input_schema, self.yard.features.schema(model))
        if problems:
            raise SchemaMismatch(
                f"cannot register {model}: its input schema does not match FeatureService "
                f"{feature_service!r}: {'; '.join(problems)}"
            )

    def get_version(
        self, model: str, version: int | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """Version ``version`` of ``model``, the one ``alias`` points at, or the latest."""
        if alias is not None:
            if version is not None:
                raise RegistryError("give either a version or an alias, not both")
            holders = self.backend.aliases(model)
            if alias not in holders:
                raise AliasNotFound(
                    f"no version of {model} holds the alias {alias!r}; aliases: "
                    f"{', '.join(f'{a}=v{v}' for a, v in holders.items()) or '(none)'}"
                )
            version = holders[alias]
        _check_number(model, version)
        return self.backend.get_version(model, version)

    def list_versions(self, model: str) -> list[ModelVersion]:
        """Every stored version of ``model``, oldest first."""
        return self.backend.list_versions(model)

    def list_models(self) -> list[str]:
        """Names of the models with versions in the registry."""
        return self.backend.list_models()

    def load_predictor(self, model_version: ModelVersion) -> Predictor:
        """Fetch the version's artifact, verify its sha256, and load it with its flavor.

        The hash is checked on every call; a changed artifact raises
        ArtifactIntegrityError naming the version and both hashes.
        """
        from modelyard.artifacts.flavor import build_flavor

        with self._fetched(model_version) as local:
            return build_flavor(self.host, model_version.flavor).load(local)

    def artifact_requirements(self, model_version: ModelVersion) -> list[str]:
        """The pip requirements the version's artifact itself declares it needs to load (its
        flavor's :meth:`~modelyard.artifacts.flavor.Flavor.requirements`; MLflow models list theirs)."""
        from modelyard.artifacts.flavor import build_flavor

        with self._fetched(model_version) as local:
            return build_flavor(self.host, model_version.flavor).requirements(local)

    @contextlib.contextmanager
    def _fetched(self, model_version: ModelVersion) -> Iterator[Path]:
        """The version's artifact in a temporary directory, its sha256 verified."""
        from modelyard.artifacts.store import normalise_store_url
        from modelyard.errors import ArtifactNotFound

        with tempfile.TemporaryDirectory(prefix="modelyard-load-") as tmp:
            try:
                local = self.artifacts.get(
                    model_version.artifact_uri,
                    model_version.artifact_sha256,
                    Path(tmp) / "artifact",
                    label=model_version.label,
                )
            except ArtifactNotFound as exc:
                written = model_version.artifact_store
                if written and normalise_store_url(written) != self.artifacts.canonical_url:
                    raise ArtifactNotFound(
                        f"{exc}; {model_version.label} was written to the store {written}, and this "
                        f"yard's store is {self.artifacts.canonical_url}: point artifacts.url at that store"
                    ) from None
                raise
            yield local

    def versions_in_use(self, model: str) -> list[VersionInUse]:
        """Versions of ``model`` an alias or a stored deployment names, with the features each reads."""
        from modelyard.registry.in_use import versions_in_use

        return versions_in_use(self, model)

    # -- aliases ---------------------------------------------------------------------

    def promote(
        self,
        model: str,
        version: int,
        alias: str = DEFAULT_ALIAS,
        *,
        reason: str,
        actor: str | None = None,
        force: bool = False,
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` (atomically, with a history entry) and fire ``on_promote``.

        First the model's promotion gates (``models.X.promotion`` in ``modelyard.yaml``)
        and every plugin's ``modelyard_veto_promotion`` hook judge the move:
        PromotionRefused names each failed gate and veto, and nothing moves. ``force``
        promotes past failing gates (not past a veto); the event is stored with
        ``forced=True`` and the failed gates in its reason.
        """
        from modelyard.errors import PromotionRefused

        _need_name(model, "model")
        _need_name(alias, "alias")
        reason = _need_reason(reason, "promote")
        actor = actor or lineage.current_user()
        request = self.promotion_request(model, int(version), alias, actor=actor, reason=reason, force=force)
        failed = request.failed
        vetoes = self.host.promotion_vetoes(request)
        if (failed and not force) or vetoes:
            problems = [f"failed gate {g.condition!r}: {g.detail}" for g in failed if not force]
            problems += [f"vetoed by plugin {name!r}: {why}" for name, why in vetoes]
            hint = "" if vetoes else "; promote a better version, or force it with --force and a reason"
            raise PromotionRefused(
                f"refusing to promote {request.candidate.label} to {alias!r}: " + "; ".join(problems) + hint
            )
        forced = bool(force and failed)
        if forced:
            reason = f"{reason} [forced past failed gates: {'; '.join(g.condition for g in failed)}]"
        event = self.backend.move_alias(
            model, alias, action="promote", to_version=int(version), actor=actor, reason=reason, forced=forced
        )
        logger.info("%s@%s: v%s -> v%s (%s)", model, alias, event.from_version, event.to_version, reason)
        self.host.on_promote(event)
        return event

    def promotion_request(
        self,
        model: str,
        version: int,
        alias: str = DEFAULT_ALIAS,
        *,
        actor: str = "",
        reason: str = "",
        force: bool = False,
    ) -> PromotionRequest:
        """The candidate, the holder it would replace and the gate results, without moving anything."""
        from modelyard.registry.gates import PromotionRequest, evaluate_gates

        _check_number(model, version)
        candidate = self.backend.get_version(model, version)
        holders = {name: self.backend.get_version(model, v) for name, v in self._holders(model).items()}
        replaced = holders.get(alias)
        gates = []
        if self.yard is not None and model in self.yard.config.models:
            promotion = self.yard.model(model).promotion
            if alias == promotion.alias and promotion.gates:
                gates = evaluate_gates(promotion.conditions(), candidate, dict(holders), alias=alias)
            if alias == promotion.alias and promotion.require:
                gates += self.yard.promotion_checks(model, version)
        return PromotionRequest(
            model=model,
            alias=alias,
            candidate=candidate,
            replaced=replaced,
            gates=gates,
            forced=force,
            actor=actor,
            reason=reason,
        )

    def _holders(self, model: str) -> dict[str, int]:
        try:
            return self.backend.aliases(model)
        except ModelNotFound:
            return {}

    def rollback(
        self, model: str, alias: str = DEFAULT_ALIAS, *, reason: str, actor: str | None = None
    ) -> AliasEvent:
        """Move ``alias`` back to its previous holder (from the history) and fire ``on_rollback``.

        NoPreviousHolder when the history has none; nothing changes then.
        """
        event = self.backend.move_alias(
            _need_name(model, "model"),
            _need_name(alias, "alias"),
            action="rollback",
            actor=actor or lineage.current_user(),
            reason=_need_reason(reason, "rollback"),
        )
        logger.info(
            "%s@%s rolled back: v%s -> v%s (%s)", model, alias, event.from_version, event.to_version, reason
        )
        self.host.on_rollback(event)
        return event

    def history(self, model: str, alias: str | None = None) -> list[AliasEvent]:
        """Every alias move of ``model`` (or of one alias), oldest first."""
        return self.backend.alias_history(model, alias)

    def aliases(self, model: str) -> dict[str, int]:
        """Current ``alias -> version`` of ``model``."""
        return self.backend.aliases(model)

    def alias_revision(self) -> int:
        """A counter that grows with every alias move; servers poll it to know when to reload."""
        return self.backend.alias_revision()

    # -- snapshots -------------------------------------------------------------------

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        """The snapshot record ``snapshot_id``."""
        return self.backend.get_snapshot(snapshot_id)

    def list_snapshots(self, model: str | None = None) -> list[Snapshot]:
        """Snapshot records of ``model`` (or all), oldest first."""
        return self.backend.list_snapshots(model)

    def snapshot(self, model: str, frame: Any, entities: Any = None, **options: Any) -> Snapshot:
        """Save a training frame (and its entity frame) as a snapshot; see :mod:`modelyard.registry.snapshots`."""
        from modelyard.registry.snapshots import take_snapshot

        return take_snapshot(self, model, frame, entities, **options)

    def load_snapshot_frame(self, snapshot_id: str) -> Any:
        """The snapshot's training frame, hash-verified, identical to the frame saved."""
        from modelyard.registry.snapshots import load_frame

        return load_frame(self, snapshot_id)

    def load_snapshot_entities(self, snapshot_id: str) -> Any:
        """The entity frame the snapshot was taken from, hash-verified."""
        from modelyard.registry.snapshots import load_entities

        return load_entities(self, snapshot_id)

    def reference_profile(self, snapshot_id: str) -> Any:
        """The snapshot's reference :class:`~modelyard.monitoring.profile.Profile`."""
        from modelyard.registry.snapshots import reference_profile

        return reference_profile(self, snapshot_id)

    # -- comparison, retention, cost -------------------------------------------------

    def diff(self, model: str, a: int, b: int) -> VersionDiff:
        """What differs between versions ``a`` and ``b`` of ``model`` (see :mod:`modelyard.registry.diff`)."""
        from modelyard.registry.diff import diff_versions

        return diff_versions(self, model, a, b)

    def gc(self, *, dry_run: bool = False, grace: timedelta | None = None) -> GcReport:
        """Apply the retention policy; with ``dry_run`` only report what would go.

        Snapshots younger than ``grace`` (default one hour) are kept even if unreferenced.
        """
        from modelyard.registry.retention import DEFAULT_GRACE, collect_garbage

        return collect_garbage(self, dry_run=dry_run, grace=DEFAULT_GRACE if grace is None else grace)

    def usage(self) -> list[ModelUsage]:
        """Bytes per model for artifacts, snapshots and prediction logs."""
        from modelyard.registry.usage import storage_usage

        return storage_usage(self)


def _need_reason(reason: str, action: str) -> str:
    from modelyard.config.names import MAX_REASON

    if not isinstance(reason, str) or not reason.strip():
        raise RegistryError(f"{action} needs a reason: it is kept in the alias history")
    if len(reason.strip()) > MAX_REASON:
        raise RegistryError(f"the reason for {action} is longer than {MAX_REASON} characters")
    return reason.strip()


def _need_name(value: str, what: str) -> str:
    from modelyard.config.names import name_problem

    problem = name_problem(value, what)
    if problem:
        raise RegistryError(problem)
    return value


def _as_path(value: Any) -> Path | None:
    """``value`` as a local path; None for objects and for URIs (``runs:/...``), which a flavor resolves."""
    if isinstance(value, str) and _URI.match(value):
        return None
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    return None


#: a URI scheme of two letters or more (one letter is a Windows drive)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


#: the largest version number every backend stores (a signed 32-bit integer: PostgreSQL's INTEGER)
MAX_VERSION = 2**31 - 1


def _check_number(model: str, version: int | None) -> None:
    """A version number no backend can hold is a version that does not exist (not a database error)."""
    if version is not None and not 1 <= version <= MAX_VERSION:
        raise VersionNotFound(f"{model} has no version {version}: version numbers count up from 1")
