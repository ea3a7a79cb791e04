"""The command table: lazy loading, help on every command, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner

from modelyard.cli.main import COMMANDS, main

HEAVY = ("feast", "pandas", "numpy", "pyarrow", "sqlalchemy", "sklearn", "dask")


def _imported_after(args: list[str]) -> tuple[dict, list[str]]:
    """Run the CLI in a fresh interpreter; return its result and which heavy modules it imported."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from click.testing import CliRunner
        from modelyard.cli.main import main
        result = CliRunner().invoke(main, {args!r})
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        loaded = sorted(m for m in sys.modules if m.startswith("modelyard.cli."))
        print(json.dumps({{"exit": result.exit_code, "output": result.output, "heavy": heavy, "cli": loaded}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return data, data["heavy"]


#: built-in plugins that add commands (``modelyard_register_commands``): imported to list them
COMMAND_PLUGINS = {"ui": "modelyard.cli.ui"}


def test_help_imports_no_command_module_and_nothing_heavy() -> None:
    data, heavy = _imported_after(["--help"])
    assert data["exit"] == 0
    assert heavy == []
    # no command module imported just to list them, but the (import-light) plugins adding commands
    assert data["cli"] == sorted(["modelyard.cli.main", *COMMAND_PLUGINS.values()])
    for name, (_, short_help) in COMMANDS.items():
        assert name in data["output"] and short_help[:30] in data["output"]
    assert "Browse the yard in a web browser" in data["output"]  # `ui`, added by its plugin


def test_plugins_command_imports_nothing_heavy() -> None:
    for args in (["plugins"], ["plugins", "--json"]):
        data, heavy = _imported_after(args)
        assert data["exit"] == 0, data["output"]
        assert "feast" not in heavy and "pandas" not in heavy, heavy
        assert heavy == []


@pytest.mark.parametrize("name", sorted([*COMMANDS, *COMMAND_PLUGINS]))
def test_every_command_has_help_with_an_example(name: str) -> None:
    if name in COMMANDS:
        target, short_help = COMMANDS[name]
        module, _, attr = target.partition(":")
        command = getattr(__import__(module, fromlist=[attr]), attr)
        assert command.get_short_help_str(limit=200) == short_help  # the table's copy matches
    else:
        command = main.get_command(click.Context(main), name)
        assert command.callback.__module__ == COMMAND_PLUGINS[name]
    assert isinstance(command, click.Command)
    assert command.name == name
    assert command.help and len(command.help) > 40
    for path, leaf in _leaves(command, [name]):
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, result.output
        assert leaf.help, f"modelyard {' '.join(path)} has no help text"
        assert "Example" in result.output, f"modelyard {' '.join(path)} --help shows no example"
        assert "modelyard " in result.output.split("Example", 1)[1]


def _leaves(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    """Every runnable command under ``command`` (itself, or a group's subcommands, recursively)."""
    if not isinstance(command, click.Group):
        return [(path, command)]
    assert command.help, f"modelyard {' '.join(path)} has no help text"
    found = []
    for sub in command.list_commands(click.Context(command)):
        found += _leaves(command.get_command(click.Context(command), sub), [*path, sub])
    return found


def test_group_help_has_example_and_repo_option() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "--repo" in result.output and "Example" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["plugnis"])
    assert result.exit_code == 2
    assert "No such command 'plugnis'" in result.output


def test_modelyard_error_is_printed_without_traceback(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "--repo", str(tmp_path), "apply"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: {tmp_path / 'modelyard.yaml'}: no modelyard.yaml here")
    assert "Traceback" not in proc.stderr + proc.stdout


def test_repo_option_defaults_to_cwd(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["features", "m", "--entity", "k=1"])
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'modelyard.yaml'}" in result.output


def test_version_option() -> None:
    from modelyard import __version__

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_command_needing_a_missing_library_says_so(monkeypatch, tmp_path) -> None:
    from modelyard.cli import main as main_module

    (tmp_path / "needs_extra_cmd.py").write_text(
        "import not_installed_library_zz\nimport click\n@click.command()\ndef cmd():\n    '''x'''\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(main_module.COMMANDS, "needs-extra", ("needs_extra_cmd:cmd", "Needs an extra."))
    result = CliRunner().invoke(main, ["needs-extra"])
    assert result.exit_code == 1
    assert (
        "Error: the 'needs-extra' command needs 'not_installed_library_zz', which is not installed"
        in result.output
    )
    listing = CliRunner().invoke(main, ["--help"])
    assert "needs-extra" in listing.output and "Needs an extra." in listing.output
