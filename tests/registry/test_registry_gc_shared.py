"""gc on a registry and artifact store that two yards share, on the real PostgreSQL.

Yard A (the example repo) writes the store as ``file:///...``, yard B (another directory)
as a plain path through a symlink, with a trailing slash; A serves a shadow deployment while
B collects garbage. Nothing A uses may go, and A's server keeps answering with its versions,
live and shadow. A registry referencing a store B cannot reconcile makes B's gc refuse.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from click.testing import CliRunner

from modelyard.cli.main import main
from modelyard.errors import GcRefused
from modelyard.yard import Yard

_SERVING = str(Path(__file__).resolve().parent.parent / "serving")
_ROLLOUT = str(Path(__file__).resolve().parent.parent / "rollout")
for _dir in (_SERVING, _ROLLOUT):
    if _dir not in sys.path:
        sys.path.append(_dir)

from rollout_models import ThresholdModel  # noqa: E402
from srv_helpers import running_server  # noqa: E402

pytestmark = pytest.mark.postgres

MODEL = "trip_acceptance"
FEATURE = "conv_rate"


def _registry_yaml(url: str) -> str:
    return f"registry:\n  plugin: sqlalchemy\n  settings: {{url: '{url}'}}\n"


def _bare_yard(path: Path, *, db: str, store: str) -> Path:
    path.mkdir(parents=True)
    (path / "feature_store.yaml").write_text("project: other\nprovider: local\n")
    (path / "modelyard.yaml").write_text(
        "project: other\n"
        + _registry_yaml(db)
        + f"artifacts: {{url: '{store}'}}\n"
        + "retention: {keep_last: 1, keep_alias_days: 0}\n"
    )
    return path


def _cli(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args])
    return result.exit_code, result.output


def _predict(url: str, repo: Path, request_id: str) -> list[dict]:
    rows = pd.read_parquet(repo / "data" / f"{MODEL}_entities.parquet").head(4)
    body = {
        "entities": {"driver_id": rows.driver_id.tolist(), "customer_id": rows.customer_id.tolist()},
        "request_id": request_id,
    }
    response = httpx.post(f"{url}/v1/models/{MODEL}/predict", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_gc_from_another_yard_keeps_everything_a_serving_yard_uses(
    example_repo: Path, postgres_url: str, tmp_path: Path
) -> None:
    from modelyard.rollout import changes
    from modelyard.routing.deployment import DeploymentStore
    from modelyard.routing.router import Variant
    from modelyard.serving.app import build_state, create_app

    store = tmp_path / "shared-store"
    config = example_repo / "modelyard.yaml"
    config.write_text(
        config.read_text()
        + _registry_yaml(postgres_url)
        + f"artifacts: {{url: 'file://{store}'}}\n"
        + "retention: {keep_last: 1, keep_alias_days: 0}\n"
    )
    yard_a = Yard.load(example_repo)
    registry = yard_a.registry
    v = [registry.register(MODEL, ThresholdModel(FEATURE, t)) for t in (0.1, 0.2, 0.3, 0.4, 0.5)]
    registry.promote(MODEL, v[0].version, reason="first")
    registry.promote(MODEL, v[1].version, reason="second")  # v1 is the rollback target
    changes.deploy(
        DeploymentStore.for_yard(yard_a),
        MODEL,
        router="shadow",
        variants=[Variant("live", v[1].version)],
        shadows=[Variant("shadow", v[2].version, 0, "shadow")],
        settings={"shadows": [v[2].version]},
        actor="test",
        reason="shadow v3",
    )
    # recorded relative to the store, with the store beside it in its one normalised spelling
    assert v[0].artifact_uri.startswith("objects/")
    assert {x.artifact_store for x in v} == {str(store.resolve())}

    # B spells the store as a symlink to it, with a trailing slash
    link = tmp_path / "elsewhere" / "store-link"
    link.parent.mkdir()
    link.symlink_to(store, target_is_directory=True)
    yard_b = _bare_yard(tmp_path / "elsewhere" / "yard_b", db=postgres_url, store=f"{link}/")
    state = build_state(yard_a, cache=False)
    try:
        with running_server(create_app(state=state)) as url:
            before = _predict(url, example_repo, "before")
            assert {p["version"] for p in before} == {v[1].version}

            code, out = _cli(yard_b, "gc", "--dry-run", "--json")
            assert code == 0, out
            preview = json.loads(out)
            assert preview["versions"] == [{"model": MODEL, "version": v[3].version}]
            why = {item["what"]: item["reasons"] for item in preview["reasons"]}
            assert why[v[0].label] == ["rollback target of alias 'production'"]
            assert "holds alias 'production'" in why[v[1].label]
            assert any(
                "shadow variant 'shadow'" in r and "running shadow experiment" in r for r in why[v[2].label]
            )
            assert why[v[4].label] == ["one of the 1 newest versions (retention.keep_last)"]
            code, out = _cli(yard_b, "gc", "--dry-run")
            assert code == 0 and "kept because" in out and "rollback target" in out

            code, out = _cli(yard_b, "gc")
            assert code == 0 and "deleted 1 version(s)" in out, out
            after = _predict(url, example_repo, "after")
            assert {p["version"] for p in after} == {v[1].version}
    finally:
        state.close()

    # the shadow answered beside the live version before and after gc, without errors
    from modelyard.predictions.log import open_log_sink

    sink = open_log_sink(yard_a)
    log = sink.read_frame(MODEL)
    sink.close()
    shadow = log[log["mode"] == "shadow"]
    assert len(shadow) == 8 and shadow["error"].isna().all()
    assert set(shadow["version"]) == {v[2].version}

    # a restart still loads every version A uses: their artifacts survived
    for kept in (v[0], v[1], v[2], v[4]):
        registry.load_predictor(registry.get_version(MODEL, kept.version))
    assert not registry.artifacts.exists(v[3].artifact_uri)
    restarted = build_state(yard_a, cache=False)
    try:
        with running_server(create_app(state=restarted)) as url:
            assert {p["version"] for p in _predict(url, example_repo, "restart")} == {v[1].version}
    finally:
        restarted.close()
    registry.close()


def test_gc_refuses_when_the_registry_references_another_store(postgres_url: str, tmp_path: Path) -> None:
    from modelyard.artifacts.store import ArtifactStore
    from modelyard.plugins.testing import make_host
    from modelyard.registry.service import Registry
    from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig

    yard_b = _bare_yard(tmp_path / "b", db=postgres_url, store=str(tmp_path / "store-b"))
    registry_a = Registry(
        SqlAlchemyBackend(SqlAlchemyBackendConfig(url=postgres_url)),
        ArtifactStore(f"file://{tmp_path / 'store-a'}"),
        host=make_host(),
    )
    for t in (0.1, 0.2, 0.3):
        registry_a.register("m", ThresholdModel("x", t))
    registry_b = Yard.load(yard_b).registry
    orphan = registry_b.artifacts.put(_file(tmp_path / "orphan.txt"))

    with pytest.raises(GcRefused) as caught:
        registry_b.gc(grace=timedelta(0))
    message = str(caught.value)
    assert str((tmp_path / "store-a").resolve()) in message and "deleted nothing" in message
    assert [x.version for x in registry_a.list_versions("m")] == [1, 2, 3]
    assert registry_b.artifacts.exists(orphan.uri)
    assert len(list(ArtifactStore(tmp_path / "store-a").uris())) == 3
    code, out = _cli(yard_b, "gc")
    assert code == 1 and "deleted nothing" in out and "store-a" in out
    registry_a.close()
    registry_b.close()


def _file(path: Path) -> Path:
    path.write_text("not referenced by anything")
    return path
