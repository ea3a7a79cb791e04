"""User and data text in CLI tables is printed as written: never Rich markup, never raw control codes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from registry_models import ThresholdModel

import modelyard.cli
from modelyard.artifacts.store import ArtifactStore
from modelyard.cli.main import main
from modelyard.cli.output import plain, print_table
from modelyard.plugins.testing import make_host
from modelyard.registry.service import Registry
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig

MARKUP = "fix [/x] see [bold]ticket[/bold] [link=http://evil]here[/link]"
ANSI = "\x1b[31mred\x1b[0m"
CONTROL = "bell\x07 cr\r nul\x00 del\x7f"
HOSTILE = f"{MARKUP} {ANSI} {CONTROL}"
ESCAPED = plain(HOSTILE)
LABELS = ["[bold]yes[/bold]", f"no{ANSI}\x07"]


def test_plain_escapes_control_characters_but_keeps_newlines() -> None:
    assert plain("a\x1b[0mb\r\n\tc") == "a\\x1b[0mb\\x0d\n\tc"
    assert "\\x00" in ESCAPED and "\\x7f" in ESCAPED and "\x1b" not in ESCAPED


def test_print_table_prints_markup_and_escapes_literally(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([{HOSTILE: HOSTILE, "n": [HOSTILE]}], [HOSTILE, "n"], title=HOSTILE)
    out = capsys.readouterr().out
    flat = "".join(out.split())
    assert "".join(MARKUP.split()) in flat and "\\x1b[31mred\\x1b[0m" in flat
    assert not any(c in out for c in "\x1b\x07\r\x00\x7f")


def test_no_cli_module_but_output_prints_with_rich() -> None:
    """Tables go through cli/output.py, which escapes; a module printing with Rich itself could forget."""
    offenders = []
    for path in Path(modelyard.cli.__file__).parent.glob("*.py"):
        if path.name == "output.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "rich" or n.startswith("rich.")]
    assert offenders == []


@pytest.fixture
def hostile_yard(tmp_path: Path) -> Path:
    """A bare yard whose registry is full of hostile text: params, metrics, reasons, actors, categories."""
    (tmp_path / "feature_store.yaml").write_text("project: t\nprovider: local\n")
    (tmp_path / "modelyard.yaml").write_text(
        "project: t\nretention: {keep_last: 1, keep_alias_days: 0}\n"
        # declared, so models diff matches rows by 'id' and shows the label 'y' and feature movement
        "models:\n  m: {feature_service: svc, entity_keys: [id], task: classification, label: y}\n"
    )
    backend = SqlAlchemyBackend(
        SqlAlchemyBackendConfig(url=f"sqlite:///{tmp_path / '.modelyard' / 'registry.db'}")
    )
    registry = Registry(backend, ArtifactStore(tmp_path / ".modelyard" / "artifacts"), host=make_host())
    rng = np.random.default_rng(0)
    categories = ["hatchback", f"[red]suv[/red]{ANSI}", "sedan\r"]
    for i, threshold in enumerate((0.3, 0.6)):
        frame = pd.DataFrame(
            {
                "x": rng.normal(i, 1, 200),
                "car": rng.choice(categories, 200, p=[0.6 - 0.3 * i, 0.2 + 0.2 * i, 0.2 + 0.1 * i]),
                "id": np.arange(200) + 20 * i,
                "y": rng.choice(LABELS, 200),
            }
        )
        snap = registry.snapshot("m", frame, features=["x", "car"], categorical=["car"])
        registry.register(
            "m",
            ThresholdModel(threshold),
            snapshot=snap,
            params={HOSTILE: threshold, "note": HOSTILE},
            metrics={f"acc[{i}]": 0.7 + i / 10, "log_loss": 0.5},
            description=HOSTILE,
        )
    registry.promote("m", 1, reason=HOSTILE, actor=HOSTILE)
    registry.promote("m", 2, reason=HOSTILE, actor="ann")
    backend.close()
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        ["models", "list"],
        ["models", "show", "m", "2"],
        ["models", "history", "m"],
        ["models", "diff", "m", "1", "2"],
        ["gc", "--dry-run"],
        ["snapshots", "list"],
        ["usage"],
    ],
)
def test_every_registry_table_survives_hostile_text(hostile_yard: Path, command: list[str]) -> None:
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        main, ["--repo", str(hostile_yard), *command], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert not any(c in out for c in "\x1b\x07\r\x00\x7f"), repr(out)
    if command[:2] in (["models", "history"], ["models", "show"]):
        assert MARKUP in out and "\\x1b[31mred\\x1b[0m" in out
    if command[:2] == ["models", "diff"]:
        assert "share[hatchback]" in out and "share[[red]suv[/red]\\x1b[31m" in out
        assert "acc[0]" in out and "acc[1]" in out
        # the row-level data diff: label classes and feature names as written
        assert "training rows matched by id" in out and "label y (categorical)" in out
        assert "[bold]yes[/bold]" in out and "no\\x1b[31mred\\x1b[0m\\x07" in out
        assert "features by movement" in out


def test_hostile_text_round_trips_through_json(hostile_yard: Path) -> None:
    result = CliRunner().invoke(main, ["--repo", str(hostile_yard), "models", "history", "m", "--json"])
    assert [e["reason"] for e in json.loads(result.output)] == [HOSTILE.strip()] * 2
