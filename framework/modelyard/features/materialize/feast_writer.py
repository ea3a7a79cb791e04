"""Write winners through Feast's own online store (any store Feast supports: SQLite, ...).

The rows are turned into protobufs by Feast's ``_convert_arrow_to_proto`` and written by the
store's ``online_write_batch``, exactly as ``feast materialize`` does; before that the stored
event time of each entity is read with ``online_read`` so that a winner never replaces a
newer row (Feast's SQLite store would overwrite it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.features.materialize.plan import replaces
from modelyard.features.materialize.select import CREATED, TS

if TYPE_CHECKING:
    import pyarrow as pa
    from feast import FeatureStore, FeatureView

BATCH = 10_000


def resolution_ns(store_type: str) -> int:
    """How finely an online store keeps event times (SQLite: whole seconds; Redis: microseconds)."""
    return 1000 if store_type == "redis" else 1_000_000_000


def write_through_feast(
    store: FeatureStore,
    view: FeatureView,
    table: pa.Table,
    new: np.ndarray,
    progress: Callable[[int], None],
) -> np.ndarray:
    """Write the winners in ``table`` that replace what is stored; return which were written."""
    from feast.utils import _convert_arrow_to_proto

    config = store.config
    online = store._get_provider().online_store
    key_types = {e.name: e.dtype.to_value_type() for e in view.entity_columns}
    data = table.drop_columns([c for c in (TS, CREATED) if c in table.column_names])
    winner_ns = table.column(TS).to_numpy()
    resolution = resolution_ns(getattr(config.online_store, "type", ""))
    written = np.zeros(table.num_rows, dtype=bool)
    for offset in range(0, table.num_rows, BATCH):
        batch = data.slice(offset, BATCH).combine_chunks().to_batches()[0]
        rows = _convert_arrow_to_proto(batch, view, key_types)
        stored = online.online_read(config, view, [row[0] for row in rows])
        present = np.array([ts is not None for ts, _ in stored], dtype=bool)
        stored_ns = np.array([_ns(ts) for ts, _ in stored], dtype=np.int64)
        chosen = replaces(
            stored_ns,
            present,
            winner_ns[offset : offset + len(rows)],
            new[offset : offset + len(rows)],
            resolution,
        )
        keep = [row for row, ok in zip(rows, chosen.tolist(), strict=True) if ok]
        if keep:
            _write(config, online, view, keep)
        written[offset : offset + len(rows)] = chosen
        progress(len(rows))
    return written


def _ns(value: Any) -> int:
    """A stored event time (datetime; naive as the store's own converter made it) in nanoseconds."""
    if value is None:
        return 0
    return round(value.timestamp() * 1_000_000) * 1000


def _write(config: Any, online: Any, view: FeatureView, rows: list[Any]) -> None:
    """``online_write_batch``; on Redis without Feast's own stale check, which :func:`replaces`
    already made (Feast's also refuses an equal event time, so it would drop a correction)."""
    store_config = config.online_store
    if not hasattr(store_config, "skip_dedup") or store_config.skip_dedup:
        online.online_write_batch(config, view, rows, progress=None)
        return
    store_config.skip_dedup = True
    try:
        online.online_write_batch(config, view, rows, progress=None)
    finally:
        store_config.skip_dedup = False
