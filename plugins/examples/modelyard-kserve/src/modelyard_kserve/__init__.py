"""modelyard-kserve: the hook implementations modelyard finds through the entry point ``kserve``.

This module stays cheap to import (``modelyard plugins`` and ``modelyard --help`` import it):
the protocol's routes (FastAPI) live in :mod:`modelyard_kserve.protocol`, named by string and
imported only when a server mounts the protocol.
"""

from __future__ import annotations

import json

import click

from modelyard.plugins import hookimpl
from modelyard.plugins.specs import ProtocolSpec


@hookimpl
def modelyard_protocols():
    yield ProtocolSpec(
        name="kserve-v1",
        summary="KServe v1: POST /v1/models/{name}:predict (instances -> predictions), GET /v1/models/{name}.",
        factory="modelyard_kserve.protocol:build",
    )


@hookimpl
def modelyard_register_commands(cli):
    @cli.command("kserve-example")
    @click.argument("model")
    @click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The server.")
    @click.pass_context
    def kserve_example(ctx: click.Context, model: str, url: str) -> None:
        """Print the KServe v1 URL and a request body for MODEL (its entity keys).

        \b
        Example:
          modelyard --repo feature_repo kserve-example trip_acceptance
        """
        from modelyard.yard import Yard

        keys = Yard.load(ctx.obj["repo"]).model(model).entity_keys
        click.echo(f"POST {url}/v1/models/{model}:predict")
        click.echo(json.dumps({"instances": [{k: f"<{k}>" for k in keys}]}))
