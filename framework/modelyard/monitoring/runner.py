"""Monitor runs: windows of the prediction log judged by a model's monitors, stored, alerted on.

``modelyard monitor run MODEL`` calls :func:`run_monitors`. For each monitor declared under
``models.MODEL.monitors`` in ``modelyard.yaml`` (or, when none is declared, the default
``drift`` and ``quality`` monitors) it reads a window of the log (``1h``, ``30m``, ``2d``...: by
time, ending now or at ``until``; ``5000``: the last 5000 predictions; ``all``), splits it by
model version (and by variant with ``per_variant``), compares each part with the reference
profile of *that version's* training snapshot, stores every result in the registry
(``monitor_results``) and raises one alert per failing part, with its blast radius.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from modelyard.config.schema import MonitorConfig, PluginChoice
from modelyard.errors import ModelyardError, MonitoringError, NoReferenceProfile
from modelyard.monitoring.alerts import Alert, Severity, raise_alert
from modelyard.monitoring.grouping import Decision, Run, decide, last_passed, runs_of
from modelyard.monitoring.results import DetectorResult
from modelyard.monitoring.window import WindowSummary

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

DEFAULT_MONITORS = (
    MonitorConfig(name="drift", detector=PluginChoice(plugin="drift")),
    MonitorConfig(name="quality", detector=PluginChoice(plugin="quality")),
)
#: How far back stored results are read to group alerts and find when a check last passed.
HISTORY = timedelta(days=7)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


#: the longest time window (so ``now - window`` is always a date)
_MAX_WINDOW = timedelta(days=36_500)


@dataclass(frozen=True)
class Window:
    """A window of the log: by time (``duration``), by count (``rows``), or everything."""

    duration: timedelta | None = None
    rows: int | None = None

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"1h"``, ``"30m"``, ``"2d"``, ``"1w"``, ``"90s"``; ``"5000"`` (last rows); ``"all"``."""
        value = text.strip().lower()
        if value == "all":
            return cls()
        bad = MonitoringError(
            f"bad window {text[:40]!r}: use a duration like 30m, 1h, 2d, 1w (at most {_MAX_WINDOW.days} days), "
            "a row count like 5000, or 'all'"
        )
        if value.isdigit() and len(value) <= 12 and int(value) > 0:
            return cls(rows=int(value))
        match = re.fullmatch(r"(\d{1,12}(?:\.\d{1,6})?)\s*([smhdw])", value)
        if not match:
            raise bad
        try:
            duration = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        except OverflowError:
            raise bad from None
        if duration > _MAX_WINDOW or duration <= timedelta(0):
            raise bad
        return cls(duration=duration)


@dataclass
class MonitorRun:
    """One monitor's verdict on one part (version / variant) of a window."""

    model: str
    monitor: str
    detector: str
    kind: str
    version: int | None
    variant: str | None
    window_start: datetime | None
    window_end: datetime | None
    n_rows: int
    results: list[DetectorResult] = field(default_factory=list)
    alert: Alert | None = None
    at: datetime | None = None  # when the run was judged (stored as the rows' created_at)

    @property
    def failed(self) -> bool:
        return any(r.drifted for r in self.results)

    def rows(self) -> list[dict[str, Any]]:
        """The results as ``monitor_results`` rows."""
        out = []
        for r in self.results:
            row = r.to_row()
            row.update(
                model=self.model,
                version=self.version,
                variant=self.variant,
                monitor=self.monitor,
                window_start=self.window_start,
                window_end=self.window_end,
            )
            if self.at is not None:
                row["created_at"] = self.at
            out.append(row)
        return out


