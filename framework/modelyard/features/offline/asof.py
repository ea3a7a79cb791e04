"""A Feast offline store doing exact point-in-time joins over Parquet file sources (DuckDB for materialization).

Feast's default file (Dask) store is slow and memory-hungry on a 100k-row entity frame, and both it
and Feast's DuckDB store lose the caller's row order; the file store also drops entity rows that
share join keys and timestamp. This store keeps Feast's semantics and interface while fixing that.
Its point-in-time join is :func:`modelyard.features.offline.pit.join` (the rules are there: one row
per entity row in order, exact nanosecond times, the ttl rule of :mod:`modelyard.features.expiry`,
the created-timestamp tie-break, then the row last in the source), the same join modelyard runs
when it reads Feast's registry itself, so training frames are equal whichever path built them.
Materialization (:func:`_pull`) breaks ties the same way (:data:`TIE_BREAK`). Relative
``FileSource`` paths are resolved against the repo, so a copied repo keeps working.

Select it in ``feature_store.yaml``::

    offline_store:
      type: modelyard.features.offline.asof.AsofDuckDBOfflineStore

It also serves materialization (``pull_latest_from_table_or_query``) and full reads
(``pull_all_from_table_or_query``). Only Parquet ``FileSource`` sources are supported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast.data_source import DataSource
from feast.feature_view import FeatureView
from feast.infra.offline_stores.file_source import FileSource, SavedDatasetFileStorage
from feast.infra.offline_stores.offline_store import OfflineStore, RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import infer_event_timestamp_from_entity_df
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from feast.saved_dataset import SavedDatasetStorage
from pydantic import StrictStr

from modelyard.errors import FeatureError
from modelyard.features.expiry import ttl_ns
from modelyard.features.offline.duck import (
    FILE,
    FILE_ROW,
    TIE_BREAK,
    connect,
    parquet_relation,
    select_columns,
)
from modelyard.features.offline.duck import epoch_ns as _epoch_ns
from modelyard.features.offline.duck import exact_integers as _exact_integers
from modelyard.features.offline.duck import fetch_arrow as _fetch_arrow
from modelyard.features.offline.duck import quote as _quote
from modelyard.features.offline.pit import ViewRead, join, source_path

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

logger = logging.getLogger(__name__)


class AsofDuckDBOfflineStoreConfig(FeastConfigBaseModel):
    """``offline_store`` settings in ``feature_store.yaml`` for :class:`AsofDuckDBOfflineStore`."""

    type: StrictStr = "modelyard.features.offline.asof.AsofDuckDBOfflineStore"
    threads: int | None = None
    """DuckDB worker threads (default: one per core)."""
    memory_limit: str | None = None
    """DuckDB memory limit, e.g. ``"2GB"`` (default: DuckDB's, 80% of RAM)."""


def _connect(config: RepoConfig) -> duckdb.DuckDBPyConnection:
    store_config = config.offline_store
    return connect(getattr(store_config, "threads", None), getattr(store_config, "memory_limit", None))


def _source_relation(config: RepoConfig, source: DataSource, *, positions: bool = False) -> str:
    """SQL reading ``source`` (a Parquet FileSource; a relative path is taken against the repo);
    ``positions``: see :func:`modelyard.features.offline.duck.parquet_relation`."""
    if not isinstance(source, FileSource):
        raise FeatureError(
            f"data source {source.name!r} is a {type(source).__name__}; the modelyard ASOF offline store "
            "reads Parquet FileSources only (choose another offline_store in feature_store.yaml)"
        )
    path = FileSource.get_uri_for_file_path(config.repo_path, source.path)
    return parquet_relation(path, source.name, positions=positions)


def _select(source: DataSource, names: list[str]) -> str:
    return select_columns((source.field_mapping or {}).items(), names)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _ns(value: datetime) -> int:
    """A datetime (naive means UTC) as integer nanoseconds since the epoch."""
    return int(pd.Timestamp(_utc(value)).value)


class AsofRetrievalJob(RetrievalJob):
    """A lazily computed result: ``compute`` returns a DataFrame or an Arrow table when first asked."""

    def __init__(
        self,
        compute: Callable[[], pd.DataFrame | pa.Table],
        *,
        full_feature_names: bool = False,
        on_demand_feature_views: list[OnDemandFeatureView] | None = None,
        metadata: RetrievalMetadata | None = None,
    ) -> None:
        super().__init__()
        self._compute = compute
        self._full_feature_names = full_feature_names
        self._odfvs = on_demand_feature_views or []
        self._metadata = metadata

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        result = self._compute()
        return result.to_pandas() if isinstance(result, pa.Table) else result

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        result = self._compute()
        return result if isinstance(result, pa.Table) else pa.Table.from_pandas(result, preserve_index=False)

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def persist(
        self, storage: SavedDatasetStorage, allow_overwrite: bool = False, timeout: int | None = None
    ) -> None:
        if not isinstance(storage, SavedDatasetFileStorage):
            raise FeatureError(f"cannot persist to {type(storage).__name__}; use SavedDatasetFileStorage")
        path = Path(storage.file_options.uri)
        if path.exists() and not allow_overwrite:
            raise FeatureError(f"{path} already exists; pass allow_overwrite=True to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.to_arrow(), path)


def _entity_frame(entity_df: Any) -> pd.DataFrame:
    if isinstance(entity_df, str):
        raise FeatureError(
            "the modelyard ASOF offline store takes the entity frame as a pandas DataFrame, not a SQL query"
        )
    if not isinstance(entity_df, pd.DataFrame):
        raise FeatureError(f"entity_df must be a pandas DataFrame, got {type(entity_df).__name__}")
    return entity_df


def _join_keys(view: FeatureView) -> dict[str, str]:
    """Feature-view join key -> entity frame column (the projection may rename it)."""
    return view.projection.join_key_map or {c.name: c.name for c in view.entity_columns}


def view_reads(
    config: RepoConfig, feature_views: list[FeatureView], feature_refs: list[str]
) -> list[ViewRead]:
    """What :func:`modelyard.features.offline.pit.join` reads of each view that ``feature_refs`` name."""
    reads: list[ViewRead] = []
    for view in feature_views:
        source = view.batch_source
        if source is None:
            raise FeatureError(f"feature view {view.name!r} has no batch source to read history from")
        prefix = view.projection.name_to_use()
        wanted = [r.split(":", 1)[1] for r in feature_refs if r.split(":", 1)[0] == prefix]
        if not wanted:
            continue
        if not isinstance(source, FileSource):
            raise FeatureError(
                f"data source {source.name!r} is a {type(source).__name__}; the modelyard ASOF offline store "
                "reads Parquet FileSources only (choose another offline_store in feature_store.yaml)"
            )
        reads.append(
            ViewRead(
                name=prefix,
                base=view.projection.name_alias or view.name,
                join_keys=tuple(_join_keys(view).items()),
                features=tuple(wanted),
                path=source_path(config.repo_path, source.path),
                source_name=source.name,
                timestamp_field=source.timestamp_field,
                created_column=source.created_timestamp_column or None,
                ttl_ns=ttl_ns(view.ttl),
                field_mapping=tuple((source.field_mapping or {}).items()),
            )
        )
    return reads


def point_in_time_join(
    config: RepoConfig,
    feature_views: list[FeatureView],
    feature_refs: list[str],
    entity_df: pd.DataFrame,
    *,
    full_feature_names: bool = False,
) -> pd.DataFrame:
    """The entity frame with each requested feature as of each row's event time (one row per row, in order).

    The join is :func:`modelyard.features.offline.pit.join`, the one modelyard runs when it
    reads the registry without Feast, so both paths give the same frame.
    """
    entity_df = entity_df.reset_index(drop=True)
    ts_col = infer_event_timestamp_from_entity_df(dict(zip(entity_df.columns, entity_df.dtypes, strict=True)))
    reads = view_reads(config, feature_views, feature_refs)
    return join(reads, entity_df, ts_col, full_feature_names=full_feature_names)


class AsofDuckDBOfflineStore(OfflineStore):
    """Feast offline store: DuckDB ASOF point-in-time joins over Parquet FileSources (see module docs)."""

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        frame = _entity_frame(entity_df)
        ts_col = infer_event_timestamp_from_entity_df(dict(zip(frame.columns, frame.dtypes, strict=True)))
        times = pd.to_datetime(frame[ts_col], utc=True)
        metadata = RetrievalMetadata(
            features=feature_refs,
            keys=[c for c in frame.columns if c != ts_col],
            min_event_timestamp=times.min() if len(times) else None,
            max_event_timestamp=times.max() if len(times) else None,
        )
        return AsofRetrievalJob(
            lambda: point_in_time_join(
                config, feature_views, feature_refs, frame, full_feature_names=full_feature_names
            ),
            full_feature_names=full_feature_names,
            on_demand_feature_views=OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry),
            metadata=metadata,
        )

    @staticmethod
    def offline_write_batch(
        config: RepoConfig,
        feature_view: FeatureView,
        table: pa.Table,
        progress: Any = None,
    ) -> None:
        """Append ``table`` (a push's rows) to the view's Parquet FileSource, atomically (write, then rename)."""
        source = feature_view.batch_source
        if not isinstance(source, FileSource):
            raise FeatureError(
                f"feature view {feature_view.name!r}: the modelyard ASOF offline store writes pushed rows to "
                f"Parquet FileSources only, not {type(source).__name__}"
            )
        path = FileSource.get_uri_for_file_path(config.repo_path, source.path)
        if "://" in path or Path(path).is_dir():
            raise FeatureError(
                f"feature view {feature_view.name!r}: pushed rows are appended to one local Parquet file; "
                f"{path} is not one (push to the online store only, or use a file source)"
            )
        target = Path(path)
        if target.exists():
            previous = pq.read_table(target)
            missing = [c for c in previous.column_names if c not in table.column_names]
            if missing:
                raise FeatureError(
                    f"pushed rows for {feature_view.name!r} lack column(s) {missing} of {target.name}"
                )
            table = pa.concat_tables([previous, table.select(previous.column_names).cast(previous.schema)])
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        if progress is not None:
            progress(table.num_rows)

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime,
        end_date: datetime,
    ) -> RetrievalJob:
        """The latest row per join key with ``start_date <= event time <= end_date`` (for materialization)."""
        return AsofRetrievalJob(
            lambda: _pull(
                config,
                data_source,
                join_key_columns,
                feature_name_columns,
                timestamp_field,
                created_timestamp_column,
                start_date,
                end_date,
                latest=True,
            )
        )

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        """Every row with event time in ``[start_date, end_date]`` (either bound optional)."""
        return AsofRetrievalJob(
            lambda: _pull(
                config,
                data_source,
                join_key_columns,
                feature_name_columns,
                timestamp_field,
                created_timestamp_column,
                start_date,
                end_date,
                latest=False,
            )
        )


