"""``modelyard ui``: browse the yard in a web browser without serving any model.

A built-in plugin (entry point ``ui_command``): it adds its command through
``modelyard_register_commands``, exactly as a third-party plugin adds one.
"""

from __future__ import annotations

import click

from modelyard.plugins import hookimpl


@hookimpl
def modelyard_register_commands(cli: click.Group) -> None:
    cli.add_command(ui)


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.pass_context
def ui(ctx: click.Context, host: str, port: int) -> None:
    """Browse the yard in a web browser: models, versions, deployments, experiments, monitoring.

    Read-only unless MODELYARD_ADMIN_TOKEN is set: then /ui/admin takes that token and the model
    pages offer promote, roll back and pause. `modelyard serve` serves the same pages at /ui.

    \b
    Example:
      modelyard --repo feature_repo ui --port 8765   # then open http://127.0.0.1:8765/ui
    """
    import uvicorn

    from modelyard.cli.main import load_yard
    from modelyard.ui.app import create_ui_app

    yard = load_yard(ctx)
    click.echo(f"modelyard UI of {yard.path} on http://{host}:{port}/ui (Ctrl-C stops it)")
    uvicorn.run(create_ui_app(yard), host=host, port=port, log_level="warning")