def _raw_chunks(yard: Yard, model: str, window: Window, until: datetime) -> Iterator[pd.DataFrame]:
    """The window's log rows in the sink's chunks (not expanded), online-store fallback rows and the
    prediction log's drop markers left out."""
    from modelyard.predictions.log import open_log_sink

    since = until - window.duration if window.duration is not None else None
    sink = open_log_sink(yard)
    try:
        for chunk in sink.read(model, since, until):
            if "mode" in chunk.columns:
                modes = chunk["mode"].astype(str)
                chunk = chunk[~(modes.str.startswith("fallback") | (modes == "dropped"))]  # drop markers
            if len(chunk):
                yield chunk
    finally:
        sink.close()


def read_window(yard: Yard, model: str, window: Window, *, until: datetime | None = None) -> pd.DataFrame:
    """The window's log rows of ``model``, expanded (a column per entity key and feature).

    Rows are read in chunks; a count window keeps only the last ``rows`` of them in memory.
    Rows answered from an online-store fallback (``mode`` ``fallback:*``) are left out: their
    features are defaults or remembered vectors, not what production sent.
    """
    import pandas as pd

    from modelyard.predictions.records import expand

    until = until or datetime.now(timezone.utc)
    kept: deque[pd.DataFrame] = deque()
    held = 0
    for chunk in _raw_chunks(yard, model, window, until):
        kept.append(chunk)
        held += len(chunk)
        while window.rows is not None and kept and held - len(kept[0]) >= window.rows:
            held -= len(kept.popleft())
    if not kept:
        return pd.DataFrame()
    frame = pd.concat(list(kept), ignore_index=True).sort_values("timestamp", kind="stable")
    if window.rows is not None:
        frame = frame.tail(window.rows)
    return expand(frame.reset_index(drop=True))


def window_batches(
    yard: Yard, model: str, window: Window, *, until: datetime | None = None
) -> Iterator[pd.DataFrame]:
    """The window's rows as :func:`read_window` gives them, but batch by batch: memory bounded by a batch.

    A count window (its last N rows) is bounded by N already and comes as one batch.
    """
    from modelyard.predictions.records import expand

    until = until or datetime.now(timezone.utc)
    if window.rows is not None:
        frame = read_window(yard, model, window, until=until)
        if not frame.empty:
            yield frame
        return
    for chunk in _raw_chunks(yard, model, window, until):
        yield expand(chunk.reset_index(drop=True))


def _profile_for(yard: Yard, model: str, version: int, cache: dict[int, Profile]) -> Profile:
    if version not in cache:
        mv = yard.registry.get_version(model, version)
        if not mv.snapshot_id:
            raise NoReferenceProfile(
                f"{model} v{version} was registered without a training snapshot, so it has no reference "
                "profile; register it with snapshot=... to monitor drift and quality"
            )
        cache[version] = yard.registry.reference_profile(mv.snapshot_id)
    return cache[version]


def _previous_metrics(
    yard: Yard, model: str, monitor: str, version: int | None, variant: str | None
) -> dict[str, float]:
    rows = [
        r
        for r in yard.registry.backend.monitor_results(model)
        if r["monitor"] == monitor
        and r["version"] == version
        and r["variant"] == variant
        and r["score"] is not None
    ]
    return {r["statistic"]: float(r["score"]) for r in rows}  # later rows win: the latest window