def _pull(
    config: RepoConfig,
    source: DataSource,
    keys: list[str],
    features: list[str],
    ts_field: str,
    created: str | None,
    start: datetime | None,
    end: datetime | None,
    *,
    latest: bool,
) -> pa.Table:
    columns = list(dict.fromkeys([*keys, *features, ts_field] + ([created] if created else [])))
    ts = _epoch_ns(ts_field)  # exact, as the point-in-time join compares
    where: list[str] = []
    params: list[int] = []
    if start is not None:
        where.append(f"{ts} >= ?")
        params.append(_ns(start))
    if end is not None:
        where.append(f"{ts} <= ?")
        params.append(_ns(end))
    relation = _source_relation(config, source, positions=True)
    sql = f"SELECT * EXCLUDE ({FILE}, {FILE_ROW}) FROM (SELECT {_select(source, columns)}, {FILE}, {FILE_ROW} FROM {relation})"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # rows that tie on keys, event and created time: only the one the point-in-time join takes
    times = [ts] + ([_epoch_ns(created)] if created else [])
    partition = [_quote(k) for k in keys]
    if latest:
        order = ", ".join([f"{t} DESC" for t in times] + [TIE_BREAK])
        sql += f" QUALIFY row_number() OVER (PARTITION BY {', '.join(partition) or '1'} ORDER BY {order}) = 1"
    else:
        sql += f" QUALIFY row_number() OVER (PARTITION BY {', '.join(partition + times)} ORDER BY {TIE_BREAK}) = 1"
    con = _connect(config)
    try:
        result = _fetch_arrow(con, sql, params)
    finally:
        con.close()
    return _exact_integers(result)
