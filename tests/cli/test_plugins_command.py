"""``modelyard plugins``: every first-party plugin with its role and source."""

from __future__ import annotations

import json

from click.testing import CliRunner

import modelyard
from modelyard.cli.main import main
from modelyard.plugins.manager import ROLE_HOOKS

FIRST_PARTY = {
    "alerters": "alerter",
    "caches": "cache",
    "detectors": "detector",
    "flavors": "flavor",
    "log_sinks": "log_sink",
    "routers": "router",
    "sqlalchemy_registry": "registry_backend",
    "protocols": "protocol",
}


def test_plugins_json_lists_first_party_with_role_and_source() -> None:
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    for name, role in FIRST_PARTY.items():
        row = rows[name]
        assert row["distribution"] == "modelyard" and row["version"] == modelyard.__version__
        assert row["module"].startswith("modelyard_plugins.")
        assert role in row["roles"] and row["contributes"][role]
        assert row["error"] is None
    assert set().union(*(row["roles"] for row in rows.values())) == {*ROLE_HOOKS, "command"}
    assert "sklearn" in rows["flavors"]["contributes"]["flavor"]
    assert sorted(rows["protocols"]["contributes"]["protocol"]) == ["feedback", "push", "ui", "v1", "v2"]
    # the built-in `ui` command is a plugin of the CLI, found through the same entry-point group
    ui = rows["ui_command"]
    assert ui["distribution"] == "modelyard" and ui["module"] == "modelyard.cli.ui"
    assert ui["contributes"] == {"command": ["ui"]}


def test_plugins_table() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    for name in FIRST_PARTY:
        assert name[:12] in result.output
    assert "distribution" in result.output and "contributes" in result.output
    assert "FAILED" not in result.output
