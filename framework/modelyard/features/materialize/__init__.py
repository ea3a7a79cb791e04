"""``modelyard materialize``: load each online view's latest rows into the online store, late rows included.

:func:`materialize` plans each view's run (:mod:`.plan`), selects the rows to write in one
pass over the source (:mod:`.select`), writes them (Redis: :mod:`.redis_writer`; any other
store through Feast's online store API, :mod:`.feast_writer`), records the run in Feast's
registry as ``feast materialize`` does, and keeps the created watermark for the next run
(:mod:`.state`). With a local file registry, the ASOF offline store and Redis, it runs from
the registry file without importing Feast (:mod:`.registry`); otherwise from Feast's
``FeatureStore``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore

    from modelyard.features.materialize.registry import FileRegistryRepo
    from modelyard.features.materialize.views import ViewSpec
    from modelyard.features.online.redis.wire import RedisEndpoint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaterializeResult:
    """Rows written to the online store per feature view, and the window materialized.

    ``start`` is the earliest window start over the views (each view starts where its last
    materialization ended, or ``end - ttl`` the first time); ``starts`` has each view's.
    ``late_by_view`` counts the rows written whose event time is before the view's previous
    end (late rows); ``read_by_view`` the entities the run had something new for.
    """

    rows_by_view: dict[str, int]
    start: datetime | None
    end: datetime
    starts: dict[str, datetime] = field(default_factory=dict)
    late_by_view: dict[str, int] = field(default_factory=dict)
    read_by_view: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


Progress = Callable[[str, int, int], None]
"""Called as ``progress(view, rows_done, rows_total)`` while a view is written."""


class _Run:
    """Where a run reads views and records intervals: the registry file (no Feast) or Feast's store."""

    def __init__(self, open_store: Callable[[], FeatureStore], fast: FileRegistryRepo | None) -> None:
        self._open_store = open_store
        self._store: FeatureStore | None = None
        self._feast_views: dict[str, Any] = {}
        self.fast = fast
        self.views: list[ViewSpec] | None = fast.views() if fast is not None else None
        if self.views is None:
            self.fast = None
            self._load_feast_views()

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    @property
    def project(self) -> str:
        return self.fast.project if self.fast is not None else self.store.project

    def _load_feast_views(self) -> None:
        from modelyard.features.materialize.views import from_feast

        store = self.store
        online = [v for v in store.list_feature_views() if v.online]
        self._feast_views = {v.name: v for v in online}
        self.views = [from_feast(v, store.config.repo_path) for v in online]

    def feast_view(self, name: str) -> Any:
        if name not in self._feast_views:
            self._feast_views[name] = self.store.get_feature_view(name)
        return self._feast_views[name]

    def endpoint(self) -> RedisEndpoint | None:
        from modelyard.features.materialize.redis_writer import Unsupported, redis_endpoint

        if self.fast is not None:
            return self.fast.endpoint
        try:
            return redis_endpoint(self.store)
        except Unsupported as why:
            if getattr(self.store.config.online_store, "type", None) == "redis":
                logger.info("materialize: writing through Feast's Redis store (%s)", why)
            return None

    def duck_settings(self) -> tuple[int | None, str | None]:
        if self.fast is not None:
            return self.fast.threads, self.fast.memory_limit
        config = self.store.config.offline_store
        return getattr(config, "threads", None), getattr(config, "memory_limit", None)

    def pull(self, view: ViewSpec, columns: list[str], end_ns: int) -> Any:
        """Every row of a source that is not a Parquet file, up to the end (the offline store's read)."""
        import pandas as pd
        from feast.infra.offline_stores.offline_utils import get_offline_store_from_config

        config = self.store.config
        source = view.batch_source()
        keys = [name for name, _ in view.keys]
        times = (source.timestamp_field, source.created_column)
        job = get_offline_store_from_config(config.offline_store).pull_all_from_table_or_query(
            config=config,
            data_source=self.feast_view(view.name).batch_source,
            join_key_columns=keys,
            feature_name_columns=[c for c in columns if c not in keys and c not in times],
            timestamp_field=source.timestamp_field,
            created_timestamp_column=source.created_column,
            start_date=None,
            end_date=pd.Timestamp(end_ns, tz="UTC").to_pydatetime(),
        )
        return job.to_arrow()

    def record(self, view: str, begin: datetime, end: datetime) -> None:
        """Record the interval in Feast's registry, as ``feast materialize`` does."""
        if self.fast is not None and self.fast.record(view, begin, end):
            return
        self.store.registry.apply_materialization(self.feast_view(view), self.project, begin, end)


