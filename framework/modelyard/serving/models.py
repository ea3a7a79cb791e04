"""The loaded-model table of a serving worker: what answers, and reloading it when aliases move.

At start the table loads, for every declared model, the versions its deployment names (the
alias holder for the default ``single`` router; every variant for ``ab``/``canary``/``shadow``)
through ``registry.load_predictor`` (artifact hash checked). A background thread then polls
the registry every ``serving.reload_interval`` seconds: the routing table re-reads the
deployment (one row, plus the ``alias_revision()`` counter), and versions that appear are
loaded *before* the old ones are dropped, by swapping the model's version map in one
assignment, so in-flight requests finish on the predictor they started with and none fail.

If a request is routed to a version the poller has not loaded yet (the routing table can
see a move a moment earlier), the request loads it itself under the model's lock.

When the registry database is unreachable, the table keeps serving what it has loaded and
reports ``degraded`` (readiness says why) until a poll succeeds again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelyardError, SchemaMismatch, ServingError
from modelyard.features.schema_history import changed_types

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.artifacts.flavor import ColumnarPredict, Predictor
    from modelyard.config.schema import ModelConfig
    from modelyard.features.online.reader import OnlineReader
    from modelyard.features.schema import FeatureSchema
    from modelyard.registry.types import ModelVersion
    from modelyard.routing.router import RouteDecision
    from modelyard.routing.runtime import RoutingTable
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedVersion:
    """One model version in memory, ready to predict."""

    model: str
    version: int
    info: ModelVersion
    predictor: Predictor
    loaded_at: float
    #: the predictor's optional columnar predict (no DataFrame; see modelyard.artifacts.flavor.Predictor)
    columnar: ColumnarPredict | None = None


@dataclass
class ServedModel:
    """A declared model as this worker serves it: its feature reader and its loaded versions."""

    name: str
    config: ModelConfig
    reader: OnlineReader
    schema: FeatureSchema
    versions: dict[int, LoadedVersion] = field(default_factory=dict)
    error: str | None = None  # why nothing can be served (no alias holder, load failure...)
    #: the deployment names no version (nothing trained or promoted yet): not a reason to be unready
    unversioned: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def feature_names(self) -> list[str]:
        """The model's feature columns, in schema order (computed once: the schema never changes)."""
        return self.schema.names

    @property
    def ready(self) -> bool:
        return bool(self.versions)


