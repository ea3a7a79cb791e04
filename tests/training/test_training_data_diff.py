"""models diff between versions trained on different snapshots: the row-level data diff, as JSON and tables."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from modelyard.cli.main import main
from modelyard.registry.training import train_model

MODEL = "trip_acceptance"


def test_diff_reports_rows_labels_features_and_code_hash(trained_repo) -> None:
    yard = trained_repo.yard
    original = trained_repo.results[MODEL].version
    entities = pd.read_parquet(trained_repo.repo / "data" / f"{MODEL}_entities.parquet")
    fewer = train_model(yard, MODEL, entities=entities.iloc[40:].reset_index(drop=True)).version
    assert fewer.snapshot_id != original.snapshot_id

    out = CliRunner().invoke(
        main,
        [
            "--repo",
            str(trained_repo.repo),
            "models",
            "diff",
            MODEL,
            str(original.version),
            str(fewer.version),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)["data"]
    assert data["keys"] == ["driver_id", "customer_id", "event_timestamp"]
    assert data["rows"]["removed"] == 40 and data["rows"]["added"] == 0
    assert data["label"]["name"] == "accepted" and data["label"]["changed_rows"] == 0
    assert {f["feature"] for f in data["features"]} == set(yard.features.feature_names(MODEL))
    moves = [f["movement"] for f in data["features"]]
    assert moves == sorted(moves, reverse=True)
    lineage = {c["name"] for c in json.loads(out.output)["lineage"]}
    assert "code_sha256" not in lineage  # same training code

    table = CliRunner(env={"COLUMNS": "200"}).invoke(
        main,
        [
            "--repo",
            str(trained_repo.repo),
            "models",
            "diff",
            MODEL,
            str(original.version),
            str(fewer.version),
        ],
    )
    assert table.exit_code == 0 and "features by movement" in table.output and "removed" in table.output
