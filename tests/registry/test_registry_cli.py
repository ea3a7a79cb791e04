"""The registry commands, run through the real click entry point against a yard on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from registry_models import ThresholdModel

from modelyard.artifacts.store import ArtifactStore
from modelyard.cli.main import main
from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig


@pytest.fixture
def yard_dir(tmp_path: Path) -> Path:
    """A bare yard (no declared models) whose default registry holds two versions of ``m``."""
    (tmp_path / "feature_store.yaml").write_text("project: t\nprovider: local\n")
    (tmp_path / "modelyard.yaml").write_text("project: t\nretention: {keep_last: 1, keep_alias_days: 0}\n")
    home = tmp_path / ".modelyard"
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=f"sqlite:///{home / 'registry.db'}"))
    registry = Registry(backend, ArtifactStore(tmp_path / ".modelyard" / "artifacts"), host=make_host())
    registry.register("m", ThresholdModel(0.3), params={"threshold": 0.3}, metrics={"acc": 0.7})
    registry.register("m", ThresholdModel(0.6), params={"threshold": 0.6}, metrics={"acc": 0.8})
    registry.register("m", ThresholdModel(0.9), params={"threshold": 0.9}, metrics={"acc": 0.6})
    backend.close()
    return tmp_path


def run(yard_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--repo", str(yard_dir), *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_models_list_show_and_diff(yard_dir: Path) -> None:
    code, out = run(yard_dir, "models", "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "model": "m",
            "versions": 3,
            "latest": 3,
            "aliases": {},
            "registered": json.loads(out)[0]["registered"],
        }
    ]
    code, out = run(yard_dir, "models", "show", "m", "2", "--json")
    assert code == 0 and json.loads(out)["params"] == {"threshold": 0.6}
    code, out = run(yard_dir, "models", "diff", "m", "1", "2", "--json")
    diff = json.loads(out)
    assert {c["name"]: c["b"] for c in diff["params"]} == {"threshold": 0.6}
    assert diff["metrics"][0]["delta"] == pytest.approx(0.1)
    code, out = run(yard_dir, "models", "diff", "m", "1", "2")
    assert code == 0 and "threshold" in out and "parameters" in out


def test_promote_rollback_history_through_the_cli(yard_dir: Path) -> None:
    assert run(yard_dir, "promote", "m", "1", "--reason", "first", "--actor", "ann")[0] == 0
    code, out = run(yard_dir, "promote", "m", "2", "--reason", "better acc", "--actor", "ann")
    assert code == 0 and "v1 -> v2" in out
    code, out = run(yard_dir, "rollback", "m", "--reason", "oops", "--json")
    assert code == 0 and json.loads(out)["to_version"] == 1
    code, out = run(yard_dir, "models", "history", "m", "--json")
    assert [(e["action"], e["to_version"], e["reason"]) for e in json.loads(out)] == [
        ("promote", 1, "first"),
        ("promote", 2, "better acc"),
        ("rollback", 1, "oops"),
    ]
    code, out = run(yard_dir, "models", "history", "m")
    assert code == 0 and "rollback" in out and "oops" in out


def test_errors_are_one_line_and_change_nothing(yard_dir: Path) -> None:
    code, out = run(yard_dir, "rollback", "m", "--reason", "nothing to undo")
    assert code == 1 and out.startswith("Error: ") and "no version holds it" in out
    code, out = run(yard_dir, "promote", "m", "9", "--reason", "typo")
    assert code == 1 and "no version 9" in out
    code, out = run(yard_dir, "models", "show", "nope")
    assert code == 1 and "registered: m" in out
    assert json.loads(run(yard_dir, "models", "history", "m", "--json")[1]) == []


def test_gc_dry_run_then_gc_and_usage(yard_dir: Path) -> None:
    run(yard_dir, "promote", "m", "3", "--reason", "r")
    code, out = run(yard_dir, "gc", "--dry-run", "--json")
    preview = json.loads(out)
    assert (
        code == 0
        and preview["dry_run"]
        and preview["versions"] == [{"model": "m", "version": 1}, {"model": "m", "version": 2}]
    )
    assert json.loads(run(yard_dir, "models", "list", "--json")[1])[0]["versions"] == 3
    code, out = run(yard_dir, "gc")
    assert code == 0 and "deleted 2 version(s)" in out
    assert json.loads(run(yard_dir, "models", "list", "--json")[1])[0]["versions"] == 1
    code, out = run(yard_dir, "usage", "--json")
    usage = json.loads(out)
    assert code == 0 and usage[0]["model"] == "m" and usage[0]["artifacts_bytes"] > 0
    assert run(yard_dir, "usage")[0] == 0


def test_snapshots_list_empty_and_unknown(yard_dir: Path) -> None:
    code, out = run(yard_dir, "snapshots", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out = run(yard_dir, "snapshots", "show", "abc")
    assert code == 1 and "no snapshot 'abc'" in out
