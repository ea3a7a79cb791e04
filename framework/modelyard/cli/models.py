"""Registry commands: ``models list|show|history|diff``, ``promote``, ``rollback``, ``gc``,
``usage`` and ``snapshots list|show``.

They call the yard's :class:`modelyard.registry.service.Registry`; every listing takes
``--json`` for scripts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from modelyard.cli.output import emit, json_option, plain, print_table, to_json

if TYPE_CHECKING:
    from modelyard.registry.service import Registry


def _registry(ctx: click.Context) -> Registry:
    from modelyard.cli.main import load_yard

    return load_yard(ctx).registry


def _readable(value: Any) -> Any:
    """A table cell for people: floats to 4 significant digits, times to the second."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return value[:19].replace("T", " ")  # an ISO timestamp from to_dict()
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    return value


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _readable(v) for k, v in row.items()} for row in rows]


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


# -- models ------------------------------------------------------------------------------


@click.group("models")
def models() -> None:
    """List, inspect and compare registered model versions.

    \b
    Examples:
      modelyard models list
      modelyard models show trip_acceptance --alias production
      modelyard models history trip_acceptance
      modelyard models diff trip_acceptance 1 2
    """


@models.command("list")
@json_option
@click.pass_context
def list_models(ctx: click.Context, as_json: bool) -> None:
    """Every registered model: versions, latest version and aliases.

    \b
    Example:
      modelyard models list --json
    """
    registry = _registry(ctx)
    rows = []
    for name in registry.list_models():
        versions = registry.list_versions(name)
        rows.append(
            {
                "model": name,
                "versions": len(versions),
                "latest": versions[-1].version if versions else None,
                "aliases": {alias: f"v{v}" for alias, v in registry.aliases(name).items()},
                "registered": versions[-1].created_at if versions else None,
            }
        )
    emit(
        rows if as_json else _rows(rows),
        as_json=as_json,
        columns=["model", "versions", "latest", "aliases", "registered"],
    )


@models.command("show")
@click.argument("model")
@click.argument("version", type=int, required=False)
@click.option("--alias", help="Show the version this alias points at instead.")
@json_option
@click.pass_context
def show(ctx: click.Context, model: str, version: int | None, alias: str | None, as_json: bool) -> None:
    """One version's details and lineage (default: the latest).

    \b
    Example:
      modelyard models show trip_acceptance 3
      modelyard models show trip_acceptance --alias production --json
    """
    v = _registry(ctx).get_version(model, version, alias=alias)
    data = v.to_dict()
    if as_json:
        click.echo(to_json(data))
        return
    rows = [{"field": key, "value": _readable(value)} for key, value in data.items()]
    print_table(rows, ["field", "value"], title=v.label)


@models.command("history")
@click.argument("model")
@click.option("--alias", help="Only the moves of this alias.")
@json_option
@click.pass_context
def history(ctx: click.Context, model: str, alias: str | None, as_json: bool) -> None:
    """Every alias move of a model: when, who, why, from which version to which.

    \b
    Example:
      modelyard models history trip_acceptance --alias production
    """
    events = [e.to_dict() for e in _registry(ctx).history(model, alias)]
    if as_json:
        click.echo(to_json(events))
        return
    rows = [
        {
            "at": _readable(e["at"]),
            "alias": e["alias"],
            "move": f"{'v' + str(e['from_version']) if e['from_version'] is not None else '-'} -> v{e['to_version']}",
            "action": f"{e['action']} (forced)" if e.get("forced") else e["action"],
            "actor": e["actor"],
            "reason": e["reason"],
        }
        for e in events
    ]
    print_table(rows, ["at", "alias", "move", "action", "actor", "reason"], title=f"{model} alias history")


@models.command("diff")
@click.argument("model")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the diff as a self-contained HTML page to this file.",
)
@json_option
@click.pass_context
def diff(ctx: click.Context, model: str, a: int, b: int, html_out: str | None, as_json: bool) -> None:
    """What differs between two versions: params, metrics, data, features, code, libraries.

    \b
    Example:
      modelyard models diff trip_acceptance 1 2
      modelyard models diff trip_acceptance 1 2 --html diff.html
    """
    d = _registry(ctx).diff(model, a, b)
    data = d.to_dict()
    if html_out is not None:
        from modelyard.monitoring.report.build import render_diff_html

        with open(html_out, "w", encoding="utf-8") as fh:
            fh.write(render_diff_html(data))
    if as_json:
        click.echo(to_json(data))
        return
    if html_out is not None:
        click.echo(f"wrote {plain(html_out)}")
    click.echo(plain(f"{model}: v{a} -> v{b}"))
    if d.identical:
        click.echo("identical: same artifact, parameters, metrics, data, code and libraries")
    code = data["code"]
    print_table(
        [
            {
                "what": key,
                "a": _short_hash(code["a"][key]),
                "b": _short_hash(code["b"][key]),
                "change": "same" if code["a"][key] == code["b"][key] else "changed",
            }
            for key in ("code_sha256", "config_sha256")
        ],
        ["what", "a", "b", "change"],
        title="training code and config (--json for the full hashes)",
    )
    change_columns = ["name", "a", "b", "delta"]
    for key, title in (
        ("params", "parameters"),
        ("metrics", "metrics"),
        ("lineage", "artifact, features and code"),
        ("snapshot", "training data"),
        ("libraries", "libraries"),
    ):
        if data[key]:
            print_table(_rows(data[key]), change_columns, title=title)
    features = data["features"]
    if features["added"] or features["removed"]:
        rows = [{"feature": f, "change": "added"} for f in features["added"]]
        rows += [{"feature": f, "change": "removed"} for f in features["removed"]]
        print_table(rows, ["feature", "change"], title="feature set")
    if data["feature_stats"]:
        print_table(
            _rows(data["feature_stats"]),
            ["feature", "statistic", "a", "b", "shift"],
            title="feature statistics",
        )
    if data["data"]:
        _print_data_diff(data["data"])
    for note in data["notes"]:
        click.echo(f"note: {plain(note)}")


