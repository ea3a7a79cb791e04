"""Feature-store commands: ``apply``, ``materialize`` and ``features`` (the online vector).

They call the yard's :class:`modelyard.features.store.FeatureFacade`; Feast is imported
only when one of them runs.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from modelyard.cli.output import emit, json_option
from modelyard.errors import BadRequest


def _as_dict(result: Any) -> dict[str, Any]:
    """A facade result (dataclass, mapping or plain object) as a dict for printing."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    if isinstance(result, Mapping):
        return dict(result)
    return (
        {k: v for k, v in vars(result).items() if not k.startswith("_")}
        if hasattr(result, "__dict__")
        else {}
    )


def _parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 timestamp from the command line, as a UTC datetime (naive means UTC)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2024-05-01 or 2024-05-01T12:00:00Z", param_hint=option
        ) from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


@click.command("apply")
@click.option(
    "--force",
    is_flag=True,
    help="Apply even if it removes or retypes features that versions in use read (serving then "
    "reports those models not ready).",
)
@json_option
@click.pass_context
def apply(ctx: click.Context, force: bool, as_json: bool) -> None:
    """Check the models against the feature repo, then feast apply.

    Every model's FeatureService must exist and its entities' join keys must equal the
    model's entity_keys, every monitors[].features entry must be a feature of its model, and
    no feature that a version holding an alias or deployed still reads may be removed or
    change type (unless --force); if not, nothing is applied and the error names the
    model, version and alias.

    \b
    Examples:
      modelyard --repo feature_repo apply
      modelyard --repo feature_repo apply --force
    """
    from modelyard.cli.main import load_yard

    yard = load_yard(ctx)
    result = yard.features.apply(force=force)
    data = _as_dict(result)
    if as_json:
        emit(data, as_json=True)
        return
    click.echo(f"Applied the feature repo in {yard.path}")
    for key, value in data.items():
        if key == "report":
            continue
        click.echo(
            f"  {key.replace('_', ' ')}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
        )
    report = str(data.get("report") or "").strip()
    if report:
        click.echo(report)


@click.command("materialize")
@click.option("--start", help="Start time (ISO 8601); default: where the last materialization ended.")
@click.option("--end", help="End time (ISO 8601); default: now.")
@click.option(
    "--no-progress",
    is_flag=True,
    help="Do not draw the progress bar (drawn only on a terminal; -v logs rows/s).",
)
@json_option
@click.pass_context
def materialize(
    ctx: click.Context, start: str | None, end: str | None, no_progress: bool, as_json: bool
) -> None:
    """Load feature values into the online store.

    Incremental: each feature view continues from where its last materialization ended,
    up to --end (default: now). Give --start to (re)load a fixed interval instead.

    \b
    Examples:
      modelyard materialize
      modelyard materialize --start 2024-05-01 --end 2024-05-08T00:00:00Z
    """
    from modelyard.cli.main import load_yard

    start_at = _parse_time(start, "--start")
    end_at = _parse_time(end, "--end")
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise click.BadParameter(f"--start {start} is not before --end {end}", param_hint="--start")
    yard = load_yard(ctx)
    bar = not no_progress and not as_json and sys.stderr.isatty()
    result = yard.features.materialize(end_at, start=start_at, progress=bar)
    data = _as_dict(result)
    rows_by_view = dict(data.get("rows_by_view") or {})
    if as_json:
        emit(data, as_json=True)
        return
    starts = data.get("starts") or {}
    emit(
        [
            {"feature view": view, "from": starts.get(view), "rows": rows}
            for view, rows in rows_by_view.items()
        ],
        as_json=False,
        columns=["feature view", "from", "rows"],
        title=f"materialized up to {data.get('end')}",
    )


def parse_entities(
    pairs: Sequence[str], keys: Sequence[str], types: Mapping[str, str]
) -> dict[str, list[Any]]:
    """``key=value`` options as columnar entity keys, typed by the entity's Feast value type.

    Each key may repeat (one value per entity row); every declared key is required and
    all must repeat equally often. ``types`` maps a join key to its Feast ValueType name.
    """
    return parse_pairs(pairs, keys, types, option="--entity")


def parse_pairs(
    pairs: Sequence[str], keys: Sequence[str], types: Mapping[str, str], *, option: str
) -> dict[str, list[Any]]:
    """``NAME=VALUE`` options (``option``: --entity, --request) as typed columns, every name required."""
    what, its = ("an entity key", "its keys are") if option == "--entity" else ("a request field", "it takes")
    columns: dict[str, list[Any]] = {key: [] for key in keys}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            example = keys[0] if keys else "name"
            raise BadRequest(f"{option} {pair!r}: expected KEY=VALUE, e.g. {option} {example}=1001")
        if key not in columns:
            raise BadRequest(
                f"{option} {key}: not {what} of this model; {its}: {', '.join(keys) or '(none)'}"
            )
        columns[key].append(_convert(raw, types.get(key), key, option))
    missing = [key for key, values in columns.items() if not values]
    if missing:
        raise BadRequest(
            f"missing {option} for {', '.join(missing)} (give each: "
            + " ".join(f"{option} {k}=..." for k in keys)
            + ")"
        )
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise BadRequest(f"each {option} name must be given the same number of times (one value per row)")
    return columns


_INT_TYPES = {"INT32", "INT64", "UNIX_TIMESTAMP"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}


