"""``modelyard serve``: the HTTP prediction server."""

from __future__ import annotations

import click

from modelyard.cli.main import repo_path


@click.command()
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="The yard directory (overrides the group's --repo).",
)
@click.option("--host", default=None, help="Interface to bind. Default: serving.host (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port. Default: serving.port (8000).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn and modelyard log level.",
)
@click.option(
    "--preload/--no-preload",
    default=True,
    show_default=True,
    help="With --workers > 1: import the serving code once and fork the workers from it "
    "(gunicorn); --no-preload starts each worker as a fresh interpreter.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve on a non-loopback --host without bearer tokens (only behind something that authenticates).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    repo: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    log_level: str,
    preload: bool,
    insecure: bool,
) -> None:
    """Serve online predictions over HTTP (v1 JSON and Open Inference Protocol v2).

    Loads the version each model's deployment names, reloads when an alias moves, and
    answers until Ctrl-C. Binds 127.0.0.1 unless --host says otherwise; any other address
    needs bearer tokens (serving.auth.tokens or MODELYARD_TOKENS_*; see `modelyard token`)
    unless --insecure.

    \b
    Example:
      modelyard --repo feature_repo serve --port 8000 --workers 2
      curl -s localhost:8000/v1/models/trip_acceptance/predict \\
           -d '{"entities": {"driver_id": [1001], "customer_id": [2001]}}'
    """
    import logging
    import os

    from modelyard.serving.server import serve as run

    os.environ.setdefault("MODELYARD_LOG_LEVEL", log_level.upper())
    logging.getLogger("modelyard").setLevel(log_level.upper())
    run(
        os.path.abspath(repo) if repo else repo_path(ctx),
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        insecure=insecure,
        preload=preload,
    )


@click.command()
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(["predict", "feedback", "admin"]),
    multiple=True,
    default=("predict",),
    show_default=True,
    help="What the token may do (repeat for several; admin may do everything).",
)
@click.option("--name", default="", help="Who holds it (kept in the config entry, for rotation).")
def token(scopes: tuple[str, ...], name: str) -> None:
    """Make a bearer token for the HTTP API and the config entry that accepts it.

    The token is printed once, on stdout; the config keeps only its SHA-256. Several tokens
    per scope may be listed, so rotate by adding the new one, moving clients, removing the old.

    \b
    Example:
      modelyard token --scope predict --name checkout-service
      # add the printed entry under serving.auth.tokens in modelyard.yaml, give the token to the client
    """
    from modelyard.serving.auth import digest, new_token

    value = new_token()
    click.echo(value)
    entry = f"  - sha256: {digest(value)}\n    scopes: [{', '.join(sorted(set(scopes)))}]"
    if name:
        entry += f"\n    name: {name}"
    click.echo(f"# modelyard.yaml, under serving.auth.tokens:\n{entry}", err=True)
