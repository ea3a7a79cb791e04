"""Guards: the checks a canary or A/B candidate must keep passing, or be rolled back.

Declared per model in ``models.X.deployment.guards`` (copied into the deployment when
it is written), each with a ``type``::

    guards:
      - {type: error_rate, max: 0.02, window_seconds: 600, min_samples: 100}
      - {type: error_rate, max_increase: 0.01}          # vs the control variant
      - {type: latency, quantile: 0.99, max_ms: 150}
      - {type: monitor, monitor: drift-ks}               # any monitor of the monitoring config

``error_rate`` and ``latency`` read a window of the prediction log (rows of
:class:`modelyard.predictions.records.PredictionRecord`: ``timestamp``, ``variant``, ``mode``,
``latency_ms``, ``error``); ``monitor`` reads stored monitor results (the registry's
``monitor_results``) for the variant's version.

Guards decide with confidence (one-sided bounds from :mod:`modelyard.routing.confidence`):
a guard **fails** (rollback) when the data show the threshold is exceeded at ``confidence``
(0.99: the lower bound of the error rate, of its increase over the control, or of the latency
quantile is above the limit), **passes** when they show it is respected at
``pass_confidence`` (0.95: the upper bound is at or below the limit) and **holds** otherwise,
or below ``min_samples``. The rollback side is stricter because every tick evaluates again:
over a 30-minute step ticked every 30 s, 0.99 per evaluation keeps false rollbacks of a
candidate at the limit under 10%. On a hold a canary does not advance, and nothing is rolled
back. A point estimate
is never compared with the threshold: at 50 samples a candidate with a true 0.8% error rate
would cross a 1% limit a third of the time. docs/rollout.md lists the false-rollback and
missed-failure rates of the defaults (computed in tests/routing/test_guard_rates.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from modelyard.errors import ConfigError
from modelyard.routing import confidence as bounds
from modelyard.routing.router import Variant

if TYPE_CHECKING:
    import pandas as pd


class _Guard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_seconds: float = Field(600.0, gt=0, description="how far back the guard looks")
    min_samples: int = Field(50, ge=0, description="below this many requests the guard holds (no evidence)")
    confidence: float = Field(
        0.99, gt=0.5, lt=1, description="one-sided confidence that the limit is exceeded, to roll back"
    )
    pass_confidence: float = Field(
        0.95, gt=0.5, lt=1, description="one-sided confidence that the limit is respected, to pass"
    )


class ErrorRateGuard(_Guard):
    """Share of the variant's requests that failed: absolute ceiling and/or increase over the control."""

    type: Literal["error_rate"]
    max: float | None = Field(None, ge=0, le=1)
    max_increase: float | None = Field(None, ge=0, le=1)


class LatencyGuard(_Guard):
    """A latency quantile (p99 by default) of the variant, in milliseconds."""

    type: Literal["latency"]
    max_ms: float = Field(gt=0)
    quantile: float = Field(0.99, gt=0, lt=1)


class MonitorGuard(_Guard):
    """Fails when the named monitor reported drift (or a drop) for the variant's version in the window."""

    type: Literal["monitor"]
    monitor: str
    min_samples: int = 0


GuardConfig = Annotated[ErrorRateGuard | LatencyGuard | MonitorGuard, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(GuardConfig)


Decision = Literal["pass", "fail", "hold"]


@dataclass(frozen=True)
class GuardResult:
    """The verdict of one guard on one variant: ``ok`` is False only when it failed."""

    guard: str
    variant: str
    ok: bool
    value: float | None
    threshold: float | None
    n: int
    reason: str
    decision: Decision = "pass"
    low: float | None = None
    high: float | None = None
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_guards(guards: Sequence[Mapping[str, Any]], *, model: str) -> list[Any]:
    """Validate guard settings; an error names ``models.<model>.deployment.guards.<i>``."""
    parsed = []
    for i, raw in enumerate(guards):
        try:
            parsed.append(_ADAPTER.validate_python(dict(raw)))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"{first['msg']} (guard types: error_rate, latency, monitor)",
                key=f"models.{model}.deployment.guards.{i}{'.' + loc if loc else ''}",
            ) from None
    return parsed


def _window(log: pd.DataFrame, variant: Variant, since: datetime) -> pd.DataFrame:
    import pandas as pd

    if log.empty:
        return log
    ts = pd.to_datetime(log["timestamp"], utc=True)
    mask = (log["variant"].astype(str) == variant.name) & (ts >= pd.Timestamp(since))
    if "mode" in log.columns:
        mask &= log["mode"].astype(str) == variant.mode
    return log[mask]


def _errors(frame: pd.DataFrame) -> pd.Series:
    err = frame["error"]
    return err.notna() & (err.astype(str) != "")


