"""The Registry facade over a real backend, artifact store and the python flavor."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from registry_models import ThresholdModel

from modelyard.config.schema import RetentionConfig
from modelyard.errors import (
    AliasNotFound,
    ArtifactIntegrityError,
    ModelNotFound,
    NoPreviousHolder,
    RegistryError,
    VersionNotFound,
)
from modelyard.monitoring.profile import Profile
from modelyard.registry.retention import alias_needs
from modelyard.registry.service import Registry
from modelyard.registry.types import AliasEvent, Snapshot

FRAME = pd.DataFrame({"x": [0.1, 0.6, 0.9, 0.3]})


def test_register_and_load_round_trip(registry: Registry) -> None:
    v = registry.register("m", ThresholdModel(0.5), params={"threshold": 0.5}, metrics={"acc": 0.75})
    assert (v.version, v.flavor, v.params, v.metrics) == (1, "python", {"threshold": 0.5}, {"acc": 0.75})
    assert len(v.artifact_sha256) == 64 and v.artifact_size > 0
    assert v.python_version and "pandas" in v.libraries and v.created_by
    predictor = registry.load_predictor(v)
    np.testing.assert_array_equal(predictor.predict(FRAME), [0, 1, 1, 0])
    # same bytes, new version, one stored artifact
    v2 = registry.register("m", ThresholdModel(0.5))
    assert v2.version == 2 and v2.artifact_uri == v.artifact_uri
    assert registry.get_version("m") == v2


def test_a_tampered_artifact_is_refused_and_names_the_version(registry: Registry) -> None:
    v = registry.register("m", ThresholdModel(0.5))
    stored = Path(registry.artifacts._path(v.artifact_uri))
    params = next(p for p in stored.rglob("*.json") if p.name == "params.json")
    params.write_text('{"threshold": 0.0, "feature": "x"}')
    with pytest.raises(ArtifactIntegrityError) as info:
        registry.load_predictor(v)
    assert "m v1" in str(info.value) and v.artifact_sha256 in str(info.value)
    assert registry.get_version("m", 1) == v  # nothing changed in the registry


def test_promote_and_rollback_fire_hooks_and_resolve_aliases(registry: Registry, recorder) -> None:
    for threshold in (0.2, 0.5, 0.8):
        registry.register("m", ThresholdModel(threshold))
    registry.promote("m", 1, reason="first", actor="ann")
    event = registry.promote("m", 3, reason="better", actor="ann")
    assert isinstance(event, AliasEvent) and (event.from_version, event.to_version) == (1, 3)
    assert registry.get_version("m", alias="production").version == 3
    back = registry.rollback("m", reason="latency", actor="bob")
    assert (back.from_version, back.to_version, back.reason) == (3, 1, "latency")
    assert [e.to_version for e in recorder.promoted] == [1, 3]
    assert recorder.rolled_back == [back]
    assert registry.aliases("m") == {"production": 1}
    assert [e.action for e in registry.history("m")] == ["promote", "promote", "rollback"]

    revision = registry.alias_revision()
    with pytest.raises(NoPreviousHolder):
        registry.rollback("m", reason="again")
    with pytest.raises(VersionNotFound):
        registry.promote("m", 42, reason="typo")
    with pytest.raises(ModelNotFound):
        registry.promote("other", 1, reason="typo")
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.promote("m", 2, reason=" ")
    with pytest.raises(AliasNotFound, match="production=v1"):
        registry.get_version("m", alias="staging")
    assert registry.alias_revision() == revision
    assert len(recorder.promoted) == 2 and len(recorder.rolled_back) == 1


def _snapshot(registry: Registry, sid: str, frame: pd.DataFrame, created: datetime) -> Snapshot:
    profile = Profile.from_frame(frame, features=list(frame.columns), categorical=["city"])
    return registry.backend.add_snapshot(
        Snapshot(
            id=sid,
            model="m",
            uri=registry.artifacts.uri_for(hashlib.sha256(sid.encode()).hexdigest()),
            content_sha256=sid * 8,
            rows=len(frame),
            start=datetime(2026, 1, 1, tzinfo=timezone.utc),
            end=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=len(frame) // 100),
            feature_refs=tuple(f"v:{c}" for c in frame.columns),
            schema_fingerprint="f" * 64,
            profile=profile.to_dict(),
            entities_uri=None,
            created_at=created,
            size=1000,
            store=registry.artifacts.canonical_url,
        )
    )


def test_diff_names_params_metrics_data_and_feature_shifts(registry: Registry) -> None:
    rng = np.random.default_rng(0)
    old = pd.DataFrame({"x": rng.normal(0, 1, 400), "city": rng.choice(["a", "b"], 400)})
    new = pd.DataFrame({"x": rng.normal(2, 1, 600), "city": rng.choice(["a", "b", "c"], 600), "y": 1.0})
    now = datetime.now(timezone.utc)
    sa_ = _snapshot(registry, "s1", old, now)
    _snapshot(registry, "s2", new, now)
    registry.register(
        "m", ThresholdModel(0.5), snapshot=sa_, params={"t": 0.5, "gone": 1}, metrics={"auc": 0.8}
    )
    registry.register("m", ThresholdModel(0.7), snapshot="s2", params={"t": 0.7}, metrics={"auc": 0.9})
    d = registry.diff("m", 1, 2)
    assert {c.name: (c.a, c.b, c.status) for c in d.params} == {
        "gone": (1, None, "removed"),
        "t": (0.5, 0.7, "changed"),
    }
    assert d.metrics[0].name == "auc" and d.metrics[0].delta == pytest.approx(0.1)
    assert {c.name for c in d.lineage} >= {"artifact_sha256", "snapshot_id"}
    assert d.features_added == ["v:y"] and d.features_removed == []
    assert {c.name: (c.a, c.b) for c in d.snapshot}["rows"] == (400, 600)
    mean = next(c for c in d.feature_stats if c.feature == "x" and c.statistic == "mean")
    assert mean.shift == pytest.approx(2, abs=0.3)
    assert any(c.feature == "city" and c.statistic == "share[c]" for c in d.feature_stats)
    as_dict = d.to_dict()
    assert as_dict["identical"] is False and as_dict["features"]["added"] == ["v:y"]
    same = registry.diff("m", 2, 2)
    assert same.identical and same.to_dict()["params"] == []


def test_gc_keeps_recent_and_alias_holders_and_removes_the_rest(registry: Registry) -> None:
    registry.retention = RetentionConfig(keep_last=1, keep_alias_days=0)
    versions = [registry.register("m", ThresholdModel(t)) for t in (0.1, 0.2, 0.3, 0.4, 0.5)]
    registry.promote("m", 1, reason="r")
    registry.promote("m", 2, reason="r")
    old = datetime.now(timezone.utc) - timedelta(days=3)
    _snapshot(registry, "orphan", FRAME.assign(city="a"), old)

    preview = registry.gc(dry_run=True)
    assert preview.versions == [("m", 3), ("m", 4)] and preview.snapshots == ["orphan"]
    assert sorted(u for u, _ in preview.artifacts) == sorted(
        [versions[2].artifact_uri, versions[3].artifact_uri]
    )
    assert [v.version for v in registry.list_versions("m")] == [1, 2, 3, 4, 5]  # dry run touched nothing

    report = registry.gc()
    assert report.to_dict()["versions"] == preview.to_dict()["versions"]
    assert report.bytes_freed == versions[2].artifact_size + versions[3].artifact_size
    assert [v.version for v in registry.list_versions("m")] == [1, 2, 5]
    assert not registry.artifacts.exists(versions[2].artifact_uri)
    assert registry.artifacts.exists(versions[0].artifact_uri)
    assert registry.list_snapshots() == []
    registry.rollback("m", reason="still possible after gc")
    # v2 no longer holds the alias and the window is 0 days: now it may go too
    assert registry.gc().versions == [("m", 2)]
    assert registry.gc().versions == []


def test_retention_keeps_versions_that_held_an_alias_within_the_window() -> None:
    now = datetime(2026, 6, 30, tzinfo=timezone.utc)

    def ev(to: int, days_ago: float, action: str = "promote") -> AliasEvent:
        return AliasEvent("m", "production", None, to, action, "a", "r", now - timedelta(days=days_ago))  # type: ignore[arg-type]

    events = [ev(1, 100), ev(2, 60), ev(3, 20), ev(4, 5)]
    needs = alias_needs(
        "m", [1, 2, 3, 4, 5, 6], events, {"production": 4}, keep_last=1, keep_alias_days=30, now=now
    )
    keep = {n.version for n in needs}
    # 6: newest; 4: holds it; 3: held it 20..5 days ago (also the rollback target); 2: held until 20 days ago
    assert keep == {2, 3, 4, 6}


def test_usage_counts_bytes_per_model(registry: Registry) -> None:
    v1 = registry.register("m", ThresholdModel(0.1))
    registry.register("m", ThresholdModel(0.1))  # same artifact: counted once
    v3 = registry.register("n", ThresholdModel(0.9))
    _snapshot(registry, "s1", FRAME.assign(city="a"), datetime.now(timezone.utc))
    log_dir = registry.logs_dir / "m"
    log_dir.mkdir(parents=True)
    (log_dir / "part-0.parquet").write_bytes(b"x" * 321)
    usage = {u.model: u for u in registry.usage()}
    assert usage["m"].artifacts_bytes == v1.artifact_size and usage["m"].versions == 2
    assert usage["m"].snapshots_bytes == 1000 and usage["m"].logs_bytes == 321
    assert usage["m"].total_bytes == v1.artifact_size + 1000 + 321
    assert usage["n"].artifacts_bytes == v3.artifact_size and usage["n"].logs_bytes == 0
