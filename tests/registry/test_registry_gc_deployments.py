"""gc keeps every version a deployment needs: a declared shadow, a paused canary's candidate,
a running A/B test's arms and shadow, an aborted canary's arms (the server still loads them),
an alias and its rollback target; a version none of them names any more goes. SQLite and the
real PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from registry_models import ThresholdModel

from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard.yard import Yard

_ROUTING = str(Path(__file__).resolve().parent.parent / "routing")
if _ROUTING not in sys.path:
    sys.path.append(_ROUTING)

from routing_helpers import write_yard  # noqa: E402

MODEL = "rides"


def _why(yard: Yard) -> tuple[list[int], dict[int, list[str]]]:
    report = yard.registry.gc(dry_run=True)
    doomed = [n for m, n in report.versions if m == MODEL]
    kept = {int(i.what.rsplit("v", 1)[1]): list(i.reasons) for i in report.reasons if i.kind == "version"}
    return doomed, kept


def test_gc_keeps_what_deployments_and_experiments_need(db_url: str, tmp_path: Path) -> None:
    from modelyard.rollout import changes
    from modelyard.routing.deployment import DeploymentStore
    from modelyard.routing.router import Variant

    path = write_yard(
        tmp_path / "yard", registry_url=db_url, router={"plugin": "shadow", "settings": {"shadows": [7]}}
    )
    config = yaml.safe_load((path / "modelyard.yaml").read_text())
    config["retention"] = {"keep_last": 1, "keep_alias_days": 0}
    (path / "modelyard.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    yard = Yard.load(path)
    # registered without the yard: this yard declares no Feast objects to check a schema against
    bare = Registry(yard.registry.backend, yard.registry.artifacts, host=make_host())
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        bare.register(MODEL, ThresholdModel(t))
    bare.promote(MODEL, 1, reason="first")
    bare.promote(MODEL, 2, reason="second")

    # nothing stored yet: the shadow modelyard.yaml declares keeps v7
    doomed, kept = _why(yard)
    assert doomed == [3, 4, 5, 6]
    assert kept[1] == ["rollback target of alias 'production'"]
    assert kept[7] == ["shadow variant 'v7' of the shadow deployment modelyard.yaml declares"]
    assert kept[8] == ["one of the 1 newest versions (retention.keep_last)"]

    # a paused canary keeps its candidate (and the stored deployment replaces the declared one)
    store = DeploymentStore.for_yard(yard)
    changes.deploy(
        store, MODEL, router="canary", variants=[Variant("cand", 3)], actor="t", reason="canary v3"
    )
    changes.pause(store, MODEL, actor="t", reason="hold the ramp")
    doomed, kept = _why(yard)
    assert doomed == [4, 5, 6, 7]
    assert any(r.startswith("live variant 'cand' of the running canary experiment (paused") for r in kept[3])
    assert "holds alias 'production'" in kept[2] and any("'v2' of the running canary" in r for r in kept[2])

    # aborted: every request goes to the control, but the server still loads the candidate's arm
    # (weight 0) from the stored state, so it stays
    changes.abort(store, MODEL, actor="t", reason="worse")
    doomed, kept = _why(yard)
    assert doomed == [4, 5, 6, 7]
    assert any(r.startswith("live variant 'cand' of the canary deployment, aborted") for r in kept[3]), kept[
        3
    ]

    # a running A/B test keeps every arm, and a shadow beside it
    changes.deploy(
        store,
        MODEL,
        router="ab",
        variants=[Variant("control", 2, 0.5), Variant("treat", 4, 0.5)],
        shadows=[Variant("peek", 6, 0, "shadow")],
        actor="t",
        reason="a/b",
    )
    doomed, kept = _why(yard)
    assert doomed == [3, 5, 7]
    assert any("live variant 'treat' of the running ab experiment (active" in r for r in kept[4])
    assert any("shadow variant 'peek' of the running ab experiment" in r for r in kept[6])

    report = yard.registry.gc()
    assert [n for _, n in report.versions] == [3, 5, 7]
    assert [v.version for v in bare.list_versions(MODEL)] == [1, 2, 4, 6, 8]
    for number in (1, 2, 4, 6, 8):  # their artifacts survived
        bare.load_predictor(bare.get_version(MODEL, number))
    yard.registry.close()