def check(
    guard: Any,
    *,
    variant: Variant,
    control: Variant | None,
    log: pd.DataFrame,
    monitor_rows: Sequence[Mapping[str, Any]] = (),
    now: datetime,
) -> GuardResult:
    """Evaluate one parsed guard for ``variant`` at ``now``."""
    since = now - timedelta(seconds=guard.window_seconds)
    if isinstance(guard, MonitorGuard):
        return _check_monitor(guard, variant, monitor_rows, since)
    win = _window(log, variant, since)
    n = len(win)
    name = guard.type if not isinstance(guard, LatencyGuard) else f"latency_p{guard.quantile * 100:g}"
    if n < max(guard.min_samples, 1):
        return GuardResult(
            name,
            variant.name,
            True,
            None,
            None,
            n,
            f"{name} of {variant.name}: {n} requests, too few to tell (min_samples {guard.min_samples})",
            "hold",
        )
    conf, pconf = guard.confidence, guard.pass_confidence
    if isinstance(guard, LatencyGuard):
        import numpy as np

        lat = win["latency_ms"].astype(float).to_numpy()
        value = float(np.quantile(lat, guard.quantile))
        low, high = (
            bounds.quantile(lat, guard.quantile, conf)[0],
            bounds.quantile(lat, guard.quantile, pconf)[1],
        )
        return _bounded(
            name,
            variant.name,
            value,
            n,
            (low, high),
            guard.max_ms,
            guard.max_ms,
            conf,
            f"{name} of {variant.name} is {value:.1f} ms (bounds {low:.1f}..{high:.1f}), "
            f"{{}} the limit {guard.max_ms:g} ms (n={n})",
        )
    errors = int(_errors(win).sum())
    rate = errors / n
    results: list[GuardResult] = []
    if guard.max is not None:
        low, high = bounds.proportion(errors, n, conf)[0], bounds.proportion(errors, n, pconf)[1]
        results.append(
            _bounded(
                name,
                variant.name,
                rate,
                n,
                (low, high),
                guard.max,
                guard.max,
                conf,
                f"error rate of {variant.name} is {rate:.2%} (bounds {low:.2%}..{high:.2%}), "
                f"{{}} the limit {guard.max:.2%} (n={n})",
            )
        )
    if guard.max_increase is not None and control is not None and control.name != variant.name:
        cwin = _window(log, control, since)
        cn = len(cwin)
        if cn < max(guard.min_samples, 1):
            results.append(
                GuardResult(
                    name,
                    variant.name,
                    True,
                    rate,
                    None,
                    n,
                    f"error rate of {control.name}: {cn} requests, too few to compare {variant.name} with",
                    "hold",
                )
            )
        else:
            cerr = int(_errors(cwin).sum())
            crate = cerr / cn
            low = bounds.difference(cerr, cn, errors, n, conf)[0]
            high = bounds.difference(cerr, cn, errors, n, pconf)[1]
            results.append(
                _bounded(
                    name,
                    variant.name,
                    rate,
                    n,
                    (low, high),
                    guard.max_increase,
                    crate + guard.max_increase,
                    conf,
                    f"error rate of {variant.name} is {rate:.2%} vs {crate:.2%} for {control.name} "
                    f"(increase bounds {low:+.2%}..{high:+.2%}), {{}} the allowed "
                    f"increase {guard.max_increase:.2%} (n={n})",
                )
            )
    if not results:
        return GuardResult(
            name, variant.name, True, rate, None, n, f"error rate of {variant.name} is {rate:.2%} (n={n})"
        )
    for wanted in ("fail", "hold"):
        for r in results:
            if r.decision == wanted:
                return r
    return results[0]


def _bounded(
    name: str,
    variant: str,
    value: float,
    n: int,
    interval: tuple[float, float],
    limit: float,
    threshold: float,
    confidence: float,
    reason: str,
) -> GuardResult:
    """The result of comparing ``interval`` with ``limit``; ``{}`` in ``reason`` says how it compares."""
    decision = decide(*interval, limit)
    return GuardResult(
        name,
        variant,
        decision != "fail",
        value,
        threshold,
        n,
        reason.replace("{}", _say(decision), 1),
        decision,
        interval[0],
        interval[1],
        confidence,
    )


def decide(low: float, high: float, limit: float) -> Decision:
    """``fail`` when the lower bound is above ``limit``, ``pass`` when the upper bound is at or below."""
    if low > limit:
        return "fail"
    if high <= limit:
        return "pass"
    return "hold"


def _say(decision: Decision) -> str:
    return {"fail": "above", "pass": "within", "hold": "cannot tell yet against"}[decision]


def _check_monitor(
    guard: MonitorGuard, variant: Variant, rows: Sequence[Mapping[str, Any]], since: datetime
) -> GuardResult:
    name = f"monitor:{guard.monitor}"
    hits = []
    for row in rows:
        if row.get("monitor") != guard.monitor or not row.get("drifted"):
            continue
        version = row.get("version")
        if version is not None and int(version) != variant.version:
            continue
        if version is None and row.get("variant") not in (None, "", variant.name):
            continue
        at = row.get("created_at") or row.get("window_end")
        if at is not None:
            at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
            if at < since:
                continue
        hits.append(row)
    if hits:
        what = sorted({f"{r.get('detector')}/{r.get('feature') or '-'}" for r in hits})
        return GuardResult(
            name,
            variant.name,
            False,
            float(len(hits)),
            0.0,
            len(hits),
            f"monitor {guard.monitor!r} flagged {variant.name} (v{variant.version}): {', '.join(what)}",
            "fail",
        )
    return GuardResult(name, variant.name, True, 0.0, 0.0, 0, f"monitor {guard.monitor!r}: nothing flagged")


def check_all(
    guards: Sequence[Mapping[str, Any]],
    *,
    model: str,
    variant: Variant,
    control: Variant | None,
    log: pd.DataFrame,
    monitor_rows: Sequence[Mapping[str, Any]] = (),
    now: datetime,
) -> list[GuardResult]:
    """Every guard of a deployment, evaluated for ``variant``."""
    return [
        check(g, variant=variant, control=control, log=log, monitor_rows=monitor_rows, now=now)
        for g in parse_guards(guards, model=model)
    ]
