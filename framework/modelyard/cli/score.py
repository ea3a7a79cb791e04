"""``modelyard score``: batch predictions for a table of entity rows, locally or on Dask."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelyard.cli.output import emit, json_option

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.batch.engine import Engine


@click.command("score")
@click.argument("model")
@click.option(
    "--entities",
    "entities",
    type=click.Path(exists=True, path_type=Path),
    help="Parquet file or directory of entity rows.",
)
@click.option(
    "--entities-sql",
    "entities_sql",
    metavar="URL",
    help="SQLAlchemy URL of a database holding the entity rows.",
)
@click.option("--table", metavar="TABLE", help="Table of entity rows in --entities-sql.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Parquet file to write."
)
@click.option(
    "--version",
    "version",
    type=int,
    default=None,
    help="Model version (default: the production alias, else the latest).",
)
@click.option("--alias", default=None, help="Score with the version this alias points at.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="dask.distributed scheduler (default: a LocalCluster).",
)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    help="LocalCluster workers (dask engine, no --scheduler).",
)
@click.option(
    "--chunk-rows", type=click.IntRange(min=1), default=200_000, show_default=True, help="Rows per chunk."
)
@click.option(
    "--timestamp", default="event_timestamp", show_default=True, help="Column with each row's time."
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@json_option
@click.pass_context
def score(
    ctx: click.Context,
    model: str,
    entities: Path | None,
    entities_sql: str | None,
    table: str | None,
    out: Path,
    version: int | None,
    alias: str | None,
    engine: Engine,
    scheduler: str | None,
    workers: int,
    chunk_rows: int,
    timestamp: str,
    no_progress: bool,
    as_json: bool,
) -> None:
    """Score a table of entity rows with MODEL, features as of each row's time.

    The input (Parquet, or a SQL table) needs the model's entity keys and a timestamp
    column; the output has the input's columns plus prediction, score (binary
    classifiers), model and version.

    \b
    Example:
      modelyard --repo feature_repo score trip_acceptance --entities in.parquet --out out.parquet
      modelyard score trip_acceptance --entities-sql postgresql+psycopg://u@db/x --table rides \\
          --out out.parquet --engine dask --scheduler tcp://10.0.0.5:8786
    """
    from modelyard.batch.engine import score as run_score
    from modelyard.batch.sources import ParquetSource, SqlSource
    from modelyard.cli.main import load_yard

    if (entities is None) == (entities_sql is None):
        raise click.UsageError("give exactly one of --entities FILE or --entities-sql URL --table TABLE")
    source: ParquetSource | SqlSource
    if entities is not None:
        source = ParquetSource(entities)
    elif entities_sql is not None and table:
        source = SqlSource(entities_sql, table)
    else:
        raise click.UsageError("--entities-sql needs --table")
    yard = load_yard(ctx)
    result = run_score(
        yard,
        model,
        source,
        out,
        version=version,
        alias=alias,
        engine=engine,
        scheduler=scheduler,
        workers=workers,
        chunk_rows=chunk_rows,
        timestamp=timestamp,
        progress=not no_progress and not as_json,
    )
    emit(
        {
            "model": result.model,
            "version": result.version,
            "rows": result.rows,
            "out": result.out,
            "engine": result.engine,
            "seconds": round(result.seconds, 3),
        },
        as_json=as_json,
        title="batch scoring",
    )