def _convert(raw: str, value_type: str | None, key: str, option: str = "--entity") -> Any:
    """One value from text, as its Feast value type wants it."""
    try:
        if value_type in _INT_TYPES:
            return int(raw)
        if value_type in _FLOAT_TYPES:
            return float(raw)
    except ValueError:
        raise BadRequest(f"{option} {key}={raw}: {key} is {value_type}, {raw!r} is not") from None
    if value_type == "BOOL":
        if raw.lower() not in {"true", "false", "1", "0"}:
            raise BadRequest(f"{option} {key}={raw}: {key} is BOOL, use true or false")
        return raw.lower() in {"true", "1"}
    return raw


def join_key_types(feature_store: Any) -> dict[str, str]:
    """Join key -> Feast ValueType name, for every entity in the Feast registry."""
    types: dict[str, str] = {}
    for entity in feature_store.list_entities():
        join_key = getattr(entity, "join_key", None) or entity.name
        types[join_key] = entity.value_type.name
    return types


@click.command("features")
@click.argument("model")
@click.option(
    "--entity",
    "-e",
    "entities",
    multiple=True,
    metavar="KEY=VALUE",
    help="An entity key of the model and its value; repeat for each key (and again for more rows).",
)
@click.option(
    "--request",
    "-r",
    "request_values",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Request data of the model's on-demand views (a RequestSource field and its value), per row.",
)
@json_option
@click.pass_context
def features(
    ctx: click.Context, model: str, entities: tuple[str, ...], request_values: tuple[str, ...], as_json: bool
) -> None:
    """Show a model's online feature vector for an entity.

    Reads the online store through the model's FeatureService, exactly as serving does:
    same features, same order, same types; missing values show as '-' (null in JSON).
    On-demand views take their request data with --request.
    `modelyard features status` shows how fresh every online view is instead.

    \b
    Examples:
      modelyard features driver_churn --entity driver_id=1001
      modelyard features trip_acceptance -e driver_id=7 -e customer_id=42 --json
      modelyard features trip_eta -e driver_id=7 -r trip_distance_km=3.2
      modelyard features status
    """
    from modelyard.cli.main import load_yard

    yard = load_yard(ctx)
    if model == "status" and not entities:
        _status(yard, as_json)
        return
    declared = yard.model(model)
    keys = list(declared.entity_keys)
    columns = parse_entities(entities, keys, join_key_types(yard.features.store))
    request_types = yard.features.request_fields(model)
    request = None
    if request_values or request_types:
        request = parse_pairs(request_values, list(request_types), request_types, option="--request")
    frame = yard.features.online_vectors(model, columns, request=request)
    if as_json:
        emit(_records(frame, python=True), as_json=True)
        return
    records = _records(frame, python=False)  # numpy scalars print as the model's dtype shows them
    if len(records) == 1:
        dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
        rows = [
            {"feature": name, "value": value, "dtype": dtypes[name]} for name, value in records[0].items()
        ]
        emit(rows, as_json=False, columns=["feature", "value", "dtype"], title=f"{model} online vector")
    else:
        emit(records, as_json=False, columns=[str(c) for c in frame.columns], title=f"{model} online vectors")


def _records(frame: Any, *, python: bool) -> list[dict[str, Any]]:
    """Rows of a DataFrame as dicts, missing values as None; ``python`` converts numpy scalars."""
    import pandas as pd

    out = []
    for i in range(len(frame)):
        row = {}
        for col in frame.columns:
            value = frame[col].iloc[i]
            if _is_missing(pd, value):
                value = None
            elif python and hasattr(value, "item"):
                value = value.item()
            row[str(col)] = value
        out.append(row)
    return out


def _is_missing(pd: Any, value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays are values, not missing
        return False


def _status(yard: Any, as_json: bool) -> None:
    """The freshness table of ``modelyard features status``."""
    views = yard.features.freshness()
    if as_json:
        emit([v.to_dict() for v in views], as_json=True)
        return
    rows = [
        {
            "view": v.view,
            "ttl": _span(v.ttl),
            "last materialized": v.last_materialized,
            "last pushed": v.last_pushed,
            "lag": _span(v.lag) if v.lag is not None else "never loaded",
            "lag/ttl": None if v.lag_share_of_ttl is None else f"{v.lag_share_of_ttl:.0%}",
            "models": list(v.models),
        }
        for v in views
    ]
    emit(rows, as_json=False, columns=list(rows[0]) if rows else ["view"], title="online feature views")


def _span(value: Any) -> str | None:
    from modelyard.features.freshness import format_span

    return format_span(value)


@click.command("push")
@click.argument("source")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--to",
    type=click.Choice(["online", "offline", "online_and_offline"]),
    default="online",
    show_default=True,
    help="Where the rows go: the online store, the offline store (training data), or both.",
)
@json_option
@click.pass_context
def push(ctx: click.Context, source: str, file: Path, to: str, as_json: bool) -> None:
    """Write fresh feature rows from FILE through the Feast push source SOURCE.

    FILE is CSV or Parquet with the source's join keys, features and event
    timestamp. The rows are checked before anything is written; with both destinations the
    offline store is written first, and a failed push can be run again as it is.

    \b
    Examples:
      modelyard push driver_live_push live.parquet
      modelyard push driver_live_push live.csv --to online_and_offline
    """
    from modelyard.cli.feedback import read_table_file
    from modelyard.cli.main import load_yard

    yard = load_yard(ctx)
    result = yard.features.push(source, read_table_file(file), to=to)
    emit(result.to_dict(), as_json=as_json, title=f"pushed to {source}")
