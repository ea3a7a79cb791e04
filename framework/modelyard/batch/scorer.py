"""Scoring one chunk: point-in-time features for each row's timestamp, then the model's predictions.

:class:`ChunkScorer` is what both engines run: in this process for the local engine, in
each Dask worker for the Dask engine (:func:`scorer_for` keeps one per worker thread, so
Feast and the model are loaded once per worker, not once per chunk).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from modelyard.artifacts.flavor import predict_with_proba

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from modelyard.artifacts.flavor import Predictor
    from modelyard.yard import Yard

#: columns batch scoring adds to the input's
OUTPUT_COLUMNS = ("prediction", "score", "model", "version")


class ChunkScorer:
    """Scores chunks of entity rows with one model version.

    ``predictor`` may be a :class:`~concurrent.futures.Future` of one (see :func:`load_scorer`
    with ``background=True``): it is first waited for when a chunk's features are joined.
    """

    def __init__(
        self,
        yard: Yard,
        model: str,
        version: int,
        predictor: Predictor | Future[Predictor],
        *,
        timestamp: str,
    ) -> None:
        self.yard = yard
        self.model = model
        self.version = version
        self.timestamp = timestamp
        self._predictor = predictor
        self._feature_names: list[str] | None = None

    @property
    def predictor(self) -> Predictor:
        """The model (waits for it, and raises its loading error, if it is still loading)."""
        if isinstance(self._predictor, Future):
            self._predictor = self._predictor.result()
        return self._predictor

    @property
    def feature_names(self) -> list[str]:
        """The feature columns in the order the model takes them."""
        if self._feature_names is None:
            names = self.predictor.feature_names or self.yard.features.feature_names(self.model)
            self._feature_names = list(names)
        return self._feature_names

    def features(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The point-in-time training frame of the chunk (features as of each row's timestamp)."""
        return self.yard.features.training_frame(self.model, chunk, timestamp=self.timestamp)

    def score(self, chunk: pd.DataFrame) -> pa.Table:
        """The chunk's columns plus prediction (+ score for binary classifiers), model, version."""
        return next(self.score_parts(chunk, max(1, len(chunk))))

    def score_parts(self, chunk: pd.DataFrame, part_rows: int) -> Iterator[pa.Table]:
        """:meth:`score` of ``chunk`` as consecutive slices of at most ``part_rows`` rows.

        The chunk is joined once (a point-in-time join has a fixed cost per call, so the
        chunk stays the unit of joining); predictions are made and yielded slice by slice,
        so a consumer can write slice ``k`` while slice ``k + 1`` is predicted. The values
        equal those of :meth:`score`: like chunking, this relies on a model predicting each
        row on its own.
        """
        rows = chunk.reset_index(drop=True)
        if not len(rows):
            yield self._finish(rows.copy(), None)
            return
        inputs = self.features(rows)[self.feature_names]
        for start in range(0, len(rows), part_rows):
            stop = start + part_rows
            yield self._finish(rows.iloc[start:stop].copy(), inputs.iloc[start:stop])

    def _finish(self, out: pd.DataFrame, inputs: pd.DataFrame | None) -> pa.Table:
        """``out`` (a copy of input rows) with the output columns for the feature rows ``inputs``, as Arrow.

        ``model`` and ``version`` are the same in every row: they are built by Arrow, not as
        pandas columns, whose text would be converted object by object for the writer.
        """
        import numpy as np
        import pyarrow as pa

        if inputs is None:
            out["prediction"] = []
        else:
            prediction, proba = predict_with_proba(self.predictor, inputs)
            out["prediction"] = prediction
            if proba is not None:
                out["score"] = proba
        table = pa.Table.from_pandas(out, preserve_index=False)
        rows = table.num_rows
        table = table.append_column("model", pa.repeat(pa.scalar(self.model, pa.string()), rows))
        return table.append_column("version", pa.array(np.full(rows, self.version, dtype=np.int64)))


def load_scorer(
    yard: Yard, model: str, version: int, *, timestamp: str, background: bool = False
) -> ChunkScorer:
    """A scorer for ``model`` version ``version`` from the yard's registry (artifact hash checked).

    With ``background``, the artifact is fetched and loaded in a thread while the caller goes
    on (reading and joining the first chunk); a loading error is raised when the scorer
    first needs the model.
    """
    registry = yard.registry
    model_version = registry.get_version(model, version)
    if not background:
        return ChunkScorer(yard, model, version, registry.load_predictor(model_version), timestamp=timestamp)
    loaded: Future[Predictor] = Future()

    def load() -> None:
        try:
            loaded.set_result(registry.load_predictor(model_version))
        except BaseException as exc:  # noqa: BLE001 - raised to the scorer's caller by Future.result()
            loaded.set_exception(exc)

    threading.Thread(target=load, name="modelyard-batch-load-model", daemon=True).start()
    return ChunkScorer(yard, model, version, loaded, timestamp=timestamp)


_LOCAL = threading.local()
#: scorers every thread of this process may share (see :func:`preload`), by (repo, model, version, timestamp)
_SHARED: dict[tuple[str, str, int, str], ChunkScorer] = {}
_SHARED_LOCK = threading.Lock()


def preload(repo: str, model: str, version: int, timestamp: str) -> ChunkScorer:
    """Load the yard, the model and the feature plan once for this process (a Dask worker's start).

    When the model's features are read without Feast (:meth:`FeatureFacade.plan`), the scorer
    holds no Feast object and every worker thread shares it; otherwise it serves only the
    thread that loaded it and :func:`scorer_for` loads one per thread, as before.
    """
    from modelyard.yard import Yard

    key = (repo, model, version, timestamp)
    with _SHARED_LOCK:
        scorer = _SHARED.get(key)
        if scorer is None:
            scorer = load_scorer(Yard.load(repo), model, version, timestamp=timestamp)
            scorer.feature_names  # noqa: B018 - resolve the model and the feature schema now
            if scorer.yard.features.plan(model) is not None:
                _SHARED[key] = scorer
        return scorer


def scorer_for(repo: str, model: str, version: int, timestamp: str) -> ChunkScorer:
    """This process's or this thread's scorer for (repo, model, version), loaded on first use.

    Shared by the process when it reads features without Feast (see :func:`preload`); else
    per thread: a Feast FeatureStore is not safe to share between threads, and a threaded
    Dask worker runs several tasks at once.
    """
    key = (repo, model, version, timestamp)
    shared = _SHARED.get(key)
    if shared is not None:
        return shared
    cache: dict[tuple[str, str, int, str], ChunkScorer] = _LOCAL.__dict__.setdefault("scorers", {})
    scorer = cache.get(key)
    if scorer is None:
        scorer = preload(repo, model, version, timestamp)
        cache[key] = scorer
    return scorer


def score_chunk_task(repo: str, model: str, version: int, timestamp: str, chunk: Any) -> Any:
    """The Dask task: score one chunk in a worker, as an Arrow table.

    Arrow, not pandas (as the local engine): the conversion the writer needs happens here, in
    parallel on the workers, and a table travels as a few buffers where a frame's text columns
    are pickled value by value, so the client (which writes every row) does less per row.
    """
    return scorer_for(repo, model, version, timestamp).score(chunk)