def materialize(
    open_store: Callable[[], FeatureStore],
    end: datetime,
    *,
    start: datetime | None,
    lookback: timedelta,
    record: Path,
    fast: FileRegistryRepo | None = None,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Materialize every online feature view up to ``end`` (see the module docs).

    ``open_store`` gives Feast's store (called only when the run needs it); ``fast``, when the
    repo allows it (:func:`modelyard.features.materialize.registry.file_registry_repo`), runs
    from the registry file instead.
    """
    import numpy as np

    from modelyard.features.materialize.plan import plan_view
    from modelyard.features.materialize.redis_writer import Unsupported, write_to_redis
    from modelyard.features.materialize.select import CREATED, TS, column_array, select_winners
    from modelyard.features.materialize.state import record_watermarks, watermarks

    began = time.perf_counter()
    run = _Run(open_store, fast)
    project = run.project
    marks = watermarks(record, project)
    new_marks: dict[str, int] = {}
    result = MaterializeResult({}, None, end)
    endpoint = run.endpoint()
    threads, memory_limit = run.duck_settings()
    for view in run.views or []:
        plan = plan_view(view, end, start=start, lookback=lookback, watermark_ns=marks.get(view.name))
        result.starts[view.name] = plan.begin
        if plan.read_from_ns >= plan.end_ns and plan.created_after_ns is None:
            result.rows_by_view[view.name] = result.late_by_view[view.name] = result.read_by_view[
                view.name
            ] = 0
            continue
        t0 = time.perf_counter()
        selection = select_winners(
            view,
            pull=run.pull,
            threads=threads,
            memory_limit=memory_limit,
            begin_ns=plan.read_from_ns,
            end_ns=plan.end_ns,
            created_after_ns=plan.created_after_ns,
            oldest_ns=plan.oldest_ns,
            watermark=not plan.reload,  # a reload of an interval has not seen every row up to the end
        )
        table = selection.table
        ts = column_array(table, TS) if table.num_rows else np.zeros(0, dtype=np.int64)
        created = column_array(table, CREATED) if CREATED in table.column_names and table.num_rows else None
        new = plan.is_new(ts, created)
        total = table.num_rows
        done = 0

        def advance(n: int, _view: str = view.name, _total: int = total) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(_view, done, _total)

        mask = np.zeros(0, dtype=bool)
        if total and endpoint is not None:
            try:
                mask = write_to_redis(project, endpoint, view, table, new, advance)
            except Unsupported as why:
                logger.info("materialize %s: writing through Feast (%s)", view.name, why)
                done = 0
        if total and len(mask) != total:
            from modelyard.features.materialize.feast_writer import write_through_feast
            from modelyard.features.sqlite_codecs import guard_sqlite_codecs

            guard_sqlite_codecs(run.store)
            mask = write_through_feast(run.store, run.feast_view(view.name), table, new, advance)
        written = int(mask.sum())
        run.record(view.name, plan.begin, plan.end)
        if selection.watermark_ns is not None:
            new_marks[view.name] = max(selection.watermark_ns, marks.get(view.name, selection.watermark_ns))
        late = int((mask & (ts < plan.last_end_ns)).sum()) if plan.last_end_ns is not None else 0
        result.rows_by_view[view.name] = written
        result.late_by_view[view.name] = late
        result.read_by_view[view.name] = total
        seconds = time.perf_counter() - t0
        logger.info(
            "materialized %s: %d of %d entities written (%d late) in %.2f s (%.0f rows/s), %s .. %s",
            view.name,
            written,
            total,
            result.late_by_view[view.name],
            seconds,
            total / seconds if seconds > 0 else 0.0,
            plan.begin,
            plan.end,
        )
    record_watermarks(record, project, new_marks)
    starts = result.starts
    return MaterializeResult(
        rows_by_view=result.rows_by_view,
        start=min(starts.values(), default=None),
        end=end,
        starts=starts,
        late_by_view=result.late_by_view,
        read_by_view=result.read_by_view,
        seconds=time.perf_counter() - began,
    )
