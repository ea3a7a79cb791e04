"""What a prediction request gets when the online store is unreachable (``serving.online_store_fallback``).

* ``error`` (the default): the request is answered 503, naming the store.
* ``cache``: every served row's entity keys (and request data, for on-demand views) are
  remembered with the last feature vector the store gave for them (:class:`LastVectors`,
  bounded, least recently seen forgotten first);
  while the store is down, a row is answered from the prediction cache by that vector. If a
  row was never seen, or its answer is no longer cached, the request is answered 503.
* ``default``: the model's declared ``missing_values.defaults`` stand in for every feature
  (features without a default are missing, and the missing-value policy applies as usual).

Answers given this way carry ``fallback: "cache"`` / ``"default"`` and are logged with mode
``fallback:cache`` / ``fallback:default``, so guards, feedback joins and monitors, which read
``live`` rows, never mistake them for the model answering on fresh features.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.errors import OnlineStoreUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.serving.models import ServedModel

FALLBACKS = ("error", "cache", "default")


class LastVectors:
    """A bounded map (model, entity key values) -> the last feature vector the store gave for them."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._vectors: OrderedDict[tuple[str, tuple[Any, ...]], tuple[Any, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def remember(
        self,
        model: str,
        rows: Sequence[tuple[Any, ...]],
        names: Sequence[str],
        columns: Mapping[str, Sequence[Any]],
    ) -> None:
        """Note the vector (``columns[names]``) of each row, keyed by its :func:`row_keys`."""
        feature_cols = [columns[f] for f in names]
        items = [(((model, row)), tuple(c[i] for c in feature_cols)) for i, row in enumerate(rows)]
        vectors = self._vectors
        with self._lock:
            for key, vector in items:
                vectors[key] = vector
                vectors.move_to_end(key)
            while len(vectors) > self.max_entries:
                vectors.popitem(last=False)

    def lookup(self, model: str, entity_rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...] | None]:
        """The remembered vector of each entity row (``None`` where never seen or forgotten)."""
        with self._lock:
            return [self._vectors.get((model, row)) for row in entity_rows]


def row_keys(
    served: ServedModel, entities: Mapping[str, Sequence[Any]], request_data: Mapping[str, Any] | None
) -> list[tuple[Any, ...]]:
    """What a remembered vector is found by: each row's entity key values, then its request data.

    A model with on-demand views computes some features from the request's own values (the
    trip's distance), so a vector is only valid again for the same entity *and* the same request
    values; the request fields come in the reader's order.
    """
    reader = served.reader
    cols = [list(entities[k]) for k in reader.entity_keys]
    fields = list(reader.request_fields)
    if fields:
        data = request_data or {}
        cols += [list(data.get(f, ())) for f in fields]
    return list(zip(*cols, strict=True))


def fallback_columns(
    served: ServedModel,
    entities: Mapping[str, Sequence[Any]],
    mode: str,
    last: LastVectors | None,
    down: OnlineStoreUnavailable,
    request_data: Mapping[str, Any] | None = None,
) -> dict[str, list[Any]]:
    """The columns (entity keys, then features) to answer with while the store is down.

    Raises ``down`` again, with the reason the fallback does not apply, when it cannot answer.
    """
    reader = served.reader
    n = reader.check_entities(entities)
    keys = list(reader.entity_keys)
    names = served.feature_names
    columns: dict[str, list[Any]] = {k: list(entities[k]) for k in keys}
    if mode == "default":
        defaults = served.config.missing_values.defaults
        if not defaults:
            raise OnlineStoreUnavailable(
                f"{down}; model {served.name!r} declares no missing_values.defaults to answer with "
                "(serving.online_store_fallback: default)"
            ) from None
        for name in names:
            columns[name] = [defaults.get(name)] * n
        return columns
    if mode == "cache" and last is not None:
        vectors = last.lookup(served.name, row_keys(served, entities, request_data))
        unseen = sum(v is None for v in vectors)
        if unseen:
            with_request = " with the same request data" if reader.request_fields else ""
            raise OnlineStoreUnavailable(
                f"{down}; no remembered feature vector for {unseen} of {n} row(s){with_request} "
                "(serving.online_store_fallback: cache)"
            ) from None
        for j, name in enumerate(names):
            columns[name] = [v[j] for v in vectors]  # type: ignore[index]
        return columns
    raise down
