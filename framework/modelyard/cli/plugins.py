"""``modelyard plugins``: every installed plugin, what it contributes, and the broken ones.

Listing reads only the plugins' spec objects (names, summaries, ``"module:Class"``
strings), so it never imports Feast, pandas or a plugin's implementation modules.
"""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.output import emit, json_option

#: Table columns; ``--json`` rows also carry ``roles`` (the keys of ``contributes``).
COLUMNS = ["name", "distribution", "version", "module", "contributes"]


def plugin_rows() -> list[dict[str, Any]]:
    """One row per plugin (entry point) found in the ``modelyard`` group, failed ones included."""
    from modelyard.cli.main import COMMANDS
    from modelyard.plugins.manager import PluginHost

    host = PluginHost.from_entry_points()
    host.commands(taken=COMMANDS)  # so each plugin's CLI commands are listed with it
    rows = []
    for info in host.plugins():
        rows.append(
            {
                "name": info.name,
                "roles": sorted(info.contributes),
                "distribution": info.distribution,
                "version": info.version,
                "module": info.module,
                "contributes": {role: list(names) for role, names in info.contributes.items()},
                "error": info.error,
            }
        )
    return rows


@click.command("plugins")
@json_option
def plugins(as_json: bool) -> None:
    """List installed plugins, what they provide, and failures.

    Shows every plugin found in the ``modelyard`` entry-point group (modelyard's own and
    third-party ones): its roles, distribution and version, module, the names it
    contributes per role (the names modelyard.yaml can choose), and the error of a
    plugin that failed to load.

    \b
    Examples:
      modelyard plugins
      modelyard plugins --json | jq '.[] | select(.error)'
    """
    rows = plugin_rows()
    if as_json:
        emit(rows, as_json=True)
        return
    emit(rows, as_json=False, columns=COLUMNS, title="modelyard plugins")
    failed = [row for row in rows if row["error"]]
    for row in failed:
        source = f" (distribution {row['distribution']} {row['version'] or ''})".replace(" )", ")")
        click.echo(f"FAILED {row['name']}{source if row['distribution'] else ''}: {row['error']}")
