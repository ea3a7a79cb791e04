"""``modelyard train MODEL``: snapshot the training frame, train, evaluate, register.

The work is :func:`modelyard.registry.training.train_model`; this module only parses
options and prints the result.
"""

from __future__ import annotations

from typing import Any

import click

from modelyard.cli.output import emit, json_option


def _parse_params(values: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` options as a dict, each value read as YAML (``C=0.5`` -> 0.5, ``x=[1,2]``)."""
    import yaml

    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        try:
            params[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise click.BadParameter(
                f"cannot read the value of {key!r}: {exc}", param_hint="--param"
            ) from None
    return params


@click.command("train")
@click.argument("model")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one of training.params (repeatable; values read as YAML).",
)
@click.option(
    "--from-version",
    type=int,
    metavar="N",
    help="Reproduce version N: its snapshot, recorded split, params and training function (no Feast read).",
)
@click.option(
    "--snapshot", "snapshot_id", metavar="ID", help="Train on this stored snapshot instead of reading Feast."
)
@click.option("--description", default="", help="Description stored with the new version.")
@json_option
@click.pass_context
def train(
    ctx: click.Context,
    model: str,
    params: tuple[str, ...],
    from_version: int | None,
    snapshot_id: str | None,
    description: str,
    as_json: bool,
) -> None:
    """Train MODEL with its training function and register the new version.

    Reads the training entities, builds the training frame through Feast, saves it as a
    snapshot, trains on the training split, evaluates on the held-out split and registers
    the version with its params, validation metrics and snapshot. With --from-version N
    it retrains version N from its stored snapshot with N's recorded split, params and
    training function, without touching the Feast sources (then: modelyard models verify).

    \b
    Example:
      modelyard --repo feature_repo train trip_acceptance --param C=0.5
      modelyard --repo feature_repo train trip_acceptance --from-version 3
    """
    from modelyard.cli.main import load_yard
    from modelyard.registry.training import reproduce_version, train_model

    overrides = _parse_params(params)
    if from_version is not None and (overrides or snapshot_id):
        raise click.UsageError(
            "--from-version repeats the recorded recipe: give no --param or --snapshot with it"
        )
    yard = load_yard(ctx)
    if from_version is not None:
        result = reproduce_version(yard, model, from_version, description=description)
    else:
        result = train_model(yard, model, params=overrides, snapshot=snapshot_id, description=description)
    version = result.version
    data = {
        "model": version.model,
        "version": version.version,
        "flavor": version.flavor,
        "snapshot": result.snapshot.id,
        "train_rows": result.train_rows,
        "test_rows": result.test_rows,
        "artifact_sha256": version.artifact_sha256,
        "code_sha256": version.code_sha256,
        "params": result.params,
        "metrics": result.metrics,
    }
    if as_json:
        emit(data, as_json=True)
        return
    click.echo(
        f"Registered {version.label} ({version.flavor}) from snapshot {result.snapshot.id}: "
        f"{result.train_rows} training rows, {result.test_rows} held out."
    )
    emit(
        [{"metric": k, "value": f"{v:.4f}"} for k, v in result.metrics.items()],
        as_json=False,
        columns=["metric", "value"],
        title=f"{version.label} metrics",
    )
