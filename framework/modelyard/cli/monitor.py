"""Monitoring commands: ``monitor run`` (once), ``monitor watch`` (on a schedule), ``monitor results``, ``report``.

numpy, scipy and pandas are imported only when one of them runs.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from modelyard.cli.output import emit, json_option

RESULT_COLUMNS = [
    "monitor",
    "version",
    "variant",
    "feature",
    "statistic",
    "score",
    "p_value",
    "threshold",
    "drifted",
]


def _run_rows(runs: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        for row in run.rows():
            row["details"] = {k: v for k, v in row["details"].items() if k != "examples"}
            rows.append(row)
    return rows


@click.group("monitor")
def monitor() -> None:
    """Run a model's monitors over windows of the prediction log.

    \b
    Examples:
      modelyard monitor run trip_acceptance --window 1h
      modelyard monitor watch trip_acceptance --every 15m
      modelyard monitor results trip_acceptance --since 2026-01-01
    """


@monitor.command("run")
@click.argument("model")
@click.option(
    "--window", default=None, help="30m, 1h, 2d... (time), 5000 (last rows) or all. Default: each monitor's."
)
@click.option("--monitor", "monitors", multiple=True, help="Run only this monitor (repeatable).")
@click.option("--no-alert", is_flag=True, help="Store results but raise no alerts.")
@click.option("--no-store", is_flag=True, help="Do not store the results in the registry.")
@json_option
@click.pass_context
def run(
    ctx: click.Context,
    model: str,
    window: str | None,
    monitors: tuple[str, ...],
    no_alert: bool,
    no_store: bool,
    as_json: bool,
) -> None:
    """Run MODEL's monitors once over a window of its prediction log.

    Each part of the window (per version, per variant when the monitor says so) is compared
    with the reference profile of that version's training snapshot. Results are stored in
    the registry and failures raise alerts. Exit code 2 when a monitor failed.

    \b
    Example:
      modelyard monitor run trip_acceptance --window 1h
    """
    from modelyard.cli.main import load_yard
    from modelyard.monitoring.runner import run_monitors

    yard = load_yard(ctx)
    runs = run_monitors(
        yard, model, window=window, monitors=list(monitors) or None, store=not no_store, alert=not no_alert
    )
    rows = _run_rows(runs)
    if not runs:
        click.echo(f"no predictions of {model} in the window", err=True)
    emit(rows, as_json=as_json, columns=RESULT_COLUMNS, title=f"{model}: monitor results")
    if any(r.failed for r in runs):
        ctx.exit(2)


@monitor.command("watch")
@click.argument("model")
@click.option("--every", default="15m", show_default=True, help="Time between runs (30s, 15m, 1h...).")
@click.option("--window", default=None, help="Window of each run. Default: each monitor's.")
@click.option(
    "--runs", "max_runs", type=int, default=None, help="Stop after this many runs (default: never)."
)
@click.pass_context
def watch(ctx: click.Context, model: str, every: str, window: str | None, max_runs: int | None) -> None:
    """Run MODEL's monitors on a schedule until interrupted.

    \b
    Example:
      modelyard monitor watch trip_acceptance --every 15m --window 1h
    """
    from modelyard.cli.main import load_yard
    from modelyard.errors import MonitoringError
    from modelyard.monitoring.runner import Window, run_monitors

    interval = Window.parse(every).duration
    if interval is None:
        raise MonitoringError(f"--every needs a duration such as 30s, 15m or 1h, not {every!r}")
    yard = load_yard(ctx)
    done = 0
    while max_runs is None or done < max_runs:
        started = time.monotonic()
        runs = run_monitors(yard, model, window=window)
        failed = [r.monitor for r in runs if r.failed]
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        click.echo(f"{stamp} {model}: {len(runs)} monitor run(s), failed: {', '.join(failed) or 'none'}")
        done += 1
        if max_runs is not None and done >= max_runs:
            break
        time.sleep(max(0.0, interval.total_seconds() - (time.monotonic() - started)))


@monitor.command("results")
@click.argument("model")
@click.option(
    "--since", default=None, help="Only results stored since this ISO time or duration ago (e.g. 1d)."
)
@click.option("--failed", is_flag=True, help="Only failed results.")
@json_option
@click.pass_context
def results(ctx: click.Context, model: str, since: str | None, failed: bool, as_json: bool) -> None:
    """Show stored monitor results of MODEL.

    \b
    Example:
      modelyard monitor results trip_acceptance --since 1d --failed
    """
    from modelyard.cli.main import load_yard

    yard = load_yard(ctx)
    yard.model(model)
    rows = yard.registry.backend.monitor_results(model, since=_since(since))
    if failed:
        rows = [r for r in rows if r["drifted"]]
    emit(
        rows,
        as_json=as_json,
        columns=["created_at", *RESULT_COLUMNS],
        title=f"{model}: stored monitor results",
    )


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    from modelyard.monitoring.runner import Window

    if value[-1:] in "smhdw" and value[:-1].replace(".", "").isdigit():
        duration = Window.parse(value).duration
        return datetime.now(timezone.utc) - (duration or timedelta())
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an ISO time nor a duration like 1d", param_hint="--since"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@click.command("report")
@click.argument("model")
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Write the HTML report to this file."
)
@click.option(
    "--window", default="all", show_default=True, help="Window of the log to judge (1h, 5000, all...)."
)
@click.option(
    "--diff",
    "diff_versions",
    type=int,
    nargs=2,
    default=None,
    metavar="A B",
    help="Also show what differs between versions A and B (as models diff: data, label, features, code).",
)
@json_option
@click.pass_context
def report(
    ctx: click.Context,
    model: str,
    out: str | None,
    window: str,
    diff_versions: tuple[int, int] | None,
    as_json: bool,
) -> None:
    """Write a self-contained HTML monitoring report of MODEL (or print it as JSON).

    Per version in the window: drift and quality results, reference vs current distribution
    of every feature, and stored monitor results over time.

    \b
    Example:
      modelyard report trip_acceptance --out report.html
      modelyard report trip_acceptance --out report.html --diff 1 2
    """
    from modelyard.cli.main import load_yard
    from modelyard.cli.output import to_json
    from modelyard.monitoring.report.build import build_report, render_html

    data = build_report(load_yard(ctx), model, window=window, diff=diff_versions or None)
    if as_json:
        click.echo(to_json(data.to_dict()))
        return
    if out is None:
        raise click.UsageError("give --out FILE for the HTML report, or --json")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(render_html(data))
    click.echo(f"wrote {out}")
