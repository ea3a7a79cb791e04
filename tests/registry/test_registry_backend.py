"""The RegistryBackend contract, run against SQLite and the real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from modelyard.errors import ModelNotFound, NoPreviousHolder, RegistryError, SnapshotNotFound, VersionNotFound
from modelyard.registry.types import Snapshot, VersionDraft
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend


def draft(model: str = "m", **kw: object) -> VersionDraft:
    values: dict[str, object] = {
        "model": model,
        "flavor": "python",
        "artifact_uri": f"file:///a/{model}",
        "artifact_sha256": "a" * 64,
        "artifact_size": 123,
    }
    values.update(kw)
    return VersionDraft(**values)  # type: ignore[arg-type]


def snapshot(id_: str = "snap1", model: str = "m") -> Snapshot:
    return Snapshot(
        id=id_,
        model=model,
        uri=f"file:///s/{id_}",
        content_sha256="b" * 64,
        rows=100,
        start=datetime(2026, 1, 1, tzinfo=timezone.utc),
        end=datetime(2026, 2, 1, tzinfo=timezone.utc),
        feature_refs=("driver_stats:rating", "driver_stats:trips"),
        schema_fingerprint="c" * 64,
        profile={"format": 1, "features": []},
        entities_uri=f"file:///s/{id_}-entities",
        created_at=datetime(2026, 2, 2, tzinfo=timezone.utc),
        size=2048,
    )


def test_versions_are_numbered_per_model_and_keep_everything(backend: SqlAlchemyBackend) -> None:
    v1 = backend.add_version(
        draft(params={"depth": 3, "kind": "gbm", "flags": [1, 2]}, metrics={"auc": 0.91, "f1": 0.5})
    )
    v2 = backend.add_version(draft(git_commit="abc", git_dirty=True, libraries={"pandas": "2.3"}))
    other = backend.add_version(draft("n"))
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.params == {"depth": 3, "flags": [1, 2], "kind": "gbm"}
    assert v1.metrics == {"auc": 0.91, "f1": 0.5}
    assert v1.created_at.tzinfo is not None
    again = backend.get_version("m", 1)
    assert again == v1
    assert backend.get_version("m") == v2  # latest
    assert (v2.git_commit, v2.git_dirty, v2.libraries) == ("abc", True, {"pandas": "2.3"})
    assert [v.version for v in backend.list_versions("m")] == [1, 2]
    assert backend.list_models() == ["m", "n"]


def test_params_and_metrics_are_rows_that_sql_can_query(backend: SqlAlchemyBackend) -> None:
    backend.add_version(draft(params={"depth": 3}, metrics={"auc": 0.7}))
    backend.add_version(draft(params={"depth": 8}, metrics={"auc": 0.9}))
    with backend.engine.connect() as conn:
        good = (
            conn.execute(
                sa.text(
                    "SELECT v.version FROM versions v JOIN version_metrics m ON m.version_id = v.id "
                    "JOIN version_params p ON p.version_id = v.id "
                    "WHERE m.key = 'auc' AND m.value > 0.8 AND p.key = 'depth' AND p.value_num > 5"
                )
            )
            .scalars()
            .all()
        )
    assert good == [2]


def test_unknown_model_and_version_name_the_choices(backend: SqlAlchemyBackend) -> None:
    backend.add_version(draft())
    with pytest.raises(ModelNotFound, match=r"'nope'.*registered: m"):
        backend.get_version("nope")
    with pytest.raises(VersionNotFound, match=r"no version 7; versions: 1"):
        backend.get_version("m", 7)
    with pytest.raises(ModelNotFound):
        backend.aliases("nope")


def test_promote_rollback_walks_the_history_back(backend: SqlAlchemyBackend) -> None:
    for _ in range(3):
        backend.add_version(draft())
    for v in (1, 2, 3):
        backend.move_alias("m", "production", action="promote", to_version=v, actor="ann", reason=f"v{v}")
    back = backend.move_alias("m", "production", action="rollback", actor="bob", reason="bad latency")
    assert (back.from_version, back.to_version, back.action, back.actor) == (3, 2, "rollback", "bob")
    assert backend.aliases("m") == {"production": 2}
    assert backend.move_alias("m", "production", action="rollback", actor="bob", reason="r").to_version == 1
    history = backend.alias_history("m", "production")
    assert [(e.from_version, e.to_version, e.action) for e in history] == [
        (None, 1, "promote"),
        (1, 2, "promote"),
        (2, 3, "promote"),
        (3, 2, "rollback"),
        (2, 1, "rollback"),
    ]
    assert [e.reason for e in history][:3] == ["v1", "v2", "v3"]
    assert [e.revision for e in history] == sorted(e.revision for e in history)


def test_failed_moves_change_nothing(backend: SqlAlchemyBackend) -> None:
    backend.add_version(draft())
    backend.move_alias("m", "production", action="promote", to_version=1, actor="a", reason="first")
    revision = backend.alias_revision()
    history = backend.alias_history("m")
    with pytest.raises(NoPreviousHolder, match="v1 is its first holder"):
        backend.move_alias("m", "production", action="rollback", actor="a", reason="r")
    with pytest.raises(NoPreviousHolder, match="no version holds it"):
        backend.move_alias("m", "candidate", action="rollback", actor="a", reason="r")
    with pytest.raises(VersionNotFound, match="no version 9"):
        backend.move_alias("m", "production", action="promote", to_version=9, actor="a", reason="r")
    with pytest.raises(ModelNotFound):
        backend.move_alias("zz", "production", action="promote", to_version=1, actor="a", reason="r")
    assert backend.alias_revision() == revision
    assert backend.alias_history("m") == history
    assert backend.aliases("m") == {"production": 1}


def test_alias_revision_grows_with_every_move_of_any_model(backend: SqlAlchemyBackend) -> None:
    backend.add_version(draft("a"))
    backend.add_version(draft("b"))
    start = backend.alias_revision()
    backend.move_alias("a", "production", action="promote", to_version=1, actor="x", reason="r")
    backend.move_alias("b", "shadow", action="promote", to_version=1, actor="x", reason="r")
    assert backend.alias_revision() == start + 2
    assert backend.aliases("b") == {"shadow": 1}


def test_delete_version_refuses_a_current_alias_holder(backend: SqlAlchemyBackend) -> None:
    backend.add_version(draft(params={"a": 1}, metrics={"m": 1.0}))
    backend.add_version(draft())
    backend.move_alias("m", "production", action="promote", to_version=2, actor="x", reason="r")
    with pytest.raises(RegistryError, match="holds the alias"):
        backend.delete_version("m", 2)
    backend.delete_version("m", 1)
    assert [v.version for v in backend.list_versions("m")] == [2]
    # numbers are never reused
    assert backend.add_version(draft()).version == 3


def test_snapshots_are_stored_once_per_id(backend: SqlAlchemyBackend) -> None:
    first = backend.add_snapshot(snapshot())
    assert first == snapshot()
    changed = Snapshot(**{**snapshot().__dict__, "rows": 5})
    assert backend.add_snapshot(changed).rows == 100  # same id: the stored record wins
    backend.add_snapshot(snapshot("snap2", model="other"))
    assert [s.id for s in backend.list_snapshots("m")] == ["snap1"]
    assert len(backend.list_snapshots()) == 2
    with pytest.raises(SnapshotNotFound, match="nope"):
        backend.get_snapshot("nope")
    backend.delete_snapshot("snap1")
    with pytest.raises(SnapshotNotFound):
        backend.get_snapshot("snap1")


def test_deployment_state_and_its_append_only_history(backend: SqlAlchemyBackend) -> None:
    assert backend.get_deployment("m") is None
    assert (
        backend.put_deployment("m", {"variants": [{"name": "a", "version": 1}]}, actor="x", reason="start")
        == 1
    )
    assert backend.put_deployment("m", {"variants": []}, actor="y", reason="stop") == 2
    assert backend.get_deployment("m") == {"variants": []}
    history = backend.deployment_history("m")
    assert [(h["revision"], h["actor"], h["reason"]) for h in history] == [
        (1, "x", "start"),
        (2, "y", "stop"),
    ]
    assert history[0]["state"] == {"variants": [{"name": "a", "version": 1}]}
    assert backend.deployment_history("other") == []


def test_monitor_results_round_trip(backend: SqlAlchemyBackend) -> None:
    t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    backend.add_monitor_results(
        [
            {
                "model": "m",
                "version": 1,
                "variant": "a",
                "monitor": "drift",
                "detector": "ks",
                "feature": "rating",
                "statistic": "ks",
                "p_value": 0.001,
                "score": 0.4,
                "threshold": 0.05,
                "drifted": True,
                "window_start": t0,
                "window_end": t0 + timedelta(hours=1),
                "n_reference": 1000,
                "n_current": 200,
                "details": {"bins": [1, 2]},
                "created_at": t0,
            },
            {"model": "m", "monitor": "drift", "detector": "ks", "created_at": t0 + timedelta(days=1)},
        ]
    )
    rows = backend.monitor_results("m")
    assert len(rows) == 2
    assert rows[0]["details"] == {"bins": [1, 2]} and rows[0]["drifted"] is True
    assert rows[0]["window_end"] == t0 + timedelta(hours=1)
    assert [r["created_at"] for r in backend.monitor_results("m", since=t0 + timedelta(hours=2))] == [
        t0 + timedelta(days=1)
    ]
    with pytest.raises(RegistryError, match="unknown column"):
        backend.add_monitor_results([{"model": "m", "monitor": "x", "detector": "y", "bogus": 1}])
