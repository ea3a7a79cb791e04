"""``modelyard feedback MODEL FILE``: record ground truth from a CSV or Parquet file."""

from __future__ import annotations

from pathlib import Path

import click

from modelyard.cli.output import emit, json_option
from modelyard.errors import BadRequest


def read_table_file(path: Path) -> object:
    """A CSV or Parquet file as a DataFrame (chosen by suffix)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    raise BadRequest(f"{path}: expected a .csv or .parquet file")


@click.command("feedback")
@click.argument("model")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@click.pass_context
def feedback(ctx: click.Context, model: str, file: Path, as_json: bool) -> None:
    """Record ground-truth labels for past predictions of MODEL from FILE.

    FILE is CSV or Parquet with a ``label`` column and either ``request_id`` or the model's
    entity key columns plus an optional ``event_timestamp`` (the prediction's time; the
    nearest earlier prediction of that entity is labelled).

    \b
    Example:
      modelyard --repo feature_repo feedback trip_acceptance labels.csv
    """
    from modelyard.cli.main import load_yard
    from modelyard.predictions.feedback import record_feedback

    yard = load_yard(ctx)
    frame = read_table_file(file)
    recorded = record_feedback(yard, model, frame, source=f"file:{file.name}")
    emit(
        {"model": model, "file": str(file), "recorded": recorded}, as_json=as_json, title="feedback recorded"
    )
