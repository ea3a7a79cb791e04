"""Feedback: validation, storage (Parquet and PostgreSQL), the join to the log, the HTTP route and CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from logging_helpers import T0, make_records, write_tiny_yard

from modelyard.errors import BadRequest, ModelNotFound
from modelyard.predictions.feedback import join_feedback, read_feedback, record_feedback
from modelyard.predictions.log import open_prediction_logger
from modelyard.predictions.records import PredictionRecord
from modelyard.yard import Yard


def _log_predictions(yard: Yard) -> list[PredictionRecord]:
    """Driver 1000 predicted at T0, T0+10min, T0+20min (live) and a shadow of the second request."""
    live = make_records(3, step_s=600)
    for r in live:
        r.entities = {"driver_id": 1000}
    shadow = PredictionRecord(
        request_id=live[1].request_id,
        timestamp=live[1].timestamp,
        model="trip_acceptance",
        version=4,
        variant="challenger",
        mode="shadow",
        entities={"driver_id": 1000},
        prediction=0,
    )
    other = make_records(1, start=T0 + timedelta(minutes=5))[0]  # driver 1000 + 0 -> rename
    other.entities = {"driver_id": 2000}
    with open_prediction_logger(yard) as logger:
        for r in [*live, shadow, other]:
            logger.log(r)
    return [*live, shadow, other]


@pytest.fixture
def yard(tmp_path: Path) -> Yard:
    return Yard.load(write_tiny_yard(tmp_path / "yard"))


def _check_join(yard: Yard) -> None:
    live0, live1, live2, shadow, other = _log_predictions(yard)
    n = record_feedback(
        yard,
        "trip_acceptance",
        [
            {"request_id": live0.request_id, "label": 1},
            # entity + time between the 2nd and 3rd prediction: labels the 2nd (and its shadow)
            {"driver_id": 1000, "event_timestamp": (T0 + timedelta(minutes=15)).isoformat(), "label": 0},
            {"entities": {"driver_id": 2000}, "event_timestamp": T0 + timedelta(minutes=6), "label": True},
        ],
    )
    assert n == 3
    joined = join_feedback(yard, "trip_acceptance")
    labels = dict(zip(zip(joined["request_id"], joined["mode"], strict=True), joined["label"], strict=True))
    assert labels == {
        (live0.request_id, "live"): 1.0,
        (live1.request_id, "live"): 0.0,
        (shadow.request_id, "shadow"): 0.0,
        (other.request_id, "live"): 1.0,
    }
    assert live2.request_id not in set(joined["request_id"])  # never labelled from the past
    assert "driver_id" in joined.columns and "conv_rate" in joined.columns
    # a later correction for the same request wins
    record_feedback(yard, "trip_acceptance", [{"request_id": live0.request_id, "label": 0}])
    joined = join_feedback(yard, "trip_acceptance")
    assert joined.loc[joined["request_id"] == live0.request_id, "label"].tolist() == [0.0]
    everything = join_feedback(yard, "trip_acceptance", labelled_only=False)
    assert len(everything) == 5 and everything["label"].isna().sum() == 1


def test_feedback_by_request_id_and_by_entity_time_joins_to_the_parquet_log(yard: Yard) -> None:
    _check_join(yard)
    assert list((yard.home / "feedback" / "trip_acceptance").glob("feedback-*.parquet"))


@pytest.mark.postgres
def test_feedback_goes_to_the_log_database_when_the_log_is_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    yard = Yard.load(
        write_tiny_yard(tmp_path, log_yaml=f"    plugin: postgres\n    settings: {{url: '{postgres_url}'}}\n")
    )
    _check_join(yard)
    assert not (yard.home / "feedback").exists()
    assert len(read_feedback(yard, "trip_acceptance")) == 4


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"request_id": "r1"}, "'label' is missing"),
        ({"request_id": "r1", "label": 1, "lable": 2}, "unknown field"),
        ({"label": 1}, "missing: driver_id"),
        ({"entities": {"customer_id": 5}, "label": 1}, "customer_id are not entity keys"),
        ({"driver_id": 1, "event_timestamp": "yesterday-ish", "label": 1}, "is not a time"),
        ({"request_id": "r1", "label": float("inf")}, "not a finite number"),
        ({"request_id": "r1", "label": 10**400}, "not a finite number"),
        ({"entities": "driver_id=1", "label": 1}, "'entities' must be an object"),
        ({"entities": [1], "label": 1}, "'entities' must be an object"),
        ({"driver_id": {"$gt": 1}, "label": 1}, "must be a string or a number"),
        ({"driver_id": 1, "event_timestamp": "", "label": 1}, "is not a time"),
        ({"driver_id": 1, "event_timestamp": 10**30, "label": 1}, "is not a time"),
        ({"driver_id": 1, "event_timestamp": {"at": 1}, "label": 1}, "must be an ISO 8601 time"),
        ({"request_id": "r1", "label": 0.7}, "is a classifier"),
        ({"request_id": "r1", "label": [1]}, "must be a number or a string"),
        ({"request_id": ["r1"], "label": 1}, "request_id must be a string"),
        ({"request_id": "r" * 257, "label": 1}, "longer than 256"),
    ],
)
def test_bad_feedback_rows_are_rejected_naming_the_problem(yard: Yard, row: dict, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        record_feedback(yard, "trip_acceptance", [{"request_id": "ok", "label": 1}, row])
    assert read_feedback(yard, "trip_acceptance").empty  # all or nothing


@pytest.mark.postgres
def test_postgres_feedback_store_takes_nul_and_surrogates(tmp_path: Path, postgres_url: str) -> None:
    """A NUL in a request id was a 500 (PostgreSQL text cannot hold it): it is cleaned, as the log cleans it."""
    yard = Yard.load(
        write_tiny_yard(tmp_path, log_yaml=f"    plugin: postgres\n    settings: {{url: '{postgres_url}'}}\n")
    )
    record_feedback(
        yard,
        "trip_acceptance",
        [{"request_id": "a\x00b", "label": "x\x00\ud800"}, {"driver_id": "\x00", "label": 1}],
    )
    frame = read_feedback(yard, "trip_acceptance")
    assert frame["request_id"].tolist()[0] == "a\ufffdb" and frame["label"].tolist()[0] == "x\ufffd\ufffd"


def test_unknown_model_is_named(yard: Yard) -> None:
    with pytest.raises(ModelNotFound, match="trip_accept"):
        record_feedback(yard, "trip_accept", [{"request_id": "r", "label": 1}])


def test_string_labels_are_kept(yard: Yard) -> None:
    record_feedback(yard, "trip_acceptance", pd.DataFrame({"request_id": ["a", "b"], "label": ["yes", "no"]}))
    assert read_feedback(yard, "trip_acceptance")["label"].tolist() == ["yes", "no"]


def test_http_route(yard: Yard) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modelyard.serving.routes_feedback import feedback_router

    app = FastAPI()
    app.include_router(feedback_router(yard))
    client = TestClient(app)
    ok = client.post(
        "/v1/models/trip_acceptance/feedback", json={"feedback": [{"request_id": "a", "label": 1}]}
    )
    assert ok.status_code == 200 and ok.json() == {"model": "trip_acceptance", "recorded": 1}
    single = client.post("/v1/models/trip_acceptance/feedback", json={"driver_id": 7, "label": 0})
    assert single.json()["recorded"] == 1
    bad = client.post("/v1/models/trip_acceptance/feedback", json=[{"label": 1}])
    assert bad.status_code == 400 and "driver_id" in bad.json()["error"]
    broken = client.post(
        "/v1/models/trip_acceptance/feedback",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    unknown = client.post("/v1/models/nope/feedback", json=[{"request_id": "a", "label": 1}])
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    assert len(read_feedback(yard, "trip_acceptance")) == 2
    assert "/v1/models/{model}/feedback" in app.openapi()["paths"]


def test_cli_reads_csv_and_parquet(yard: Yard, tmp_path: Path) -> None:
    from modelyard.cli.main import main

    csv = tmp_path / "labels.csv"
    pd.DataFrame(
        {"driver_id": [1, 2], "event_timestamp": ["2026-03-01T12:00:00Z"] * 2, "label": [0, 1]}
    ).to_csv(csv, index=False)
    parquet = tmp_path / "labels.parquet"
    pd.DataFrame({"request_id": ["x"], "label": [1.0]}).to_parquet(parquet)
    runner = CliRunner()
    for path, n in ((csv, 2), (parquet, 1)):
        result = runner.invoke(
            main, ["--repo", str(yard.path), "feedback", "trip_acceptance", str(path), "--json"]
        )
        assert result.exit_code == 0, result.output
        assert f'"recorded": {n}' in result.output
    bad = runner.invoke(main, ["--repo", str(yard.path), "feedback", "nope", str(csv)])
    assert bad.exit_code == 1 and "unknown model 'nope'" in bad.output
    assert len(read_feedback(yard, "trip_acceptance")) == 3


def test_attach_labels_to_an_empty_window(yard: Yard) -> None:
    from modelyard.predictions.feedback import attach_labels

    record_feedback(yard, "trip_acceptance", [{"request_id": "a", "label": 1}])
    out = attach_labels(pd.DataFrame(), read_feedback(yard, "trip_acceptance"), ["driver_id"])
    assert out.empty and {"label", "feedback_at"} <= set(out.columns)
    assert join_feedback(yard, "trip_acceptance").empty  # nothing logged yet