def _short_hash(value: str | None) -> str:
    return "not recorded" if value is None else value[:16]


def _print_data_diff(data: dict[str, Any]) -> None:
    rows = data["rows"]
    print_table(
        [{"rows": k, "count": rows[k]} for k in ("a", "b", "added", "removed", "changed", "unchanged")],
        ["rows", "count"],
        title=f"training rows matched by {', '.join(data['keys'])}",
    )
    label = data["label"]
    if label["name"]:
        values = list(dict.fromkeys([*label["a"], *label["b"]]))
        print_table(
            [
                {"value": v, "a": _readable(label["a"].get(v)), "b": _readable(label["b"].get(v))}
                for v in values
            ],
            ["value", "a", "b"],
            title=f"label {label['name']} ({label['kind']}): {label['changed_rows']} matched row(s) changed label",
        )
    if data["features"]:
        print_table(
            _rows(data["features"]),
            ["feature", "kind", "movement", "rows_changed", "share_changed", "a", "b"],
            title="features by movement (largest first)",
        )


@models.command("verify")
@click.argument("model")
@click.argument("version", type=int)
@click.option(
    "--against", type=int, metavar="M", help="Compare with registered version M instead of retraining."
)
@click.option("--tolerance", type=float, help="Largest allowed output difference (default: 0; onnx 1e-6).")
@json_option
@click.pass_context
def verify(
    ctx: click.Context, model: str, version: int, against: int | None, tolerance: float | None, as_json: bool
) -> None:
    """Check that a version reproduces: same predictions on its snapshot, bit for bit.

    Retrains VERSION from its stored snapshot with its recorded split, params and training
    function (or loads --against M, e.g. what 'train --from-version' registered) and
    predicts every snapshot row with both. Exits 1 when the predictions differ beyond the
    tolerance.

    \b
    Example:
      modelyard models verify trip_acceptance 3
      modelyard models verify trip_acceptance 3 --against 7 --json
    """
    from modelyard.cli.main import load_yard
    from modelyard.registry.verify import verify_version

    result = verify_version(load_yard(ctx), model, version, against=against, tolerance=tolerance)
    data = result.to_dict()
    if as_json:
        click.echo(to_json(data))
    else:
        print_table(
            [{"field": k, "value": _readable(v)} for k, v in data.items()],
            ["field", "value"],
            title=f"{model} v{version} against {result.against}: {result.verdict}",
        )
    if not result.ok:
        ctx.exit(1)


# -- aliases -----------------------------------------------------------------------------


def _event_out(event: Any, as_json: bool) -> None:
    if as_json:
        click.echo(to_json(event.to_dict()))
    else:
        before = f"v{event.from_version}" if event.from_version is not None else "(none)"
        forced = ", forced" if event.forced else ""
        click.echo(
            plain(
                f"{event.model}@{event.alias}: {before} -> v{event.to_version} "
                f"({event.action} by {event.actor}{forced})"
            )
        )


