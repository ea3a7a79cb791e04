"""Rollout commands: ``deploy``, ``rollout status|history|pause|resume|abort|weights|tick|watch``,
``experiment report`` and ``replay``.

Thin wrappers over :mod:`modelyard.rollout.changes`, :mod:`modelyard.rollout.policy`,
:mod:`modelyard.rollout.analysis` and :mod:`modelyard.rollout.replay`.
"""

from __future__ import annotations

import getpass
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from modelyard.cli.output import emit, json_option
from modelyard.errors import RolloutError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """``"2h"``/``"30m"``/``"7d"`` ago, or an ISO-8601 time (UTC if no zone); ``None`` passes through."""
    if text is None:
        return None
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RolloutError(
            f"cannot read time {text!r}; give a duration like 2h, 30m, 7d or an ISO time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RolloutError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _store(ctx: click.Context) -> Any:
    from modelyard.cli.main import load_yard
    from modelyard.routing.deployment import DeploymentStore

    yard = load_yard(ctx)
    return yard, DeploymentStore.for_yard(yard)


def _deployment_rows(deployment: Any) -> list[dict[str, Any]]:
    weights = deployment.weights()
    return [
        {
            "variant": v.name,
            "version": v.version,
            "mode": v.mode,
            "weight": v.weight,
            "share": f"{weights[v.name]:.1%}" if v.mode == "live" else "shadow",
        }
        for v in deployment.variants
    ]


def _status_dict(deployment: Any) -> dict[str, Any]:
    return {
        "model": deployment.model,
        "router": deployment.router,
        "status": deployment.status,
        "revision": deployment.revision,
        "alias": deployment.alias,
        "salt": deployment.salt,
        "settings": dict(deployment.settings),
        "guards": [dict(g) for g in deployment.guards],
        "state": dict(deployment.state),
        "variants": _deployment_rows(deployment),
    }


reason_option = click.option("--reason", required=True, help="Why (recorded in the deployment history).")
actor_option = click.option("--actor", default=None, help="Who (default: the current user).")


@click.command("deploy")
@click.argument("model")
@click.option(
    "--router",
    "router",
    default="single",
    show_default=True,
    help="Router plugin: single, ab, shadow, canary...",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    help="Live variant VERSION[=WEIGHT] or NAME@VERSION=WEIGHT (repeat).",
)
@click.option("--shadow", "shadows", multiple=True, help="Shadow VERSION (repeat).")
@click.option(
    "--set", "settings", multiple=True, help="Router setting KEY=VALUE (VALUE read as JSON if it parses)."
)
@click.option("--salt", default=None, help="Experiment salt (default: a new one, reshuffling assignment).")
@click.option(
    "--guard",
    "guards",
    multiple=True,
    help='Guard as JSON, e.g. \'{"type": "error_rate", "max": 0.02}\' (repeat; default: modelyard.yaml\'s).',
)
@reason_option
@actor_option
@json_option
@click.pass_context
def deploy(
    ctx: click.Context,
    model: str,
    router: str,
    variants: tuple[str, ...],
    shadows: tuple[str, ...],
    settings: tuple[str, ...],
    salt: str | None,
    guards: tuple[str, ...],
    reason: str,
    actor: str | None,
    as_json: bool,
) -> None:
    """Deploy MODEL at run time: which versions answer and how traffic is split.

    Every worker picks the new deployment up within serving.reload_interval seconds;
    the change is recorded in the deployment history.

    \b
    Examples:
      modelyard deploy trip_acceptance --router ab --variant v1=0.5 --variant v2=0.5 --reason "A/B v2"
      modelyard deploy trip_acceptance --router canary --variant v3 --set steps='[5,25,50,100]' \\
          --set min_dwell_seconds=600 --reason "canary v3"
      modelyard deploy trip_acceptance --router shadow --variant v2 --shadow 3 --reason "shadow v3"
    """
    from modelyard.rollout import changes

    _, store = _store(ctx)
    live = [changes.parse_variant(v) for v in variants]
    shadow = [changes.parse_variant(s, mode="shadow") for s in shadows]
    parsed_guards = None
    if guards:
        try:
            parsed_guards = [json.loads(g) for g in guards]
        except json.JSONDecodeError as exc:
            raise RolloutError(f"--guard must be a JSON object: {exc}") from None
    deployment = changes.deploy(
        store,
        model,
        router=router,
        variants=live,
        shadows=shadow,
        settings=_settings(settings),
        salt=salt,
        guards=parsed_guards,
        actor=_actor(actor),
        reason=reason,
    )
    emit(
        _status_dict(deployment) if as_json else _deployment_rows(deployment),
        as_json=as_json,
        title=f"{model}: {deployment.router} deployment, revision {deployment.revision}",
    )


@click.group("rollout")
def rollout() -> None:
    """Inspect and steer a model's rollout: status, history, pause, resume, abort, weights, tick, watch."""


@rollout.command("status")
@click.argument("model")
@json_option
@click.pass_context
def status(ctx: click.Context, model: str, as_json: bool) -> None:
    """Show the deployment of MODEL in force: router, status, variants and their traffic shares.

    \b
    Example:
      modelyard rollout status trip_acceptance --json
    """
    _, store = _store(ctx)
    deployment = store.current(model)
    if as_json:
        emit(_status_dict(deployment), as_json=True)
        return
    state = ", ".join(f"{k}={v}" for k, v in deployment.state.items()) or "-"
    emit(
        _deployment_rows(deployment),
        as_json=False,
        title=f"{model}: {deployment.router} ({deployment.status}), revision {deployment.revision}; {state}",
    )


@rollout.command("history")
@click.argument("model")
@json_option
@click.pass_context
def history(ctx: click.Context, model: str, as_json: bool) -> None:
    """Every stored deployment change of MODEL: when, who, why, and the split after it.

    \b
    Example:
      modelyard rollout history trip_acceptance
    """
    _, store = _store(ctx)
    rows = [
        {
            "revision": c.revision,
            "at": c.at,
            "actor": c.actor,
            "router": c.deployment.router,
            "status": c.deployment.status,
            "split": ", ".join(
                f"{v.name}={v.weight:g}" + (" (shadow)" if v.mode == "shadow" else "")
                for v in c.deployment.variants
            ),
            "reason": c.reason,
        }
        for c in store.history(model)
    ]
    emit(
        rows,
        as_json=as_json,
        columns=["revision", "at", "actor", "router", "status", "split", "reason"],
        title=f"{model}: deployment history",
    )


def _change(
    ctx: click.Context, model: str, action: str, reason: str, actor: str | None, as_json: bool
) -> None:
    from modelyard.rollout import changes

    _, store = _store(ctx)
    func = {"pause": changes.pause, "resume": changes.resume, "abort": changes.abort}[action]
    deployment = func(store, model, actor=_actor(actor), reason=reason)
    emit(
        _status_dict(deployment) if as_json else _deployment_rows(deployment),
        as_json=as_json,
        title=f"{model}: {deployment.status}, revision {deployment.revision}",
    )


@rollout.command("pause")
@click.argument("model")
@reason_option
@actor_option
@json_option
@click.pass_context
def pause(ctx: click.Context, model: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Freeze MODEL's rollout: traffic stays as it is, no ramp and no automatic rollback.

    \b
    Example:
      modelyard rollout pause trip_acceptance --reason "holiday traffic"
    """
    _change(ctx, model, "pause", reason, actor, as_json)


@rollout.command("resume")
@click.argument("model")
@reason_option
@actor_option
@json_option
@click.pass_context
def resume(ctx: click.Context, model: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Resume a paused rollout (a canary's current step restarts its dwell time).

    \b
    Example:
      modelyard rollout resume trip_acceptance --reason "traffic normal again"
    """
    _change(ctx, model, "resume", reason, actor, as_json)


@rollout.command("abort")
@click.argument("model")
@reason_option
@actor_option
@json_option
@click.pass_context
def abort(ctx: click.Context, model: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Stop MODEL's experiment: all traffic to the control, shadows off (aliases unchanged).

    \b
    Example:
      modelyard rollout abort trip_acceptance --reason "candidate misbehaves"
    """
    _change(ctx, model, "abort", reason, actor, as_json)


@rollout.command("weights")
@click.argument("model")
@click.argument("weights", nargs=-1, required=True)
@reason_option
@actor_option
@json_option
@click.pass_context
def weights(
    ctx: click.Context, model: str, weights: tuple[str, ...], reason: str, actor: str | None, as_json: bool
) -> None:
    """Change live weights at run time, e.g. v1=0.8 v2=0.2 (assignment stays sticky).

    \b
    Example:
      modelyard rollout weights trip_acceptance v1=0.8 v2=0.2 --reason "less risk"
    """
    from modelyard.rollout import changes

    parsed: dict[str, float] = {}
    for item in weights:
        name, sep, value = item.partition("=")
        try:
            parsed[name] = float(value)
        except ValueError:
            raise RolloutError(f"expected VARIANT=WEIGHT, got {item!r}") from None
        if not sep:
            raise RolloutError(f"expected VARIANT=WEIGHT, got {item!r}")
    _, store = _store(ctx)
    deployment = changes.set_weights(store, model, parsed, actor=_actor(actor), reason=reason)
    emit(
        _status_dict(deployment) if as_json else _deployment_rows(deployment),
        as_json=as_json,
        title=f"{model}: revision {deployment.revision}",
    )


def _tick_rows(result: Any) -> list[dict[str, Any]]:
    return [
        {
            "guard": g.guard,
            "variant": g.variant,
            "ok": g.ok,
            "value": g.value,
            "threshold": g.threshold,
            "n": g.n,
            "reason": g.reason,
        }
        for g in result.guards
    ]


@rollout.command("tick")
@click.argument("model")
@json_option
@click.pass_context
def tick(ctx: click.Context, model: str, as_json: bool) -> None:
    """Evaluate MODEL's guards and canary step once, and act (advance, promote, roll back).

    \b
    Example:
      modelyard rollout tick trip_acceptance
    """
    from modelyard.cli.main import load_yard
    from modelyard.rollout.policy import RolloutPolicy

    result = RolloutPolicy(load_yard(ctx)).tick(model)
    if as_json:
        emit(result.to_dict(), as_json=True)
        return
    click.echo(f"{model}: {result.action}: {result.reason}")
    if result.guards:
        emit(_tick_rows(result), as_json=False, title="guards")


@rollout.command("watch")
@click.argument("model")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between evaluations.")
@click.option("--max-ticks", default=0, help="Stop after this many evaluations (0: until the rollout ends).")
@click.pass_context
def watch(ctx: click.Context, model: str, interval: float, max_ticks: int) -> None:
    """Run the rollout policy for MODEL every --interval seconds until the rollout ends.

    \b
    Example:
      modelyard rollout watch trip_acceptance --interval 10
    """
    from modelyard.cli.main import load_yard
    from modelyard.rollout.policy import RolloutPolicy

    policy = RolloutPolicy(load_yard(ctx))
    n = 0
    while True:
        result = policy.tick(model)
        n += 1
        click.echo(f"{datetime.now(timezone.utc):%H:%M:%S} {model}: {result.action}: {result.reason}")
        if result.action in ("none", "promote", "complete", "rollback") or (max_ticks and n >= max_ticks):
            return
        time.sleep(interval)


@click.group("experiment")
def experiment() -> None:
    """Analyse experiments: per-variant statistics, significance, sample-ratio checks, shadows."""


@experiment.command("report")
@click.argument("model")
@click.option(
    "--since", default=None, help="Start of the window: 2h, 7d or an ISO time (default: the deployment)."
)
@click.option("--until", default=None, help="End of the window (default: now).")
@click.option("--alpha", default=0.05, show_default=True, help="Significance level.")
@click.option(
    "--tolerance", default=0.0, show_default=True, help="Shadow agreement tolerance for regression."
)
@click.option(
    "--design",
    type=click.Choice(["sequential", "fixed"]),
    default="sequential",
    show_default=True,
    help="sequential: always-valid, read any time; fixed: valid once, at --planned-units.",
)
@click.option(
    "--planned-units",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Units per arm the experiment plans for (the fixed horizon; tunes the sequential test).",
)
@click.option("--primary", default=None, help="Primary metric (default: accuracy / absolute_error).")
@json_option
@click.pass_context
def report(
    ctx: click.Context,
    model: str,
    since: str | None,
    until: str | None,
    alpha: float,
    tolerance: float,
    design: str,
    planned_units: int,
    primary: str | None,
    as_json: bool,
) -> None:
    """Compare MODEL's variants: traffic, errors, latency, predictions, metrics with feedback.

    Metrics are analysed by the randomisation unit (the entity keys assignment is sticky
    on: delta method, CUPED with pre-experiment values), latency by the Hodges-Lehmann
    shift and its Moses interval; sequential (always-valid) by default; the primary metric
    and the guardrails are separate families, each Bonferroni-corrected. A sample-ratio
    mismatch (units not matching the weights) and lost log rows are reported first.

    \b
    Example:
      modelyard experiment report trip_acceptance --since 24h --json
      modelyard experiment report trip_acceptance --design fixed --planned-units 5000
    """
    from modelyard.rollout.experiment import experiment_report

    yard, store = _store(ctx)
    result = experiment_report(
        yard,
        model,
        store=store,
        since=parse_since(since),
        until=parse_since(until),
        alpha=alpha,
        shadow_tolerance=tolerance,
        design=design,  # type: ignore[arg-type]
        planned_units=planned_units,
        primary=primary,
    )
    if as_json:
        emit(result.to_dict(), as_json=True)
        return
    for warning in result.warnings:
        click.secho(f"WARNING: {warning}", fg="red", err=False)
    click.echo(
        f"{model}: {result.router} ({result.status}), revision {result.revision}, control {result.control}"
    )
    click.echo(f"unit: {result.unit}; method: {result.design}")
    for family in result.families:
        if family.get("note"):
            click.echo(f"{family['name']} metric {', '.join(family['metrics'])}: {family['note']}")
            continue
        click.echo(
            f"{family['name']} family: {', '.join(family['metrics'])} x {len(family['arms'])} arm(s) = "
            f"{family['comparisons']} comparison(s), correction {family['correction']}, "
            f"each at alpha {family['alpha_each']:.3g}"
        )
    cov = result.coverage
    if cov.get("coverage") is not None:
        click.echo(
            f"coverage: {cov['logged']} of {cov['logged'] + cov['dropped']} live rows logged ({cov['coverage']:.2%})"
        )
    emit([_variant_row(v) for v in result.variants], as_json=False, title="variants")
    if result.comparisons:
        emit([_comparison_row(c) for c in result.comparisons], as_json=False, title=f"vs {result.control}")
        for test in dict.fromkeys(f"{c.metric}: {c.test}" for c in result.comparisons):
            click.echo(f"  {test}")
        for c in result.comparisons:
            if c.adjustment and c.unadjusted:
                u = c.unadjusted
                click.echo(
                    f"{c.metric} {c.treatment}: {c.adjustment}; without CUPED {_fmt(u.get('difference'))} "
                    f"[{_fmt(u.get('ci_low'))}, {_fmt(u.get('ci_high'))}]"
                )
    if result.srm is not None:
        click.echo(f"sample ratio: {result.srm.message}")
    if result.shadows:
        emit([_shadow_row(s) for s in result.shadows], as_json=False, title="shadows vs live")


def _fmt(value: float | None, pattern: str = "{:.4g}") -> str:
    return "-" if value is None else pattern.format(value)


def _variant_row(v: Any) -> dict[str, Any]:
    return {
        "variant": v.variant,
        "version": v.version,
        "requests": v.requests,
        "share": f"{v.share:.1%}",
        "error rate": _fmt(v.error_rate, "{:.2%}"),
        "p50 ms": _fmt(v.latency_ms.get("p50")),
        "p99 ms": _fmt(v.latency_ms.get("p99")),
        "predictions": {k: val for k, val in v.predictions.items() if k != "score"},
        "metrics": v.metrics,
    }


def _comparison_row(c: Any) -> dict[str, Any]:
    return {
        "metric": c.metric,
        "variant": c.treatment,
        "units": f"{c.n_control}/{c.n_treatment}",
        "control -> treatment": f"{_fmt(c.control_value)} -> {_fmt(c.treatment_value)}",
        "diff [interval]": f"{_fmt(c.difference)} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
        "level": _fmt(c.level, "{:.1%}"),
        "p": _fmt(c.p_value, "{:.3g}"),
        "verdict": c.verdict,
    }


def _shadow_row(s: Any) -> dict[str, Any]:
    return {
        "shadow": s.variant,
        "version": s.version,
        "covered / served": f"{s.requests}/{s.served} ({_fmt(s.coverage, '{:.1%}')})",
        "dropped": s.dropped,
        "paired": s.paired,
        "agreement": _fmt(s.agreement, "{:.2%}"),
        "mean |diff|": _fmt(s.prediction_difference.get("mean_abs")),
        "errors": s.errors,
        "p50 ms": _fmt(s.latency_p50_ms),
        "p99 ms": _fmt(s.latency_p99_ms),
        "live p50 ms": _fmt(s.live_latency_p50_ms),
    }


@click.command("replay")
@click.argument("model")
@click.option("--version", "version", type=int, required=True, help="The candidate version to re-score.")
@click.option(
    "--since", default="24h", show_default=True, help="Start of the logged window: 2h, 7d or an ISO time."
)
@click.option("--until", default=None, help="End of the window (default: now).")
@click.option(
    "--limit", default=10_000, show_default=True, help="At most this many logged requests (newest)."
)
@click.option("--tolerance", default=0.0, show_default=True, help="Agreement tolerance for regression.")
@json_option
@click.pass_context
def replay(
    ctx: click.Context,
    model: str,
    version: int,
    since: str,
    until: str | None,
    limit: int,
    tolerance: float,
    as_json: bool,
) -> None:
    """Re-score a candidate VERSION on logged live requests with point-in-time features.

    Compares its answers with what live answered (agreement, differences, and model
    metrics where feedback exists) before it takes any traffic.

    \b
    Example:
      modelyard replay trip_acceptance --version 3 --since 24h
    """
    from modelyard.cli.main import load_yard
    from modelyard.rollout.replay import replay as run_replay

    result = run_replay(
        load_yard(ctx),
        model,
        version,
        since=parse_since(since),
        until=parse_since(until),
        limit=limit,
        tolerance=tolerance,
    )
    emit(result.to_dict(), as_json=as_json, title=f"replay of {model} v{version}")
