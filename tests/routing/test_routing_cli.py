"""The rollout commands end to end through click, on a yard with a SQLite registry and a Parquet log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from routing_helpers import add_versions, write_yard

from modelyard.cli.main import main
from modelyard.predictions.records import PredictionRecord
from modelyard.rollout.traffic import open_log_sink
from modelyard.yard import Yard


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = write_yard(
        tmp_path / "yard",
        registry_url=f"sqlite:///{tmp_path / 'reg.db'}",
        guards=[{"type": "error_rate", "max": 0.1, "min_samples": 20}],
    )
    yard = Yard.load(path)
    add_versions(yard.registry.backend, "rides", 2)
    yard.registry.promote("rides", 1, reason="first")
    yard.registry.close()
    return path


def run(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_deploy_steer_and_report(repo: Path) -> None:
    out = json.loads(
        run(
            repo,
            "deploy",
            "rides",
            "--router",
            "ab",
            "--variant",
            "v1=0.5",
            "--variant",
            "v2=0.5",
            "--salt",
            "exp",
            "--reason",
            "A/B",
            "--json",
        )
    )
    assert out["router"] == "ab" and out["revision"] == 1
    run(repo, "rollout", "weights", "rides", "v1=0.7", "v2=0.3", "--reason", "less v2")
    status = json.loads(run(repo, "rollout", "status", "rides", "--json"))
    assert [v["weight"] for v in status["variants"]] == [0.7, 0.3] and status["status"] == "active"
    run(repo, "rollout", "pause", "rides", "--reason", "wait")
    run(repo, "rollout", "resume", "rides", "--reason", "go")

    yard = Yard.load(repo)
    now = datetime.now(timezone.utc)  # after the weight change: the 0.7/0.3 period
    sink = open_log_sink(yard)
    rows = [
        PredictionRecord(
            request_id=f"a{i}",
            model="rides",
            version=1,
            prediction=i % 2,
            variant="v1",
            latency_ms=10.0,
            timestamp=now + timedelta(microseconds=i),
        ).to_row()
        for i in range(700)
    ] + [
        PredictionRecord(
            request_id=f"b{i}",
            model="rides",
            version=2,
            prediction=None if i % 3 == 0 else 1,
            error="boom" if i % 3 == 0 else None,
            variant="v2",
            latency_ms=12.0,
            timestamp=now + timedelta(microseconds=i),
        ).to_row()
        for i in range(300)
    ]
    sink.write(rows)
    sink.close()

    report = json.loads(run(repo, "experiment", "report", "rides", "--since", "1h", "--json"))
    assert [v["requests"] for v in report["variants"]] == [700, 300]
    err = next(c for c in report["comparisons"] if c["metric"] == "error_rate")
    assert err["verdict"] == "worse" and err["treatment"] == "v2"
    assert report["srm"]["mismatch"] is False  # 70/30 observed under the 0.7/0.3 weights
    table = run(repo, "experiment", "report", "rides", "--since", "1h")
    assert "worse" in table and "match the weights" in table and "WARNING" not in table

    tick = json.loads(run(repo, "rollout", "tick", "rides", "--json"))
    assert tick["action"] == "rollback" and tick["status"] == "rolled_back"
    history = json.loads(run(repo, "rollout", "history", "rides", "--json"))
    assert [h["status"] for h in history] == ["active", "active", "paused", "active", "rolled_back"]
    assert history[-1]["actor"] == "modelyard-rollout-policy"


def test_errors_are_actionable(repo: Path) -> None:
    result = CliRunner().invoke(main, ["--repo", str(repo), "rollout", "pause", "rides", "--reason", "x"])
    assert result.exit_code == 1 and "modelyard deploy rides" in result.output
    result = CliRunner().invoke(
        main,
        [
            "--repo",
            str(repo),
            "deploy",
            "rides",
            "--router",
            "ab",
            "--variant",
            "v1",
            "--variant",
            "v7",
            "--reason",
            "x",
        ],
    )
    assert result.exit_code == 1 and "7" in result.output
    result = CliRunner().invoke(
        main, ["--repo", str(repo), "deploy", "rides", "--router", "bandit", "--reason", "x"]
    )
    assert result.exit_code == 1 and "choose one of" in result.output


def test_deploy_with_guards_from_the_command_line(repo: Path) -> None:
    out = json.loads(
        run(
            repo,
            "deploy",
            "rides",
            "--router",
            "shadow",
            "--variant",
            "v1",
            "--shadow",
            "2",
            "--guard",
            '{"type": "latency", "max_ms": 50}',
            "--reason",
            "shadow v2",
            "--json",
        )
    )
    assert out["guards"] == [{"type": "latency", "max_ms": 50}]
    assert [(v["version"], v["mode"]) for v in out["variants"]] == [(1, "live"), (2, "shadow")]
    bad = CliRunner().invoke(
        main, ["--repo", str(repo), "deploy", "rides", "--guard", '{"type": "p99"}', "--reason", "x"]
    )
    assert bad.exit_code == 1 and "guards.0" in bad.output
