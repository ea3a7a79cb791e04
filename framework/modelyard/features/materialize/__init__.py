"""``modelyard materialize``: load each online view's latest rows into the online store, late rows included.

:func:`materialize` plans each view's run (:mod:`.plan`), selects the rows to write in one
pass over the source (:mod:`.select`), writes them (Feast's online store API,
:mod:`.feast_writer`), records the run in Feast's registry as ``feast materialize`` does,
and keeps the created watermark for the next run (:mod:`.state`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feast import FeatureStore

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


def materialize(
    store: FeatureStore,
    end: datetime,
    *,
    start: datetime | None,
    lookback: timedelta,
    record: Path,
    progress: Progress | None = None,
) -> MaterializeResult:
    """Materialize every online feature view of ``store`` up to ``end`` (see the module docs)."""
    import numpy as np

    from modelyard.features.materialize.feast_writer import write_through_feast
    from modelyard.features.materialize.plan import plan_view
    from modelyard.features.materialize.redis_writer import Unsupported, redis_endpoint, write_to_redis
    from modelyard.features.materialize.select import CREATED, TS, select_winners
    from modelyard.features.materialize.state import record_watermarks, watermarks
    from modelyard.features.sqlite_codecs import guard_sqlite_codecs

    began = time.perf_counter()
    views = [v for v in store.list_feature_views() if v.online]
    marks = watermarks(record, store.project)
    new_marks: dict[str, int] = {}
    result = MaterializeResult({}, None, end)
    try:
        endpoint = redis_endpoint(store)
    except Unsupported as why:
        endpoint = None
        if getattr(store.config.online_store, "type", None) == "redis":
            logger.info("materialize: writing through Feast's Redis store (%s)", why)
    for view in views:
        plan = plan_view(view, end, start=start, lookback=lookback, watermark_ns=marks.get(view.name))
        result.starts[view.name] = plan.begin
        if plan.read_from_ns >= plan.end_ns and plan.created_after_ns is None:
            result.rows_by_view[view.name] = result.late_by_view[view.name] = result.read_by_view[
                view.name
            ] = 0
            continue
        t0 = time.perf_counter()
        selection = select_winners(
            store.config,
            view,
            begin_ns=plan.read_from_ns,
            end_ns=plan.end_ns,
            created_after_ns=plan.created_after_ns,
            oldest_ns=plan.oldest_ns,
            watermark=not plan.reload,  # a reload of an interval has not seen every row up to the end
        )
        table = selection.table
        ts = table.column(TS).to_numpy() if table.num_rows else np.zeros(0, dtype=np.int64)
        created = (
            table.column(CREATED).to_numpy() if CREATED in table.column_names and table.num_rows else None
        )
        new = plan.is_new(ts, created)
        total = table.num_rows
        done = 0

        def advance(n: int, _view: str = view.name, _total: int = total) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(_view, done, _total)

        guard_sqlite_codecs(store)
        mask = np.zeros(0, dtype=bool)
        if total and endpoint is not None:
            try:
                mask = write_to_redis(store, endpoint, view, table, new, advance)
            except Unsupported as why:
                logger.info("materialize %s: writing through Feast (%s)", view.name, why)
                done = 0
        if total and len(mask) != total:
            mask = write_through_feast(store, view, table, new, advance)
        written = int(mask.sum())
        store.registry.apply_materialization(view, store.project, plan.begin, plan.end)
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
    record_watermarks(record, store.project, new_marks)
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