@click.command("promote")
@click.argument("model")
@click.argument("version", type=int)
@click.option("--alias", default="production", show_default=True, help="The alias to move.")
@click.option("--reason", required=True, help="Why; kept in the alias history.")
@click.option("--actor", help="Who (default: $MODELYARD_USER or the login name).")
@click.option("--force", is_flag=True, help="Promote past failing promotion gates (recorded as forced).")
@json_option
@click.pass_context
def promote(
    ctx: click.Context,
    model: str,
    version: int,
    alias: str,
    reason: str,
    actor: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Point an alias at a version (recorded in the alias history).

    The model's promotion gates (models.X.promotion.gates) and plugins' vetoes are checked
    first; a failing candidate is refused with the failed conditions unless --force.

    \b
    Example:
      modelyard promote trip_acceptance 3 --reason "better AUC on May data"
      modelyard promote trip_acceptance 4 --force --reason "hotfix, AUC checked by hand"
    """
    _event_out(
        _registry(ctx).promote(model, version, alias, reason=reason, actor=actor, force=force), as_json
    )


@click.command("rollback")
@click.argument("model")
@click.option("--alias", default="production", show_default=True, help="The alias to move back.")
@click.option("--reason", required=True, help="Why; kept in the alias history.")
@click.option("--actor", help="Who (default: $MODELYARD_USER or the login name).")
@json_option
@click.pass_context
def rollback(
    ctx: click.Context, model: str, alias: str, reason: str, actor: str | None, as_json: bool
) -> None:
    """Move an alias back to its previous holder, from the history.

    \b
    Example:
      modelyard rollback trip_acceptance --reason "error rate up since v3"
    """
    _event_out(_registry(ctx).rollback(model, alias, reason=reason, actor=actor), as_json)


# -- storage -----------------------------------------------------------------------------


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted, and why the rest is kept.")
@json_option
@click.pass_context
def gc(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Delete versions, snapshots and artifacts the retention policy does not keep.

    Keeps the last retention.keep_last versions of each model, every version an alias
    holds or held in the last retention.keep_alias_days days, each alias's rollback
    target, every variant of a deployment (live, shadow, canary, paused or running
    experiment), their snapshots and artifacts. Artifacts are matched by content hash;
    gc deletes nothing if the registry references a store it cannot reconcile with its own.
    With --dry-run every kept item is listed with the reasons it is kept.

    \b
    Example:
      modelyard gc --dry-run
    """
    report = _registry(ctx).gc(dry_run=dry_run)
    if as_json:
        click.echo(to_json(report.to_dict()))
        return
    verb = "would delete" if dry_run else "deleted"
    rows = [{"kind": "version", "what": f"{m} v{v}", "bytes": None} for m, v in report.versions]
    rows += [{"kind": "snapshot", "what": s, "bytes": None} for s in report.snapshots]
    rows += [{"kind": "artifact", "what": u, "bytes": _bytes(s)} for u, s in report.artifacts]
    if rows:
        print_table(rows, ["kind", "what", "bytes"], title=f"gc {verb}")
    if dry_run and report.reasons:
        print_table(
            [{"kind": k.kind, "what": k.what, "kept because": "\n".join(k.reasons)} for k in report.reasons],
            ["kind", "what", "kept because"],
            title="gc keeps",
        )
    click.echo(
        f"gc {verb} {len(report.versions)} version(s), {len(report.snapshots)} snapshot(s), "
        f"{len(report.artifacts)} artifact(s): {_bytes(report.bytes_freed)}"
    )


@click.command("usage")
@json_option
@click.pass_context
def usage(ctx: click.Context, as_json: bool) -> None:
    """Storage per model: artifacts, snapshots and prediction logs, in bytes.

    \b
    Example:
      modelyard usage --json
    """
    items = [u.to_dict() for u in _registry(ctx).usage()]
    if as_json:
        click.echo(to_json(items))
        return
    rows = [
        {
            "model": u["model"],
            "versions": u["versions"],
            "artifacts": _bytes(u["artifacts_bytes"]),
            "snapshots": f"{u['snapshots']} ({_bytes(u['snapshots_bytes'])})",
            "logs": _bytes(u["logs_bytes"]),
            "total": _bytes(u["total_bytes"]),
        }
        for u in items
    ]
    print_table(rows, ["model", "versions", "artifacts", "snapshots", "logs", "total"], title="storage usage")


# -- snapshots ---------------------------------------------------------------------------


@click.group("snapshots")
def snapshots() -> None:
    """List and inspect training-data snapshots.

    \b
    Examples:
      modelyard snapshots list --model trip_acceptance
      modelyard snapshots show 3f2a...
    """


@snapshots.command("list")
@click.option("--model", help="Only this model's snapshots.")
@json_option
@click.pass_context
def list_snapshots(ctx: click.Context, model: str | None, as_json: bool) -> None:
    """Snapshots, oldest first: id, model, rows, time range, size.

    \b
    Example:
      modelyard snapshots list --json
    """
    rows = [s.to_dict(with_profile=False) for s in _registry(ctx).list_snapshots(model)]
    if not as_json:
        for row in rows:
            row["size"] = _bytes(row["size"] + row["entities_size"])
        rows = _rows(rows)
    emit(rows, as_json=as_json, columns=["id", "model", "rows", "start", "end", "size", "created_at"])


@snapshots.command("show")
@click.argument("snapshot_id")
@click.option("--profile", "with_profile", is_flag=True, help="Include the reference profile (JSON only).")
@json_option
@click.pass_context
def show_snapshot(ctx: click.Context, snapshot_id: str, with_profile: bool, as_json: bool) -> None:
    """One snapshot: files, hashes, rows, time range, feature refs, schema fingerprint.

    \b
    Example:
      modelyard snapshots show 3f2a... --json --profile
    """
    snap = _registry(ctx).get_snapshot(snapshot_id)
    data = snap.to_dict(with_profile=with_profile and as_json)
    if as_json:
        click.echo(to_json(data))
        return
    data["profiled features"] = [f.get("name") for f in (snap.profile or {}).get("features", [])]
    print_table(
        [{"field": k, "value": _readable(v)} for k, v in data.items()],
        ["field", "value"],
        title=f"snapshot {snap.id}",
    )
