"""Replay on the real example Feast repo: point-in-time features, two registered sklearn versions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from modelyard.errors import RolloutError
from modelyard.predictions.feedback import record_feedback
from modelyard.predictions.log import open_log_sink
from modelyard.predictions.records import PredictionRecord
from modelyard.rollout.replay import replay
from modelyard.yard import Yard

MODEL = "trip_acceptance"


@pytest.fixture
def yard(example_repo: Path):
    y = Yard.load(example_repo)
    yield y
    if "registry" in y.__dict__:
        y.registry.close()


def test_replay_rescores_logged_requests_with_point_in_time_features(yard: Yard) -> None:
    keys = list(yard.model(MODEL).entity_keys)
    entities = (
        pd.read_parquet(yard.path / "data" / f"{MODEL}_entities.parquet").tail(300).reset_index(drop=True)
    )
    frame = yard.features.training_frame(MODEL, entities[[*keys, "event_timestamp"]])
    names = yard.features.feature_names(MODEL)
    numeric = [n for n in names if pd.api.types.is_numeric_dtype(frame[n])]
    x = frame[names]
    y = entities["accepted"].astype(int)

    def pipeline():
        numeric_only = ColumnTransformer([("num", SimpleImputer(), numeric)])
        return make_pipeline(numeric_only, LogisticRegression(max_iter=500))

    good = pipeline().fit(x, y)
    # v2 is trained on flipped labels: it must disagree with v1 on most requests.
    flipped = pipeline().fit(x, 1 - y)
    v1 = yard.registry.register(MODEL, good)
    v2 = yard.registry.register(MODEL, flipped)

    # Log what v1 answered for these requests, at their original times, with labels as feedback.
    live_pred = good.predict(x)
    rows = [
        PredictionRecord(
            request_id=f"req-{i}",
            model=MODEL,
            version=v1.version,
            prediction=int(live_pred[i]),
            entities={k: entities.loc[i, k].item() for k in keys},
            variant=f"v{v1.version}",
            score=float(good.predict_proba(x.iloc[[i]])[0, 1]),
            timestamp=entities.loc[i, "event_timestamp"].to_pydatetime(),
        ).to_row()
        for i in range(len(entities))
    ]
    sink = open_log_sink(yard)
    sink.write(rows)
    sink.close()
    record_feedback(
        yard, MODEL, pd.DataFrame({"request_id": [f"req-{i}" for i in range(200)], "label": y[:200]})
    )

    since = entities["event_timestamp"].min().to_pydatetime() - timedelta(seconds=1)
    until = entities["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1)
    same = replay(yard, MODEL, v1.version, since=since, until=until)
    assert same.requests == 300 and same.live_versions == {f"v{v1.version}": 300}
    assert same.agreement == pytest.approx(1.0)  # same model, same point-in-time features
    assert same.score_difference["mean_abs"] == pytest.approx(0.0, abs=1e-9)
    assert same.labelled == 200 and same.candidate_metrics == same.live_metrics

    other = replay(yard, MODEL, v2.version, since=since, until=until)
    assert other.agreement < 0.2
    assert other.candidate_metrics["accuracy"] < same.candidate_metrics["accuracy"]
    assert np.isclose(other.live_metrics["accuracy"], same.live_metrics["accuracy"])

    with pytest.raises(RolloutError, match="no logged live requests"):
        replay(
            yard,
            MODEL,
            v2.version,
            since=datetime(2000, 1, 1, tzinfo=timezone.utc),
            until=datetime(2000, 1, 2, tzinfo=timezone.utc),
        )
