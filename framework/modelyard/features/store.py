"""The feature facade: training frames and online vectors for declared models, through Feast.

``yard.features`` is a :class:`FeatureFacade`. Both read paths go through the model's Feast
FeatureService and end in :func:`modelyard.features.schema.conform_frame`, so a training frame
and an online vector of the same model have the same columns, in the same order, with the same
dtypes (the train/serve consistency tests check the values too).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import FeatureError, FeatureServiceNotFound, OnlineStoreUnavailable, SchemaChangeRefused
from modelyard.features.definitions import check_models, parse_definitions
from modelyard.features.materialize import MaterializeResult
from modelyard.features.schema import FeatureSchema, conform_frame, from_source, service_fields
from modelyard.features.schema_history import recall, remember

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureService, FeatureStore

    from modelyard.features.freshness import ViewFreshness
    from modelyard.features.offline.registry_file import RegistryFile, ServicePlan
    from modelyard.features.push import PushResult
    from modelyard.features.push_record import PushRecord
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

FEATURE_STORE_YAML_ENV = "MODELYARD_FEATURE_STORE_YAML"
"""Environment variable naming the Feast config file to use instead of ``feature_store.yaml``
(relative to the repo), e.g. ``feature_store.redis.yaml``."""

_ROW = "__modelyard_row"


def feature_store_yaml(repo_path: str | os.PathLike[str]) -> Path:
    """The Feast config file of a repo: ``$MODELYARD_FEATURE_STORE_YAML`` if set, else ``feature_store.yaml``."""
    repo = Path(repo_path)
    chosen = Path(os.environ.get(FEATURE_STORE_YAML_ENV) or "feature_store.yaml")
    path = chosen if chosen.is_absolute() else repo / chosen
    if not path.exists():
        raise FeatureError(
            f"Feast config {path} does not exist"
            + (f" (named by ${FEATURE_STORE_YAML_ENV})" if os.environ.get(FEATURE_STORE_YAML_ENV) else "")
        )
    return path


def open_feature_store(repo_path: str | os.PathLike[str]) -> FeatureStore:
    """A ``feast.FeatureStore`` over the repo, with the config file :func:`feature_store_yaml` picks."""
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo_path), fs_yaml_file=feature_store_yaml(repo_path))


@dataclass(frozen=True)
class ApplyResult:
    """What :meth:`FeatureFacade.apply` registered, and Feast's own report of the changes."""

    entities: list[str]
    feature_views: list[str]
    feature_services: list[str]
    report: str = ""


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class FeatureFacade:
    """Feast, seen from the models a yard declares (see INTERFACES.md "Features")."""

    def __init__(self, yard: Yard) -> None:
        self.yard = yard
        self._schemas: dict[str, FeatureSchema] = {}
        self._registry_file: RegistryFile | None = None
        self._registry_looked_up = False

    def plan(self, model: str) -> ServicePlan | None:
        """The model's FeatureService read from Feast's registry file without importing Feast.

        ``None`` when Feast has to answer (a registry that is not a local file, another offline
        store, on-demand views...: see :mod:`modelyard.features.offline.registry_file`); the
        training frame is the same either way, only faster to get without Feast.
        """
        if not self._registry_looked_up:
            from modelyard.features.offline.registry_file import RegistryFile

            self._registry_file = RegistryFile.of_repo(self.yard.path, feature_store_yaml(self.yard.path))
            self._registry_looked_up = True
        if self._registry_file is None:
            return None
        return self._registry_file.service_plan(self.yard.model(model).feature_service)

    @property
    def store(self) -> FeatureStore:
        return self.yard.feature_store

    # -- what a model reads ---------------------------------------------------------

    def _service(self, model: str) -> FeatureService:
        from feast.errors import FeatureServiceNotFoundException

        config = self.yard.model(model)
        try:
            return self.store.get_feature_service(config.feature_service)
        except FeatureServiceNotFoundException:
            raise FeatureServiceNotFound(
                f"model {model!r} reads FeatureService {config.feature_service!r}, which the Feast registry "
                "does not hold; run 'modelyard apply' (or check the name in modelyard.yaml)"
            ) from None

    def feature_refs(self, model: str) -> list[str]:
        """``"view:feature"`` refs of the model's FeatureService, in service order."""
        service = self._service(model)
        return [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]

    def feature_names(self, model: str) -> list[str]:
        """The output column names of the model's features, in service order."""
        return self.schema(model).names

    def schema(self, model: str) -> FeatureSchema:
        """Names and Feast value types of the model's features (cached until the next :meth:`apply`)."""
        if model not in self._schemas:
            plan = self.plan(model)
            if plan is not None:
                service_name = plan.name
                fields = plan.fields
                views = [view.name for view in plan.views for _ in view.features]
            else:
                service = self._service(model)
                service_name = service.name
                fields = service_fields(service)
                views = [p.name_to_use() for p in service.feature_view_projections for _ in p.features]
            seen: dict[str, str] = {}
            for (name, _), view in zip(fields, views, strict=True):
                if name in seen:
                    raise FeatureError(
                        f"FeatureService {service_name!r} of model {model!r} has two features named {name!r} "
                        f"(views {seen[name]!r} and {view!r}); rename one in a projection"
                    )
                seen[name] = view
            self._schemas[model] = FeatureSchema(fields)
            remember(self.schema_record, self._schemas[model])
        return self._schemas[model]

    @property
    def schema_record(self) -> Path:
        """Where this yard records every feature schema it has seen (see modelyard.features.schema_history)."""
        return self.yard.path / "data" / ".modelyard" / "schemas.json"

    def trained_schema(self, fingerprint: str) -> FeatureSchema | None:
        """The schema a version with ``fingerprint`` was registered under, if this yard saw it."""
        return recall(self.schema_record, fingerprint)

    def request_fields(self, model: str) -> dict[str, str]:
        """Request data the model's on-demand views read: RequestSource field -> Feast value type name."""
        from modelyard.features.ondemand import OnDemandViews

        if self.plan(model) is not None:  # a plan reads no on-demand view
            return {}
        views = OnDemandViews.of(self.store, self._service(model))
        return {} if views is None else {n: f.value_type for n, f in views.request_fields.items()}

    def fingerprint(self, model: str) -> str:
        """sha256 of the model's feature names and value types."""
        return self.schema(model).fingerprint

    # -- repo and registry ----------------------------------------------------------

    def validate(self) -> None:
        """Every declared model's FeatureService is registered and joins on the model's entity keys."""
        store = self.store
        services = {s.name: s for s in store.list_feature_services()}
        views = {v.name: v for v in store.list_feature_views()}
        on_demand = {v.name: v for v in store.list_on_demand_feature_views()}
        check_models(
            self.yard.config.models, services, views, source="the Feast registry", on_demand=on_demand
        )

    def apply(self, *, force: bool = False) -> ApplyResult:
        """Check the models against the repo's definitions, then ``feast apply`` them.

        The checks run on the parsed repo before anything is written, so an apply that fails
        them leaves the registry and the online store exactly as they were: every model's
        FeatureService exists and joins on its entity keys, every ``monitors[].features`` entry
        names a feature of its model, and no feature that a version in use (an alias holder or
        a deployed variant) reads is removed or changes type, unless ``force``.
        """
        from feast.project import Project
        from feast.repo_operations import apply_total_with_repo_instance

        repo = parse_definitions(self.yard.path)
        services = {s.name: s for s in repo.feature_services}
        check_models(
            self.yard.config.models,
            services,
            {v.name: v for v in [*repo.feature_views, *repo.stream_feature_views]},
            source=f"the feature repo {self.yard.path}",
            on_demand={v.name: v for v in repo.on_demand_feature_views},
        )
        new_fields = {
            name: dict(service_fields(services[config.feature_service]))
            for name, config in self.yard.config.models.items()
        }
        check_monitor_features(self.yard, new_fields)
        if not force:
            self._refuse_breaking_changes(new_fields)
        store = self.store
        if not repo.projects:
            repo.projects.append(Project(name=store.project))
        elif repo.projects[0].name != store.project:
            raise FeatureError(
                f"the repo defines Feast project {repo.projects[0].name!r} but feature_store.yaml says "
                f"{store.project!r}; make them the same"
            )
        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            apply_total_with_repo_instance(
                store, store.project, store.registry, repo, skip_source_validation=False
            )
        self._schemas.clear()
        self._registry_looked_up = False
        logger.info("feast apply: %s", report.getvalue().strip())
        # Feast's placeholder entity of entity-less views is its own business, not the user's
        shown = "\n".join(line for line in report.getvalue().splitlines() if "__dummy" not in line)
        return ApplyResult(
            entities=sorted(e.name for e in repo.entities if not e.name.startswith("__")),
            feature_views=sorted(v.name for v in repo.feature_views),
            feature_services=sorted(s.name for s in repo.feature_services),
            report=shown,
        )

    def _refuse_breaking_changes(self, new_fields: Mapping[str, Mapping[str, str]]) -> None:
        """Raise SchemaChangeRefused if the new definitions drop or retype a feature in use."""
        from feast.errors import FeatureServiceNotFoundException

        problems: list[str] = []
        for model, fields in new_fields.items():
            try:
                old = dict(self.schema(model).fields)
            except (FeatureServiceNotFound, FeatureServiceNotFoundException):
                continue  # never applied: nothing can read it yet
            changed = {
                name: "removed" if name not in fields else f"{old[name]} -> {fields[name]}"
                for name in old
                if fields.get(name) != old[name]
            }
            if not changed:
                continue
            for version in self.yard.registry.versions_in_use(model):
                reads = set(version.features) if version.features is not None else set(old)
                hit = [f"{name} ({changed[name]})" for name in changed if name in reads]
                if hit:
                    problems.append(f"{version.label} reads {', '.join(hit)}")
        if problems:
            raise SchemaChangeRefused(
                "refusing to apply: the feature repo removes or retypes features that versions in use still "
                f"read: {'; '.join(problems)}. Register and promote versions trained without them first, "
                "or apply anyway with --force (serving then reports those models not ready)"
            )

    def materialize(
        self, end: datetime | None = None, *, start: datetime | None = None, progress: bool = True
    ) -> MaterializeResult:
        """Load feature values up to ``end`` (default now) into the online store, incrementally.

        Each online feature view starts where its previous materialization ended, or at
        ``end - ttl`` the first time; ``start`` overrides that for every view. Late rows (an
        event time before the previous end, written after it) are picked up by their created
        timestamp, or by re-reading ``features.materialize.lookback`` for views without one,
        so that the online store holds, per entity, the row the point-in-time join picks at
        ``end`` (docs/features.md, "What materialize writes"). ``rows_by_view`` counts the
        rows written. ``progress`` draws a bar with rows per second; without it, rows per second
        are logged (INFO, ``-v``) every few seconds of a long run.
        """
        from modelyard.features.materialize import materialize
        from modelyard.features.materialize.registry import file_registry_repo

        fast = file_registry_repo(self.yard.path, feature_store_yaml(self.yard.path))
        end_at = _utc(end) if end is not None else datetime.now(timezone.utc)
        start_at = _utc(start) if start is not None else None
        bar = _progress(progress)
        with bar:
            tasks: dict[str, list[Any]] = {}  # view -> [bar task, start, last log]
            log_progress = logger.isEnabledFor(logging.INFO)

            def show(view: str, done: int, total: int) -> None:
                now = time.perf_counter()
                if view not in tasks:
                    tasks[view] = [bar.add_task(view, total=total, rate="") if bar else None, now, now]
                task, began, logged = tasks[view]
                rate = done / (now - began) if now > began else 0.0
                if bar:
                    bar.update(task, completed=done, rate=f"{rate:,.0f} rows/s")
                elif log_progress and now - logged >= 5.0:  # -v without a terminal: a line every 5 s
                    tasks[view][2] = now
                    logger.info("materializing %s: %d of %d rows, %.0f rows/s", view, done, total, rate)

            result = materialize(
                lambda: self.store,
                end_at,
                start=start_at,
                lookback=self.yard.config.features.materialize.lookback_delta,
                record=self.materialize_record,
                fast=fast,
                progress=show if bar or log_progress else None,
            )
        if fast is not None and "feature_store" in vars(self.yard):
            self.store.refresh_registry()  # it was recorded in the registry file, past this store's cache
        return result

    @property
    def materialize_record(self) -> Path:
        """Where this yard keeps each view's created watermark between materializations."""
        return self.yard.path / "data" / ".modelyard" / "materialized.json"

    # -- push and freshness -------------------------------------------------------------

    @functools.cached_property
    def push_record(self) -> PushRecord:
        """Where each view's last push time is kept: the online store's Redis, else a file in the yard."""
        from modelyard.features.push_record import push_record

        return push_record(self.store, self.yard.path / "data" / ".modelyard" / "pushes.json")

    def push(self, source: str, rows: Any, *, to: str = "online") -> PushResult:
        """Check ``rows`` against push source ``source`` and write them (see :func:`modelyard.features.push.push`)."""
        from modelyard.features.push import push

        return push(self.store, source, rows, to=to, record=self.push_record)

    def views_of(self, model: str) -> list[str]:
        """The plain feature views the model reads, on-demand views' inputs included, in service order."""
        from modelyard.features.ondemand import OnDemandViews

        service = self._service(model)
        on_demand = OnDemandViews.of(self.store, service)
        odfv_names = {odfv.name for odfv, _ in on_demand.views} if on_demand else set()
        names = [p.name for p in service.feature_view_projections if p.name not in odfv_names]
        for view in on_demand.inputs if on_demand else ():
            if view not in names:
                names.append(view)
        return names

    def freshness(self, now: datetime | None = None) -> list[ViewFreshness]:
        """Every online view's last materialization / push and lag, with the models it feeds."""
        from modelyard.features.freshness import view_freshness

        readers: dict[str, list[str]] = {}
        for model in self.yard.config.models:
            for view in self.views_of(model):
                readers.setdefault(view, []).append(model)
        try:
            pushed = self.push_record.times()
        except OnlineStoreUnavailable as exc:  # materializations are still known; pushes are not
            logger.warning("last push times unknown, lag counts materializations only: %s", exc)
            pushed = {}
        return view_freshness(self.store, pushed, models=readers, now=now)

    # -- reading features -------------------------------------------------------------

    def _check_columns(self, model: str, columns: Sequence[str], what: str) -> list[str]:
        keys = list(self.yard.model(model).entity_keys)
        missing = [k for k in keys if k not in columns]
        if missing:
            raise FeatureError(
                f"{what} for model {model!r} lacks entity key column(s) {', '.join(missing)} "
                f"(it has: {', '.join(map(str, columns)) or 'nothing'})"
            )
        return keys

    def training_frame(
        self, model: str, entities: pd.DataFrame, *, timestamp: str = "event_timestamp"
    ) -> pd.DataFrame:
        """The point-in-time join of the model's features onto ``entities``.

        Exactly one row per input row, in input order (the input's index kept), duplicates
        included, whatever offline store is configured: duplicate (keys, time) rows are joined
        once and fanned back out. Columns: the entity frame's, then :meth:`feature_names`.
        """
        import pandas as pd

        keys = self._check_columns(model, list(entities.columns), "the entity frame")
        if timestamp not in entities.columns:
            raise FeatureError(
                f"the entity frame for model {model!r} has no {timestamp!r} column (the time each row's "
                "features are read as of); name it or pass timestamp=COLUMN"
            )
        schema = self.schema(model)
        clash = [n for n in schema.names if n in entities.columns]
        if clash:
            raise FeatureError(
                f"the entity frame already has feature column(s) {', '.join(clash)}; drop them first"
            )
        request = self.request_fields(model)
        absent = [name for name in request if name not in entities.columns]
        if absent:
            raise FeatureError(
                f"the entity frame for model {model!r} has no column(s) {', '.join(absent)}: request data its "
                "on-demand views read (the values a predict request carries in 'request'); add them"
            )
        keys = [*keys, *request]
        lookup = entities[[*keys, timestamp]].reset_index(drop=True)
        times = lookup[timestamp]
        # pandas' conversion cache only pays off for text; on datetimes it costs a uniqueness pass
        lookup[timestamp] = pd.to_datetime(
            times, utc=True, cache=not pd.api.types.is_datetime64_any_dtype(times)
        )
        plan = self.plan(model)
        if plan is not None:
            # the ASOF store's own join, without Feast: one row per entity row, in order, duplicates
            # included, so no de-duplication is needed
            from modelyard.features.offline.pit import join_columns

            joined = join_columns(plan.views, lookup, timestamp)
            result = _side_by_side(entities, {name: joined[name] for name in schema.names})
        else:
            features = self._feast_training_features(model, lookup, keys, timestamp, schema)
            features.index = entities.index
            result = pd.concat([entities, features], axis=1)
        return conform_frame(from_source(result, schema), schema)

    def _feast_training_features(
        self, model: str, lookup: pd.DataFrame, keys: list[str], timestamp: str, schema: FeatureSchema
    ) -> pd.DataFrame:
        """The feature columns of ``lookup``'s rows from Feast's ``get_historical_features``, in order.

        Any offline store may be configured: duplicate (keys, time) rows are joined once and
        fanned back out, and a store that drops or repeats rows is refused.
        """
        group = lookup.groupby([*keys, timestamp], sort=False, dropna=False).ngroup().to_numpy()
        unique = lookup.drop_duplicates([*keys, timestamp]).reset_index(drop=True)
        unique[_ROW] = range(len(unique))
        unique = (
            unique.rename(columns={timestamp: "event_timestamp"})
            if timestamp != "event_timestamp"
            else unique
        )
        joined = self.store.get_historical_features(entity_df=unique, features=self._service(model)).to_df()
        if joined[_ROW].duplicated().any():
            raise FeatureError(
                f"the offline store ({self.store.config.offline_store.type}) returned several rows for one "
                f"entity row of model {model!r}; it does not keep one row per entity row"
            )
        if len(joined) != len(unique):
            raise FeatureError(
                f"the offline store ({self.store.config.offline_store.type}) returned {len(joined)} rows for "
                f"{len(unique)} distinct entity rows of model {model!r}: it drops rows (Feast's file store "
                "drops rows some feature view has no fresh value for). Use offline_store type "
                "modelyard.features.offline.asof.AsofDuckDBOfflineStore in feature_store.yaml"
            )
        joined = joined.sort_values(_ROW, kind="stable").reset_index(drop=True)
        return joined.loc[group, schema.names].reset_index(drop=True)

    def online_vectors(
        self,
        model: str,
        entities: Mapping[str, Sequence[Any]],
        *,
        as_of: datetime | None = None,
        request: Mapping[str, Sequence[Any]] | None = None,
    ) -> pd.DataFrame:
        """The online feature vectors of the model for columnar entity keys, as a training frame has them.

        Columns: the entity keys, then :meth:`feature_names`, with the same dtypes as
        :meth:`training_frame`'s feature columns; a value the online store lacks is missing.

        The read is serving's (:func:`modelyard.features.online.build.online_reader`: the Redis
        fast path where it applies, else Feast's own read; on-demand views computed from
        ``request``), so what a model is served is what this returns. Each view's ``ttl`` is
        applied at ``as_of`` (default: now) by the rule of :mod:`modelyard.features.expiry`,
        exactly as the point-in-time join applies it, so the vector equals the training-frame
        row at ``as_of`` (Feast's own online read would still serve a value older than its ttl).
        """
        import pandas as pd

        from modelyard.features.online.build import online_reader
        from modelyard.features.online.ondemand import no_request_data

        keys = self._check_columns(model, list(entities), "the entity keys")
        columns = {k: list(entities[k]) for k in keys}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise FeatureError(
                f"entity key columns for model {model!r} have different lengths: {sorted(lengths)}"
            )
        schema = self.schema(model)
        at_ns = None if as_of is None else int(pd.Timestamp(_utc(as_of)).value)
        reader = online_reader(self.store, self.yard.model(model).feature_service)
        try:
            no_request_data(reader, request)
            values = reader.read(columns, request, at_ns=at_ns)
        finally:
            reader.close()
        frame = pd.DataFrame({k: columns[k] for k in keys})
        for name in schema.names:
            frame[name] = pd.Series(values[name], dtype=object)
        return conform_frame(frame, schema)

    def ttls(self, model: str) -> dict[str, int | None]:
        """Each feature of the model -> its view's ttl in nanoseconds (``None``: no ttl)."""
        from modelyard.features.expiry import ttl_ns

        service = self._service(model)
        return {
            feature.name: ttl_ns(self.store.get_feature_view(projection.name).ttl)
            for projection in service.feature_view_projections
            for feature in projection.features
        }


