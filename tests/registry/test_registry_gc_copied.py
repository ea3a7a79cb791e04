"""A yard copied with ``cp -r`` (or checked out elsewhere over the same registry) whose rows an
older modelyard wrote with absolute artifact paths: the copy loads every version, and gc in the
copy re-resolves those rows by content hash in its own store, keeps what is used and refuses
(deleting nothing) only for an object its store does not hold.

Runs on a SQLite registry inside the yard (copied with it) and on the real PostgreSQL (shared).
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from registry_models import ThresholdModel

from modelyard.artifacts.store import ArtifactStore, parse_artifact_uri
from modelyard.cli.main import main
from modelyard.config.schema import RetentionConfig
from modelyard.errors import GcRefused
from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard.yard import Yard
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig

FRAME = pd.DataFrame({"x": [0.05, 0.15, 0.25, 0.35, 0.45, 0.55]})


def _yard(path: Path, db: str | None) -> Path:
    path.mkdir(parents=True)
    (path / "feature_store.yaml").write_text("project: copied\nprovider: local\n")
    registry = f"registry:\n  plugin: sqlalchemy\n  settings: {{url: '{db}'}}\n" if db else ""
    (path / "modelyard.yaml").write_text(
        "project: copied\n" + registry + "retention: {keep_last: 1, keep_alias_days: 0}\n"
    )
    return path


def _cli(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_copied_yard_with_absolute_uris_loads_its_versions_and_gc_keeps_them(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shared = request.getfixturevalue("postgres_url") if database == "postgres" else None
    original = _yard(tmp_path / "original", shared)
    url = shared or f"sqlite:///{original / '.modelyard' / 'registry.db'}"
    (original / ".modelyard").mkdir()
    store = ArtifactStore(original / ".modelyard" / "artifacts")
    registry = Registry(SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url)), store, host=make_host())
    v = [registry.register("m", ThresholdModel(t)) for t in (0.1, 0.2, 0.3, 0.4)]
    snap = registry.snapshot("m", FRAME, features=["x"])
    registry.promote("m", 1, reason="first")
    registry.promote("m", 2, reason="second")  # v1 is the rollback target
    # what an older modelyard wrote: absolute paths into the original store, no store column
    with registry.backend.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            sa.text("UPDATE versions SET artifact_uri = :root || '/' || artifact_uri, artifact_store = NULL"),
            {"root": store.url},
        )
        conn.execute(
            sa.text("UPDATE snapshots SET uri = :root || '/' || uri, store = NULL"), {"root": store.url}
        )
    legacy = registry.get_version("m", 3)
    assert legacy.artifact_uri.startswith(store.url + "/objects/") and legacy.artifact_store is None
    registry.close()

    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy, symlinks=True)  # cp -r
    shutil.rmtree(original)  # and the original is gone: the absolute paths lead nowhere

    yard = Yard.load(copy)
    copied = yard.registry
    for x in v:
        predicted = copied.load_predictor(copied.get_version("m", x.version)).predict(FRAME)
        assert predicted.tolist() == [int(value > (0.1 * x.version)) for value in FRAME["x"]]
    assert copied.load_snapshot_frame(snap.id).equals(FRAME)

    code, out = _cli(copy, "gc", "--dry-run", "--json")
    assert code == 0, out
    preview = json.loads(out)
    assert preview["versions"] == [{"model": "m", "version": 3}]
    assert preview["snapshots"] == []
    why = {item["what"]: item["reasons"] for item in preview["reasons"]}
    assert why["m v1"] == ["rollback target of alias 'production'"]
    assert why["m v2"] == ["holds alias 'production'"]
    assert why["m v4"] == ["one of the 1 newest versions (retention.keep_last)"]

    code, out = _cli(copy, "gc")
    assert code == 0 and "deleted 1 version(s)" in out, out
    for kept in (1, 2, 4):
        copied.load_predictor(copied.get_version("m", kept))
    assert copied.load_snapshot_frame(snap.id).equals(FRAME)
    gone = parse_artifact_uri(legacy.artifact_uri)
    assert gone is not None and not copied.artifacts.exists(copied.artifacts.uri_for(gone.sha256))

    # an absolute row whose content this store does not hold is not this store's to judge
    missing = parse_artifact_uri(copied.get_version("m", 4).artifact_uri)
    assert missing is not None
    copied.artifacts.delete(copied.artifacts.uri_for(missing.sha256))
    listed = sorted(s.sha256 for s in copied.artifacts.uris())
    with pytest.raises(GcRefused, match="deleted nothing") as refused:
        copied.gc(grace=timedelta(0))
    assert str((tmp_path / "original" / ".modelyard" / "artifacts").resolve()) in str(refused.value)
    assert "m v4" in str(refused.value)
    assert sorted(s.sha256 for s in copied.artifacts.uris()) == listed
    assert [x.version for x in copied.list_versions("m")] == [1, 2, 4]
    copied.close()


def test_relative_rows_without_a_recorded_store_are_judged_by_hash(tmp_path: Path) -> None:
    """Rows written between store-relative URIs and revision 0004 have no store beside them:
    kept by hash when the object is here, a refusal (deleting nothing) when it is not."""
    store = ArtifactStore(tmp_path / "store")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    registry = Registry(
        SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url)),
        store,
        host=make_host(),
        retention=RetentionConfig(keep_last=1, keep_alias_days=0),
    )
    for t in (0.1, 0.2, 0.3):
        registry.register("m", ThresholdModel(t))
    with registry.backend.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.text("UPDATE versions SET artifact_store = NULL"))
    assert registry.get_version("m", 1).artifact_store is None

    report = registry.gc(dry_run=True, grace=timedelta(0))
    assert report.versions == [("m", 1), ("m", 2)]
    assert [(i.what, i.reasons) for i in report.reasons if i.kind == "artifact"] == [
        (registry.get_version("m", 3).artifact_uri, ("artifact of m v3",))
    ]

    store.delete(registry.get_version("m", 3).artifact_uri)
    with pytest.raises(GcRefused, match=r"a store not recorded .* e\.g\. the artifact of m v3"):
        registry.gc(grace=timedelta(0))
    assert [v.version for v in registry.list_versions("m")] == [1, 2, 3]
    assert len(list(store.uris())) == 2
    registry.close()
