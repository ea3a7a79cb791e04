"""``apply``, ``materialize`` and ``features`` on a fresh yard from ``modelyard init``, through real Feast."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from modelyard.cli.features import parse_entities
from modelyard.cli.init import create_yard
from modelyard.cli.main import main
from modelyard.errors import BadRequest


def _invoke(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A yard from the template, applied and materialized once for the module's tests."""
    path = tmp_path_factory.mktemp("cli_yard") / "yard"
    create_yard(path)
    code, out = _invoke(path, "apply")
    assert code == 0, out
    code, out = _invoke(path, "materialize", "--json")
    assert code == 0, out
    assert json.loads(out)["rows_by_view"] == {"driver_stats": 10}  # the latest row of each of 10 drivers
    return path


def test_apply_reports_what_it_registered(yard: Path) -> None:
    code, out = _invoke(yard, "apply", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["feature_views"] == ["driver_stats"] and data["feature_services"] == ["driver_quality"]
    assert "driver" in data["entities"]


def test_features_show_the_latest_materialized_row(yard: Path) -> None:
    source = pd.read_parquet(yard / "data" / "driver_stats.parquet")
    latest = source.sort_values("event_timestamp").groupby("driver_id").tail(1).set_index("driver_id")
    code, out = _invoke(
        yard, "features", "driver_churn", "-e", "driver_id=1003", "-e", "driver_id=1004", "--json"
    )
    assert code == 0, out
    rows = json.loads(out)
    assert [r["driver_id"] for r in rows] == [1003, 1004]
    for row in rows:
        expected = latest.loc[row["driver_id"]]
        assert list(row) == ["driver_id", "conv_rate", "acc_rate", "avg_daily_trips", "city"]
        for name in ("conv_rate", "acc_rate"):
            want = expected[name]
            assert (row[name] is None) if pd.isna(want) else row[name] == float(np.float32(want))
        assert row["avg_daily_trips"] == int(expected["avg_daily_trips"])
        assert row["city"] == expected["city"]


def test_features_table_and_unknown_entity(yard: Path) -> None:
    code, out = _invoke(yard, "features", "driver_churn", "--entity", "driver_id=424242")
    assert code == 0, out
    assert "driver_churn online vector" in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 3}
    assert set(lines) >= {"driver_id", "conv_rate", "acc_rate", "avg_daily_trips", "city"}
    assert "424242" in lines["driver_id"]
    for name in ("conv_rate", "acc_rate", "avg_daily_trips", "city"):
        assert lines[name].split("│")[2].strip() == "-"  # no value online: shown as missing


def test_features_errors(yard: Path) -> None:
    code, out = _invoke(yard, "features", "nope", "-e", "driver_id=1")
    assert code == 1 and out.startswith("Error: unknown model 'nope'") and "driver_churn" in out
    code, out = _invoke(yard, "features", "driver_churn", "-e", "driver_id=abc")
    assert code == 1 and "driver_id is INT64, 'abc' is not" in out
    code, out = _invoke(yard, "features", "driver_churn")
    assert code == 1 and "missing --entity for driver_id" in out


def test_materialize_is_incremental_and_checks_times(yard: Path) -> None:
    code, out = _invoke(yard, "materialize", "--json")
    assert code == 0, out
    assert json.loads(out)["rows_by_view"] == {"driver_stats": 0}  # nothing new since the fixture ran
    code, out = _invoke(yard, "materialize", "--start", "2024-05-02", "--end", "2024-05-01")
    assert code == 2 and "is not before --end" in out
    code, out = _invoke(yard, "materialize", "--end", "yesterday")
    assert code == 2 and "not an ISO 8601 time" in out


def test_materialize_interval_with_start(yard: Path) -> None:
    end = datetime.now(timezone.utc)
    start = end - pd.Timedelta(days=30)
    code, out = _invoke(
        yard, "materialize", "--start", start.isoformat(), "--end", end.isoformat(), "--no-progress"
    )
    assert code == 0, out
    assert "driver_stats" in out and "10" in out


def test_failed_apply_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "yard"
    create_yard(path)
    config = path / "modelyard.yaml"
    config.write_text(
        config.read_text().replace("feature_service: driver_quality", "feature_service: missing_fs")
    )
    code, out = _invoke(path, "apply")
    assert code == 1
    assert out.startswith("Error: ") and "missing_fs" in out and "driver_churn" in out
    assert not (path / "data" / "registry.db").exists()
    assert not (path / "data" / "online_store.db").exists()
    # and entity keys that do not match the service are caught as well
    config.write_text(
        config.read_text().replace("missing_fs", "driver_quality").replace("[driver_id]", "[rider_id]")
    )
    code, out = _invoke(path, "apply")
    assert code == 1 and "rider_id" in out and not (path / "data" / "registry.db").exists()
    shutil.rmtree(path)


@pytest.mark.parametrize(
    ("pairs", "types", "expected"),
    [
        (["a=1", "b=x"], {"a": "INT64", "b": "STRING"}, {"a": [1], "b": ["x"]}),
        (["a=1", "b=2", "a=3", "b=4"], {"a": "INT32", "b": "DOUBLE"}, {"a": [1, 3], "b": [2.0, 4.0]}),
        (["a=007", "b=true"], {"a": "STRING", "b": "BOOL"}, {"a": ["007"], "b": [True]}),
        (["a=x=y", "b=1"], {}, {"a": ["x=y"], "b": ["1"]}),
    ],
)
def test_parse_entities(pairs: list[str], types: dict[str, str], expected: dict[str, list]) -> None:
    assert parse_entities(pairs, ["a", "b"], types) == expected


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["a1"], "expected KEY=VALUE"),
        (["c=1", "a=1", "b=1"], "--entity c: not an entity key of this model; its keys are: a, b"),
        (["a=1"], "missing --entity for b"),
        (["a=1", "a=2", "b=1"], "same number of times"),
        (["a=1.5", "b=1"], "a is INT64, '1.5' is not"),
    ],
)
def test_parse_entities_errors(pairs: list[str], message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_entities(pairs, ["a", "b"], {"a": "INT64"})


def test_materialize_logs_rows_per_second_with_verbose(yard: Path, caplog: pytest.LogCaptureFixture) -> None:
    end = datetime.now(timezone.utc)
    start = end - pd.Timedelta(days=30)
    with caplog.at_level(logging.INFO, logger="modelyard.features.materialize"):
        code, out = _invoke(yard, "-v", "materialize", "--start", start.isoformat(), "--end", end.isoformat())
    assert code == 0, out
    lines = [r.getMessage() for r in caplog.records if r.name == "modelyard.features.materialize"]
    assert any(line.startswith("materialized driver_stats:") and "rows/s" in line for line in lines), lines
