"""Promotion gates from modelyard.yaml and the veto hook: a worse candidate is refused before the alias moves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from registry_models import ThresholdModel

from modelyard.artifacts.store import ArtifactStore
from modelyard.cli.main import main
from modelyard.config.gates import parse_condition
from modelyard.errors import ConfigError, PromotionRefused
from modelyard.plugins import hookimpl
from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard.yard import Yard
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig

GATED = """\
project: t
models:
  m:
    feature_service: svc
    entity_keys: [id]
    task: classification
    label: y
    flavor: python
    promotion:
      gates:
        - roc_auc >= 0.75
        - log_loss <= production * 1.02
"""


class Veto:
    """A gatekeeper plugin: vetoes what ``verdict`` returns a reason for; records what it saw."""

    def __init__(self, verdict) -> None:
        self.verdict = verdict
        self.seen: list = []

    @hookimpl
    def modelyard_veto_promotion(self, request):
        self.seen.append(request)
        return self.verdict(request)


def _yard(path: Path, *plugins: object) -> tuple[Registry, Path]:
    """A yard declaring ``m`` with gates; versions registered by a registry without schema checks."""
    (path / "feature_store.yaml").write_text("project: t\nprovider: local\n")
    (path / "modelyard.yaml").write_text(GATED)
    url = f"sqlite:///{path / '.modelyard' / 'registry.db'}"
    bare = Registry(
        SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url)),
        ArtifactStore(path / ".modelyard" / "artifacts"),
        host=make_host(),
    )
    metrics = [(0.80, 0.50), (0.70, 0.45), (0.82, 0.52), (0.81, 0.505)]
    for i, (auc, loss) in enumerate(metrics):
        bare.register("m", ThresholdModel(0.1 * (i + 1)), metrics={"roc_auc": auc, "log_loss": loss})
    bare.close()
    host = make_host(*plugins)
    yard = Yard.load(path, host=host)
    registry = Registry(
        SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url)),
        ArtifactStore(path / ".modelyard" / "artifacts"),
        host=host,
        yard=yard,
    )
    return registry, path


def test_gates_refuse_a_worse_candidate_and_name_the_failed_conditions(tmp_path: Path) -> None:
    registry, _ = _yard(tmp_path)
    registry.promote("m", 1, reason="first: no holder to compare with")
    with pytest.raises(PromotionRefused) as refused:
        registry.promote("m", 2, reason="lower AUC")
    assert "'roc_auc >= 0.75'" in str(refused.value) and "0.7" in str(refused.value)
    assert "log_loss" not in str(refused.value)  # 0.45 is better than production's 0.50
    with pytest.raises(PromotionRefused, match=r"'log_loss <= production \* 1.02'.*needs <= 0.51"):
        registry.promote("m", 3, reason="worse log loss")
    assert registry.aliases("m") == {"production": 1} and len(registry.history("m")) == 1
    registry.promote("m", 4, reason="within 2 % of production")
    assert registry.aliases("m") == {"production": 4}

    forced = registry.promote("m", 2, reason="hotfix, checked by hand", force=True)
    assert forced.forced and "forced past failed gates: roc_auc >= 0.75" in forced.reason
    assert [e.forced for e in registry.history("m")] == [False, False, True]
    # other aliases are not gated
    assert not registry.promote("m", 3, "candidate", reason="try it").forced


def test_a_plugin_vetoes_before_the_move_and_force_does_not_override(tmp_path: Path) -> None:
    freeze = Veto(lambda r: "change freeze" if r.candidate.version == 4 else None)
    broken = Veto(lambda r: 1 / 0 if r.candidate.version == 3 else None)
    registry, _ = _yard(tmp_path, freeze, broken)
    registry.promote("m", 1, reason="ok")
    with pytest.raises(PromotionRefused, match=r"vetoed by plugin .*change freeze"):
        registry.promote("m", 4, reason="blocked", force=True)
    with pytest.raises(PromotionRefused, match="ZeroDivisionError"):
        registry.promote("m", 3, reason="the gatekeeper fails: closed", force=True)
    assert registry.aliases("m") == {"production": 1}
    request = freeze.seen[1]
    assert (request.candidate.version, request.replaced.version, request.forced) == (4, 1, True)
    assert [g.passed for g in request.gates] == [True, True]


def test_promote_cli_refuses_forces_and_history_shows_it(tmp_path: Path) -> None:
    registry, path = _yard(tmp_path)
    registry.close()

    def run(*args: str):
        return CliRunner(env={"COLUMNS": "300"}).invoke(main, ["--repo", str(path), *args])

    assert run("promote", "m", "1", "--reason", "first").exit_code == 0
    refused = run("promote", "m", "2", "--reason", "worse")
    assert refused.exit_code == 1 and "failed gate 'roc_auc >= 0.75'" in refused.output
    assert "--force" in refused.output
    forced = run("promote", "m", "2", "--reason", "hotfix", "--force", "--json")
    assert forced.exit_code == 0 and json.loads(forced.output)["forced"] is True
    history = run("models", "history", "m")
    assert "promote (forced)" in history.output


def test_gate_syntax_is_checked_when_the_yard_loads(tmp_path: Path) -> None:
    assert parse_condition("accuracy >= current - 0.01").threshold(0.9) == pytest.approx(0.89)
    assert parse_condition("x==1e-3").holds(0.001)
    (tmp_path / "feature_store.yaml").write_text("project: t\nprovider: local\n")
    (tmp_path / "modelyard.yaml").write_text(GATED.replace("roc_auc >= 0.75", "roc_auc is great"))
    with pytest.raises(ConfigError, match="cannot read the gate 'roc_auc is great'"):
        Yard.load(tmp_path)