def _side_by_side(entities: pd.DataFrame, features: Mapping[str, pd.Series]) -> pd.DataFrame:
    """``entities`` (copied) with the ``features`` columns (one value per row, in row order) after them.

    What ``pd.concat([entities, features], axis=1)`` gives, without gathering the columns into
    consolidated blocks first (two copies of every value; :func:`conform_frame` copies the
    feature columns once more anyway). Frames with repeated or multi-level column labels go
    through ``pd.concat``.
    """
    import pandas as pd

    if (
        not entities.columns.is_unique
        or isinstance(entities.columns, pd.MultiIndex)
        or (set(features) & set(entities.columns))
    ):
        frame = pd.DataFrame(dict(features), copy=False)
        frame.index = entities.index
        return pd.concat([entities, frame], axis=1)
    columns: dict[Any, Any] = {name: entities[name].array.copy() for name in entities.columns}
    columns.update({name: values.array for name, values in features.items()})
    return pd.DataFrame(columns, index=entities.index, copy=False)


def check_monitor_features(yard: Yard, fields: Mapping[str, Mapping[str, str]]) -> None:
    """Every ``models.<m>.monitors[i].features`` entry is a feature of model ``m`` (``fields``:
    model -> its features); else a FeatureError naming the file and the key."""
    from modelyard.config.loader import CONFIG_FILE

    for model, config in yard.config.models.items():
        known = fields.get(model, {})
        for i, monitor in enumerate(config.monitors):
            unknown = [f for f in monitor.features or [] if f not in known]
            if unknown:
                raise FeatureError(
                    f"{yard.path / CONFIG_FILE}: models.{model}.monitors[{i}].features: unknown feature(s) "
                    f"{', '.join(unknown)}; model {model!r} reads: {', '.join(known) or '(none)'}"
                )


def _progress(enabled: bool) -> Any:
    """A rich progress bar (rows, rows per second) or a no-op context when disabled."""
    if not enabled:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        transient=True,
    )


class _NoProgress(contextlib.nullcontext):
    def __bool__(self) -> bool:
        return False
