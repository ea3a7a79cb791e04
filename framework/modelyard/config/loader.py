"""Reading ``modelyard.yaml``: YAML, ``${ENV}`` references, schema, then plugin names.

Values may reference environment variables, so one repo runs on the embedded default and
on Redis/PostgreSQL: ``${REDIS_URL}`` (must be set) or ``${REDIS_URL:-redis://127.0.0.1}``
(with a default). ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from modelyard.config.schema import YardConfig
from modelyard.errors import ConfigError, UnknownPluginError

if TYPE_CHECKING:
    from modelyard.plugins.manager import PluginHost

CONFIG_FILE = "modelyard.yaml"

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, *, file: str | None = None, key: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: expand_env(v, file=file, key=f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, file=file, key=f"{key}.{i}" if key else str(i)) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)",
            file=file,
            key=key,
        )

    return _ENV_REF.sub(substitute, value)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def load_config(path: str | os.PathLike[str]) -> YardConfig:
    """Parse and validate a ``modelyard.yaml`` (a file, or a repo directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    file = str(path)
    if not path.exists():
        raise ConfigError(
            f"no {CONFIG_FILE} here; run 'modelyard init' to create a yard or pass --repo", file=file
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(raw).__name__}", file=file)
    raw = expand_env(raw, file=file)
    try:
        return YardConfig.model_validate(raw)
    except ValidationError as exc:
        problems = describe_errors(exc.errors())
        key, message = problems[0]
        if len(problems) > 1:
            message += "".join(f"\n  also {k or '(top level)'}: {m}" for k, m in problems[1:])
        raise ConfigError(message, file=file, key=key) from None


def describe_errors(errors: list[Any]) -> list[tuple[str, str]]:
    """Every validation problem as ``(key path, message)``, misspelt keys first.

    A misspelt key is answered with the closest key allowed at its place, optional ones
    included (``parms`` -> ``params``); the "missing" error its typo caused for a required
    key is folded into it.
    """
    typos: list[tuple[str, str]] = []
    folded: set[tuple[Any, ...]] = set()
    for e in errors:
        if e["type"] != "extra_forbidden":
            continue
        parent, name = tuple(e["loc"][:-1]), str(e["loc"][-1])
        close = difflib.get_close_matches(name, sorted(allowed_keys(parent)), n=1, cutoff=0.6)
        if close:
            message = f"unknown key; did you mean {close[0]!r}?"
            folded.add((*parent, close[0]))
        else:
            allowed = ", ".join(sorted(allowed_keys(parent))) or "none"
            message = f"unknown key (allowed here: {allowed}; see docs/config.md)"
        typos.append((_location(e["loc"]), message))
    others: list[tuple[str, str]] = []
    for e in errors:
        if e["type"] == "extra_forbidden" or (e["type"] == "missing" and tuple(e["loc"]) in folded):
            continue
        message = e["msg"]
        if "input" in e and e["type"] != "missing":
            message = f"{message}, got {e['input']!r}"
        others.append((_location(e["loc"]), message))
    return typos + others


def allowed_keys(loc: tuple[Any, ...]) -> set[str]:
    """The keys :class:`YardConfig` allows in the mapping at ``loc`` (empty if it is not a section)."""
    annotation: Any = YardConfig
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return set()
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return set()
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return set(annotation.model_fields)
    return set()


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``X | None`` (an optional section is still a section)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def validate_plugins(config: YardConfig, host: PluginHost, *, file: str | None = None) -> None:
    """Check that every plugin the config names is installed and its settings are valid."""
    for role, key, choice in config.plugin_choices():
        try:
            spec = host.spec(role, choice.plugin)
        except UnknownPluginError as exc:
            raise ConfigError(str(exc), file=file, key=key) from None
        spec.validate_settings(choice.settings, file=file, key=f"{key}.settings")
