"""Reading ``modelyard.yaml``: YAML, ``${ENV}`` references, schema, then plugin names.

Values may reference environment variables, so one repo runs on the embedded default and
on Redis/PostgreSQL: ``${REDIS_URL}`` (must be set) or ``${REDIS_URL:-redis://127.0.0.1}``
(with a default). ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

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
        errors = exc.errors()
        # A misspelt key also makes the right one "missing": report the typo first.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = _location(first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; see docs/config.md for the keys allowed here)"
            siblings = [
                str(e["loc"][-1])
                for e in errors
                if e["type"] == "missing" and tuple(e["loc"][:-1]) == tuple(first["loc"][:-1])
            ]
            close = difflib.get_close_matches(str(first["loc"][-1]), siblings, n=1)
            if close:
                message = f"unknown key; did you mean {close[0]!r}?"
        elif "input" in first and first["type"] not in {"missing"}:
            message = f"{message}, got {first['input']!r}"
        more = len(errors) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(message, file=file, key=key) from None


def validate_plugins(config: YardConfig, host: PluginHost, *, file: str | None = None) -> None:
    """Check that every plugin the config names is installed and its settings are valid."""
    for role, key, choice in config.plugin_choices():
        try:
            spec = host.spec(role, choice.plugin)
        except UnknownPluginError as exc:
            raise ConfigError(str(exc), file=file, key=key) from None
        spec.validate_settings(choice.settings, file=file, key=f"{key}.settings")