def _judge(
    yard: Yard,
    model: str,
    monitor: MonitorConfig,
    frame: pd.DataFrame,
    version: int | None,
    variant: str | None,
    profiles: dict[int, Profile],
) -> tuple[str, str, list[DetectorResult]]:
    spec = yard.host.spec("detector", monitor.detector.plugin)
    detector = spec.build(monitor.detector.settings)
    kind = getattr(spec, "kind", detector.kind)
    if kind in ("drift", "quality"):
        if version is None:
            raise MonitoringError(f"monitor {monitor.name!r} of {model}: the log rows name no model version")
        profile = _profile_for(yard, model, version, profiles)
        return spec.name, kind, detector.fit(profile).score(frame, features=monitor.features)
    if kind in ("skew", "freshness"):
        return spec.name, kind, detector.bind(yard, model).score(frame, features=monitor.features)
    if kind == "performance":
        from modelyard.predictions.feedback import attach_labels, read_feedback

        labelled = attach_labels(
            frame, read_feedback(yard, model), list(yard.model(model).entity_keys), labelled_only=False
        )
        if "prediction_label" in labelled.columns:
            labelled["prediction"] = (
                labelled["prediction"]
                .astype(object)
                .where(labelled["prediction"].notna(), labelled["prediction_label"])
            )
        mv = yard.registry.get_version(model, version) if version is not None else None
        baseline = mv.metrics if mv is not None else {}
        reference = (
            yard.registry.reference_profile(mv.snapshot_id) if mv is not None and mv.snapshot_id else None
        )
        detector.fit(reference, label=yard.model(model).label).with_baseline(
            {k: v for k, v in (baseline or {}).items() if isinstance(v, (int, float))},
            previous=_previous_metrics(yard, model, monitor.name, version, variant),
            baseline_rows=_held_out_rows(mv.params if mv is not None else None),
        )
        return spec.name, kind, detector.score(labelled)
    return spec.name, kind, detector.fit(None).score(frame)


def _held_out_rows(params: Mapping[str, Any] | None) -> int | None:
    """The held-out row count a version's metrics were measured on (``test_rows``), when recorded."""
    rows = (params or {}).get("test_rows")
    return int(rows) if isinstance(rows, (int, float)) and not isinstance(rows, bool) and rows >= 1 else None


def _alert_for(run: MonitorRun, decision: Decision, history: list[Run]) -> Alert:
    """The alert of a failing (or recovered) run: what failed, by how much, over which window, since when."""
    failed = [r for r in run.results if r.drifted]
    features = [r.feature for r in failed if r.feature is not None]
    dataset = any(r.feature is None and r.statistic == "share_drifted" for r in failed)
    severity: Severity
    if decision.notification == "recovered":
        severity = "info"
        summary = f"{run.kind} monitor {run.monitor!r} passes again on {run.n_rows} rows"
    else:
        severity = "critical" if dataset or run.kind in ("performance", "health") else "warning"
        what = ", ".join(dict.fromkeys(features)) or ", ".join(r.statistic for r in failed)
        summary = f"{run.kind} monitor {run.monitor!r} failed on {run.n_rows} rows: {what}"
    findings = [
        {
            "feature": r.feature,
            "statistic": r.statistic,
            "value": r.to_row()["score"],
            "threshold": r.to_row()["threshold"],
            "p_value": r.to_row()["p_value"],
            "detector": r.detector,
            "n_current": r.n_current,
            "last_passed": last_passed(history, (r.feature, r.statistic)),
        }
        for r in failed
    ]
    return Alert(
        model=run.model,
        version=run.version,
        variant=run.variant,
        monitor=run.monitor,
        severity=severity,
        summary=summary,
        results=failed,
        notification=decision.notification or "new",
        window_start=run.window_start,
        window_end=run.window_end,
        window_rows=run.n_rows,
        failing_since=decision.failing_since,
        occurrences=decision.occurrences,
        findings=findings,
    )


def _history(yard: Yard, model: str, renotify: timedelta, now: datetime) -> list[dict[str, Any]]:
    """Stored results recent enough to group alerts and say when checks last passed."""
    return list(yard.registry.backend.monitor_results(model, since=now - max(HISTORY, 2 * renotify)))


@dataclass
class _Part:
    """One version (/ variant) of a window, summarised batch by batch for a streaming monitor."""

    version: int | None
    variant: str | None
    summary: WindowSummary
    rows: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, part: pd.DataFrame) -> None:
        self.summary.update(part)
        self.rows += len(part)
        lo, hi = part["timestamp"].min().to_pydatetime(), part["timestamp"].max().to_pydatetime()
        self.first = lo if self.first is None else min(self.first, lo)
        self.last = hi if self.last is None else max(self.last, hi)


