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
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve on a non-loopback --host without bearer tokens (only behind something that authenticates).",
)
@click.pass_context
def ui(ctx: click.Context, host: str, port: int, insecure: bool) -> None:
    """Browse the yard in a web browser: models, versions, deployments, experiments, monitoring.

    Read-only unless an admin token is configured (serving.auth.tokens or MODELYARD_TOKENS_ADMIN,
    the tokens `modelyard serve` takes; `modelyard token --scope admin` makes one): then every page
    needs it, /ui/admin takes it, and the model pages offer promote, roll back and pause. Any
    --host other than loopback needs tokens unless --insecure. `modelyard serve` serves the same
    pages at /ui.

    \b
    Example:
      modelyard --repo feature_repo ui --port 8765   # then open http://127.0.0.1:8765/ui
    """
    import uvicorn

    from modelyard.cli.main import load_yard
    from modelyard.serving.auth import Tokens, check_bind
    from modelyard.ui.app import create_ui_app

    yard = load_yard(ctx)
    check_bind(host, Tokens.load(yard.config.serving.auth), insecure=insecure)
    click.echo(f"modelyard UI of {yard.path} on http://{host}:{port}/ui (Ctrl-C stops it)")
    uvicorn.run(create_ui_app(yard), host=host, port=port, log_level="warning")
