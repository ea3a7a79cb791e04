"""Feast's typeguard checks are off where modelyard only reads an applied repo, and only Feast's.

Each case runs in a fresh interpreter: the choice is made before Feast is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = textwrap.dedent(
    """
    import json, sys, textwrap, types
    {prelude}
    import feast, typeguard
    from feast import Field
    out = {{}}
    try:
        Field(name=3, dtype=None)  # a wrong argument type: typeguard's check raises
        out["feast_checked"] = False
    except typeguard.TypeCheckError:
        out["feast_checked"] = True
    # a function of another library decorated after the switch is still checked
    mod = types.ModuleType("someone_else")
    mod.__file__ = sys.argv[1]
    sys.modules["someone_else"] = mod
    exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), mod.__dict__)
    try:
        mod.double("x")
        out["others_checked"] = False
    except typeguard.TypeCheckError:
        out["others_checked"] = True
    print(json.dumps(out))
    """
)
OTHER = "from typeguard import typechecked\n\n@typechecked\ndef double(x: int) -> int:\n    return 2 * x\n"


def probe(tmp_path: Path, prelude: str, env: dict[str, str]) -> dict[str, bool]:
    import json

    other = tmp_path / "someone_else.py"
    other.write_text(OTHER)
    full_env = {k: v for k, v in os.environ.items() if k != "MODELYARD_FEAST_TYPECHECKS"} | env
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude), str(other)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_modelyard_alone_keeps_feast_checks(tmp_path: Path) -> None:
    assert probe(tmp_path, "import modelyard", {}) == {"feast_checked": True, "others_checked": True}


def test_skip_turns_off_feast_checks_only(tmp_path: Path) -> None:
    prelude = (
        "from modelyard.features.feast_checks import skip_feast_typechecks\nassert skip_feast_typechecks()"
    )
    assert probe(tmp_path, prelude, {}) == {"feast_checked": False, "others_checked": True}


def test_skip_leaves_typeguard_unimported_until_something_imports_it() -> None:
    # a command that never imports Feast does not pay for importing typeguard
    script = textwrap.dedent(
        """
        import sys
        from modelyard.features.feast_checks import skip_feast_typechecks
        assert skip_feast_typechecks()
        assert "typeguard" not in sys.modules
        import typeguard
        print(getattr(typeguard.typechecked, "_modelyard_skips_feast", False))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "MODELYARD_FEAST_TYPECHECKS"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]


def test_child_processes_follow_the_variable(tmp_path: Path) -> None:
    # a serving worker started by `modelyard serve` imports modelyard first, with the variable set
    assert probe(tmp_path, "import modelyard", {"MODELYARD_FEAST_TYPECHECKS": "0"}) == {
        "feast_checked": False,
        "others_checked": True,
    }


def test_variable_set_to_one_keeps_checks(tmp_path: Path) -> None:
    prelude = "from modelyard.features.feast_checks import skip_feast_typechecks\nassert not skip_feast_typechecks()"
    assert probe(tmp_path, prelude, {"MODELYARD_FEAST_TYPECHECKS": "1"}) == {
        "feast_checked": True,
        "others_checked": True,
    }


def test_too_late_once_feast_is_imported(tmp_path: Path) -> None:
    prelude = (
        "import feast\nfrom modelyard.features.feast_checks import skip_feast_typechecks\n"
        "assert not skip_feast_typechecks()"
    )
    assert probe(tmp_path, prelude, {})["feast_checked"] is True


@pytest.mark.parametrize(("command", "checked"), [("materialize", False), ("apply", True)])
def test_the_cli_skips_them_except_for_commands_running_definitions(command: str, checked: bool) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from modelyard.cli.main import COMMANDS, _LazyCommand
        _LazyCommand({command!r}, COMMANDS[{command!r}][0], "").load()
        import os, feast
        from feast import Field
        import typeguard
        try:
            Field(name=3, dtype=None)
            print("unchecked", os.environ.get("MODELYARD_FEAST_TYPECHECKS"))
        except typeguard.TypeCheckError:
            print("checked", os.environ.get("MODELYARD_FEAST_TYPECHECKS"))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "MODELYARD_FEAST_TYPECHECKS"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == (["checked", "None"] if checked else ["unchecked", "0"])