def _groups(frame: pd.DataFrame, per_variant: bool) -> Iterator[tuple[int | None, str | None, pd.DataFrame]]:
    """``(version, variant, rows)`` of a frame, by version (and variant)."""
    keys = ["version", "variant"] if per_variant else ["version"]
    for group, part in frame.groupby(keys, sort=True, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        version = None if group[0] != group[0] else int(group[0])
        yield version, str(group[1]) if per_variant else None, part.reset_index(drop=True)


def _streams(spec: Any) -> bool:
    """Whether a detector plugin judges windows from summaries (so its windows are streamed)."""
    from modelyard.monitoring.detector import SummaryDetector

    factory = spec.load()
    return isinstance(factory, type) and issubclass(factory, SummaryDetector)


def _stream(
    yard: Yard,
    model: str,
    monitors: list[MonitorConfig],
    win: Window,
    until: datetime,
    profiles: dict[int, Profile],
) -> dict[str, list[_Part]]:
    """Read a window once, batch by batch, feeding each streaming monitor's per-version summaries."""
    parts: dict[tuple[str, int | None, str | None], _Part] = {}
    skipped: set[int | None] = set()
    for batch in window_batches(yard, model, win, until=until):
        for monitor in monitors:
            for version, variant, rows in _groups(batch, monitor.per_variant):
                key = (monitor.name, version, variant)
                if key not in parts:
                    if version is None:
                        raise MonitoringError(
                            f"monitor {monitor.name!r} of {model}: the log rows name no model version"
                        )
                    if version in skipped:
                        continue
                    try:
                        profile = _profile_for(yard, model, version, profiles)
                    except NoReferenceProfile as exc:
                        # one version without a reference must not hide what the others' windows show
                        logger.warning("monitor %s skipped the rows of v%s: %s", monitor.name, version, exc)
                        skipped.add(version)
                        continue
                    parts[key] = _Part(version, variant, WindowSummary(profile, monitor.features))
                parts[key].add(rows)
    out: dict[str, list[_Part]] = {m.name: [] for m in monitors}
    for (name, _, _), part in sorted(parts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), str(kv[0][2]))):
        out[name].append(part)
    return out