class ModelTable:
    """Every served model of a worker, kept in step with the registry by a poller thread."""

    def __init__(
        self,
        yard: Yard,
        *,
        routing: RoutingTable | None = None,
        reader_factory: Callable[[str, ModelConfig], OnlineReader] | None = None,
        reload_interval: float | None = None,
        on_load: Callable[[LoadedVersion], None] | None = None,
    ) -> None:
        self.yard = yard
        self.reload_interval = float(reload_interval or yard.config.serving.reload_interval)
        self._routing = routing
        self._reader_factory = reader_factory or self._default_reader
        self._on_load = on_load
        self.models: dict[str, ServedModel] = {}
        self.registry_error: str | None = None
        self.registry_error_since: float | None = None
        self.last_poll: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- building --------------------------------------------------------------------------

    @property
    def routing(self) -> RoutingTable:
        if self._routing is None:
            from modelyard.routing.runtime import RoutingTable

            # the poller refreshes it; requests never wait on the database
            self._routing = RoutingTable(self.yard, refresh_interval=float("inf"))
        return self._routing

    def _default_reader(self, name: str, config: ModelConfig) -> OnlineReader:
        from modelyard.features.online.reader import online_reader

        return online_reader(self.yard.feature_store, config.feature_service)

    def start(self, *, background: bool = True) -> None:
        """Build readers, load every model's deployed versions, start the poller."""
        for name, config in self.yard.config.models.items():
            schema = self.yard.features.schema(name)
            reader = self._reader_factory(name, config)
            if list(reader.feature_names) != schema.names:
                raise ServingError(
                    f"model {name!r}: the online reader returns features {list(reader.feature_names)}, "
                    f"but the FeatureService schema is {schema.names}"
                )
            self.models[name] = ServedModel(name=name, config=config, reader=reader, schema=schema)
        self.poll()
        if background:
            self._thread = threading.Thread(target=self._run, name="modelyard-model-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the poller and close the readers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for served in self.models.values():
            served.reader.close()

    # -- the request path ------------------------------------------------------------------

    def get(self, model: str) -> ServedModel:
        """The served model ``model``; an unknown name lists the served ones (ModelNotFound)."""
        served = self.models.get(model)
        if served is None:
            self.yard.model(model)  # raises ModelNotFound listing the declared models
            raise ServingError(f"model {model!r} is declared but this server did not start it")
        return served

    def decide(
        self,
        model: str,
        *,
        routing_key: str | None,
        entities: Mapping[str, Any],
        request_id: str | None,
    ) -> RouteDecision:
        """The variant answering one row (and its shadows), from the deployment in force."""
        return self.routing.decide(model, routing_key, entities=entities, request_id=request_id)

    def version(self, served: ServedModel, version: int) -> LoadedVersion:
        """The loaded ``version`` of ``served``, loading it now if the poller has not yet."""
        loaded = served.versions.get(version)
        if loaded is not None:
            return loaded
        with served.lock:
            loaded = served.versions.get(version)
            if loaded is None:
                loaded = self._load(served, version)
                served.versions = {**served.versions, version: loaded}
        return loaded

    # -- reloading ---------------------------------------------------------------------------

    def _load(self, served: ServedModel, version: int) -> LoadedVersion:
        registry = self.yard.registry
        info = registry.get_version(served.name, version)
        if info.schema_fingerprint and info.schema_fingerprint != served.schema.fingerprint:
            logger.warning(
                "%s v%s was trained on a different feature schema than FeatureService %s serves now "
                "(fingerprint %s != %s)",
                served.name,
                version,
                served.config.feature_service,
                info.schema_fingerprint[:12],
                served.schema.fingerprint[:12],
            )
        from modelyard.artifacts.flavor import columnar_predictor

        predictor = registry.load_predictor(info)
        names = list(getattr(predictor, "feature_names", None) or [])
        served_names = set(served.feature_names) | set(served.config.entity_keys)
        gone = [n for n in names if n not in served_names]
        retyped: list[str] = []
        if info.schema_fingerprint and info.schema_fingerprint != served.schema.fingerprint:
            trained = self.yard.features.trained_schema(info.schema_fingerprint)
            if trained is not None:
                retyped = changed_types(trained, served.schema, names or trained.names)
        # every predict would fail or feed values training never showed: the model is not ready
        # (503), never a client error
        if gone or retyped:
            problems = ([f"feature(s) {', '.join(gone)} that it no longer serves"] if gone else []) + (
                [f"feature(s) {', '.join(retyped)} whose type changed since training"] if retyped else []
            )
            raise SchemaMismatch(
                f"{info.label} reads {' and '.join(problems)} (FeatureService "
                f"{served.config.feature_service!r}); put them back and 'modelyard apply', "
                "or promote a version trained on the current features"
            )
        loaded = LoadedVersion(
            served.name, int(version), info, predictor, time.time(), columnar=columnar_predictor(predictor)
        )
        logger.info("loaded %s v%s (%s)", served.name, version, info.flavor)
        if self._on_load is not None:
            self._on_load(loaded)
        return loaded

    def wanted_versions(self, model: str) -> set[int]:
        """Versions the deployment in force names (live and shadow)."""
        deployment = self.routing.deployment(model)
        return {int(v.version) for v in deployment.variants}

    def poll(self) -> None:
        """Re-read every model's deployment; load versions that appeared, drop those that left."""
        ok = True
        for name, served in self.models.items():
            try:
                self.routing.refresh(name)
                wanted = self.wanted_versions(name)
            except ModelyardError as exc:  # nothing to serve (no alias holder...) or bad deployment
                if not served.versions:
                    served.error = str(exc)
                logger.debug("model %s: %s", name, exc)
                if not _is_database_error(exc):
                    served.unversioned = not served.versions
                    continue
                ok = False
                self._degraded(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - registry database unreachable and the like
                ok = False
                self._degraded(exc)
                continue
            try:
                with served.lock:
                    current = served.versions
                    fresh = {v: current[v] for v in wanted if v in current}
                    for version in sorted(wanted - set(current)):
                        fresh[version] = self._load(served, version)
                    if fresh.keys() != current.keys():
                        served.versions = fresh  # one assignment: requests see old or new, never half
                served.error = None
                served.unversioned = False
            except Exception as exc:  # noqa: BLE001 - keep serving the old versions
                served.error = f"loading {name} {sorted(wanted)} failed: {exc}"
                logger.error("%s; keeping %s", served.error, sorted(served.versions))
                if not isinstance(exc, ModelyardError):
                    ok = False
                    self._degraded(exc)
        self.last_poll = time.time()
        if ok and self.registry_error is not None:
            logger.info("registry reachable again")
            self.registry_error = None
            self.registry_error_since = None

    def _degraded(self, exc: BaseException) -> None:
        if self.registry_error is None:
            logger.warning("registry unreachable, serving the loaded versions: %s", exc)
            self.registry_error_since = time.time()
        self.registry_error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.poll()
            except Exception:  # the poller must survive anything
                logger.exception("model reload poll failed")

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Readiness: ``ready`` when every model that has a version has it loaded (and at least one
        model is loaded); models with no version yet are listed under ``not_serving``, not waited
        for. ``degraded`` when the registry is down."""
        models = {
            name: {
                "ready": served.ready,
                "versions": sorted(served.versions),
                **({"error": served.error} if served.error else {}),
            }
            for name, served in self.models.items()
        }
        waiting = [
            name for name, served in self.models.items() if not served.ready and not served.unversioned
        ]
        return {
            "ready": any(m["ready"] for m in models.values()) and not waiting,
            "not_serving": sorted(name for name, m in models.items() if not m["ready"]),
            "degraded": self.registry_error is not None,
            **({"registry_error": self.registry_error} if self.registry_error else {}),
            "models": models,
        }


def _is_database_error(exc: BaseException) -> bool:
    """Whether a ModelyardError was caused by the registry database being unreachable."""
    cause = exc.__cause__ or exc.__context__
    if cause is None:
        return False
    name = type(cause).__module__
    return name.startswith(("sqlalchemy", "psycopg", "sqlite3"))
