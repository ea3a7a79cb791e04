"""The docs keep up with the code: hook signatures, config keys, CLI commands, the nav."""

from __future__ import annotations

import inspect
import re
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from modelyard.config.schema import PluginChoice, YardConfig
from modelyard.plugins import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs"


def hook_specs() -> list[tuple[str, typing.Callable[..., object]]]:
    return [
        (n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "modelyard_spec")
    ]


def signature_line(name: str, func: typing.Callable[..., object]) -> str:
    """``def name(arg: Type) -> Return``, annotations as written in the spec module."""
    sig = inspect.signature(func)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def test_there_are_hooks_to_document() -> None:
    assert len(hook_specs()) >= 11


@pytest.mark.parametrize(("name", "func"), hook_specs(), ids=[n for n, _ in hook_specs()])
def test_every_hook_is_documented_with_its_exact_signature(
    name: str, func: typing.Callable[..., object]
) -> None:
    text = (DOCS / "plugins.md").read_text()
    assert f"### `{name}`" in text, f"docs/plugins.md has no section for {name}"
    line = signature_line(name, func)
    assert line in text, f"docs/plugins.md must show the exact signature: {line}"
    summary = inspect.cleandoc(func.__doc__ or "").splitlines()[0]
    assert summary, f"{name} has no docstring"
    assert summary in text


def config_keys(model: type[BaseModel] = YardConfig, prefix: str = "") -> list[str]:
    """Every key path of modelyard.yaml, ``<name>`` for mapping keys and ``[]`` for list items."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        ann = field.annotation
        candidates = (
            typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType) else (ann,)
        )
        for candidate in candidates:
            origin, args = typing.get_origin(candidate), typing.get_args(candidate)
            if origin is dict:
                sub, sub_prefix = args[-1], f"{key}.<name>."
            elif origin is list:
                sub, sub_prefix = args[0], f"{key}[]."
            else:
                sub, sub_prefix = candidate, f"{key}."
            if isinstance(sub, type) and issubclass(sub, BaseModel) and sub is not PluginChoice:
                keys += config_keys(sub, sub_prefix)
    return sorted(set(keys))


def test_every_config_key_is_in_the_reference() -> None:
    text = (DOCS / "config.md").read_text()
    keys = config_keys()
    assert "models.<name>.monitors[].detector" in keys and "serving.port" in keys
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"document these modelyard.yaml keys in docs/config.md: {missing}"


def test_foundation_commands_are_documented() -> None:
    from modelyard.cli.main import COMMANDS

    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    foundation = ["init", "apply", "materialize", "features", "plugins"]
    assert set(foundation) <= set(COMMANDS)
    undocumented = [name for name in foundation if f"modelyard {name}" not in text]
    assert not undocumented, f"mention these commands in docs/: {undocumented}"


def test_mkdocs_nav_points_at_existing_pages() -> None:
    import yaml

    config = yaml.safe_load((DOCS.parent / "mkdocs.yml").read_text())
    pages = re.findall(r"[\w./-]+\.md", str(config["nav"]))
    assert {
        "index.md",
        "quickstart.md",
        "concepts.md",
        "config.md",
        "writing-a-plugin.md",
        "plugins.md",
    } <= set(pages)
    for page in pages:
        assert (DOCS / page).exists(), f"mkdocs.yml names docs/{page}, which does not exist"


def test_writing_a_plugin_walks_through_the_example() -> None:
    text = (DOCS / "writing-a-plugin.md").read_text()
    example = DOCS.parent / "plugins" / "examples" / "modelyard-hello-detector"
    assert (example / "pyproject.toml").exists()
    assert '[project.entry-points.modelyard]\nhello = "modelyard_hello"' in text
    assert (
        '[project.entry-points.modelyard]\nhello = "modelyard_hello"'
        in (example / "pyproject.toml").read_text()
    )
    assert "modelyard_hello.detector:MeanShiftDetector" in text


def test_writing_a_plugin_shows_the_protocol_example_as_it_is() -> None:
    """The protocol and command plugin on the page is the example distribution's code, verbatim."""
    text = (DOCS / "writing-a-plugin.md").read_text()
    example = DOCS.parent / "plugins" / "examples" / "modelyard-kserve"
    assert (
        '[project.entry-points.modelyard]\nkserve = "modelyard_kserve"'
        in (example / "pyproject.toml").read_text()
    )
    assert '[project.entry-points.modelyard]\nkserve = "modelyard_kserve"' in text
    blocks = re.findall(r"```python\n# src/(modelyard_kserve/\w+\.py)[^\n]*\n(.*?)```", text, flags=re.S)
    assert {path for path, _ in blocks} == {"modelyard_kserve/__init__.py", "modelyard_kserve/protocol.py"}
    for path, code in blocks:
        assert code in (example / "src" / path).read_text(), f"the page's {path} differs from the example"