def run_monitors(
    yard: Yard,
    model: str,
    *,
    window: str | None = None,
    until: datetime | None = None,
    monitors: list[str] | None = None,
    store: bool = True,
    alert: bool = True,
) -> list[MonitorRun]:
    """Run ``model``'s monitors once; store results and raise alerts. ``window`` overrides each monitor's.

    Monitors whose detector judges summaries (``drift``, ``quality`` and single-statistic drift
    detectors) read their window batch by batch, so a window larger than memory is judged with
    memory bounded by the batch and the summaries (:mod:`modelyard.monitoring.window`); the
    others read it whole.
    """
    declared = list(yard.model(model).monitors) or list(DEFAULT_MONITORS)
    if monitors:
        unknown = sorted(set(monitors) - {m.name for m in declared})
        if unknown:
            raise MonitoringError(
                f"model {model!r} has no monitor(s) {unknown}; it has: {', '.join(m.name for m in declared)}"
            )
        declared = [m for m in declared if m.name in monitors]
    alerters = (
        [yard.build_plugin("alerter", choice) for choice in yard.config.monitoring.alerters] if alert else []
    )
    until = until or datetime.now(timezone.utc)
    renotify = Window.parse(yard.config.monitoring.renotify_every).duration or timedelta(hours=6)
    now = datetime.now(timezone.utc)
    history_rows = _history(yard, model, renotify, now) if store else []
    profiles: dict[int, Profile] = {}
    frames: dict[str, pd.DataFrame] = {}
    streamed: dict[str, list[_Part]] = {}
    specs = {m.name: yard.host.spec("detector", m.detector.plugin) for m in declared}
    by_window: dict[str, list[MonitorConfig]] = {}
    for m in declared:
        if getattr(specs[m.name], "kind", None) in ("drift", "quality") and _streams(specs[m.name]):
            by_window.setdefault(window or m.window, []).append(m)
    for spec_window, group in by_window.items():
        streamed.update(_stream(yard, model, group, Window.parse(spec_window), until, profiles))
    runs: list[MonitorRun] = []
    for monitor in declared:
        spec_window = window or monitor.window
        win = Window.parse(spec_window)
        judged: list[
            tuple[str, str, int | None, str | None, datetime | None, datetime | None, int, list]
        ] = []
        if monitor.name in streamed:
            spec = specs[monitor.name]
            for part in streamed[monitor.name]:
                detector = spec.build(monitor.detector.settings).fit(part.summary.profile)
                results = detector.score_summary(part.summary, features=monitor.features)
                judged.append(
                    (
                        spec.name,
                        getattr(spec, "kind", "drift"),
                        part.version,
                        part.variant,
                        part.first,
                        part.last,
                        part.rows,
                        results,
                    )
                )
        else:
            if spec_window not in frames:
                frames[spec_window] = read_window(yard, model, win, until=until)
            frame = frames[spec_window]
            for version, variant, part in _groups(frame, monitor.per_variant) if not frame.empty else ():
                try:
                    detector_name, kind, results = _judge(
                        yard, model, monitor, part, version, variant, profiles
                    )
                except NoReferenceProfile as exc:
                    # one version without a reference must not hide what the others' windows show
                    logger.warning("monitor %s skipped %d rows: %s", monitor.name, len(part), exc)
                    continue
                ts = part["timestamp"]
                judged.append(
                    (
                        detector_name,
                        kind,
                        version,
                        variant,
                        ts.min().to_pydatetime(),
                        ts.max().to_pydatetime(),
                        len(part),
                        results,
                    )
                )
        if not judged:
            logger.warning(
                "monitor %s of %s: no predictions logged in window %s", monitor.name, model, spec_window
            )
            continue
        for detector_name, kind, version, variant, first, last, n_rows, results in judged:
            start, end = (until - win.duration, until) if win.duration is not None else (first, last)
            run = MonitorRun(
                model=model,
                monitor=monitor.name,
                detector=detector_name,
                kind=kind,
                version=version,
                variant=variant,
                window_start=start,
                window_end=end,
                n_rows=n_rows,
                results=results,
                at=now,
            )
            _settle(yard, run, history_rows, renotify, store=store, alert=alert, alerters=alerters)
            runs.append(run)
    return runs


def _settle(
    yard: Yard,
    run: MonitorRun,
    history_rows: list[dict[str, Any]],
    renotify: timedelta,
    *,
    store: bool,
    alert: bool,
    alerters: list[Any],
) -> None:
    """Store a run's results, decide its notification (grouping), build and deliver its alert."""
    history = runs_of(history_rows, monitor=run.monitor, version=run.version, variant=run.variant)
    current = Run(
        at=run.at or datetime.now(timezone.utc),
        failed=frozenset((r.feature, r.statistic) for r in run.results if r.drifted),
        passed=frozenset((r.feature, r.statistic) for r in run.results if not r.drifted),
        window_end=run.window_end,
    )
    decision = decide(history, current, renotify_every=renotify)
    if store:
        yard.registry.backend.add_monitor_results(run.rows())
    if decision.notification is not None:
        run.alert = _alert_for(run, decision, history)
    if run.failed and run.alert is not None and run.alert.features:
        try:
            from modelyard.monitoring.blast_radius import annotate

            annotate(run.alert, yard)
        except ModelyardError as exc:
            logger.warning("blast radius of the %s alert unavailable: %s", run.model, exc)
    if alert and run.alert is not None and decision.notification != "suppressed":
        raise_alert(run.alert, host=yard.host, alerters=alerters)
