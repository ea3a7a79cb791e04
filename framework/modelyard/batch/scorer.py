"""Scoring one chunk: point-in-time features for each row's timestamp, then the model's predictions.

:class:`ChunkScorer` is what both engines run: in this process for the local engine, in
each Dask worker for the Dask engine (:func:`scorer_for` keeps one per worker process, so
Feast and the model are loaded once per worker, not once per chunk).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from modelyard.serving.flavor import Predictor
    from modelyard.yard import Yard

#: columns batch scoring adds to the input's
OUTPUT_COLUMNS = ("prediction", "score", "model", "version")


class ChunkScorer:
    """Scores chunks of entity rows with one model version."""

    def __init__(self, yard: Yard, model: str, version: int, predictor: Predictor, *, timestamp: str) -> None:
        self.yard = yard
        self.model = model
        self.version = version
        self.predictor = predictor
        self.timestamp = timestamp
        self.feature_names = list(predictor.feature_names or yard.features.feature_names(model))

    def features(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The point-in-time training frame of the chunk (features as of each row's timestamp)."""
        return self.yard.features.training_frame(self.model, chunk, timestamp=self.timestamp)

    def score(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk's columns plus prediction (+ score for binary classifiers), model, version."""
        out = chunk.reset_index(drop=True)
        if not len(out):
            out = out.copy()
            out["prediction"] = []
        else:
            frame = self.features(out)
            inputs = frame[self.feature_names]
            out = out.copy()
            out["prediction"] = self.predictor.predict(inputs)
            proba = self.predictor.predict_proba(inputs)
            if proba is not None:
                out["score"] = proba
        out["model"] = self.model
        out["version"] = self.version
        return out


def load_scorer(yard: Yard, model: str, version: int, *, timestamp: str) -> ChunkScorer:
    """A scorer for ``model`` version ``version`` from the yard's registry (artifact hash checked)."""
    registry = yard.registry
    predictor = registry.load_predictor(registry.get_version(model, version))
    return ChunkScorer(yard, model, version, predictor, timestamp=timestamp)


_LOCAL = threading.local()


def scorer_for(repo: str, model: str, version: int, timestamp: str) -> ChunkScorer:
    """This thread's scorer for (repo, model, version), loaded on first use.

    Per thread, not per process: a Feast FeatureStore is not safe to share between threads,
    and a threaded Dask worker runs several tasks at once.
    """
    cache: dict[tuple[str, str, int, str], ChunkScorer] = _LOCAL.__dict__.setdefault("scorers", {})
    key = (repo, model, version, timestamp)
    scorer = cache.get(key)
    if scorer is None:
        from modelyard.yard import Yard

        scorer = cache[key] = load_scorer(Yard.load(repo), model, version, timestamp=timestamp)
    return scorer


def score_chunk_task(repo: str, model: str, version: int, timestamp: str, chunk: Any) -> Any:
    """The Dask task: score one chunk in a worker."""
    return scorer_for(repo, model, version, timestamp).score(chunk)
