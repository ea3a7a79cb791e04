"""Build the monitoring report of a model: data (for ``--json``) and self-contained HTML."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.monitoring.profile import category_counts
from modelyard.monitoring.report import svg
from modelyard.monitoring.results import DetectorResult

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import FeatureProfile, Profile
    from modelyard.yard import Yard


@dataclass
class VersionSection:
    """The window's rows of one version, judged and plotted against that version's reference."""

    version: int
    n_rows: int
    results: list[DetectorResult]
    plots: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    model: str
    window: str
    generated_at: datetime
    sections: list[VersionSection]
    history: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "window": self.window,
            "generated_at": self.generated_at.isoformat(),
            "versions": [
                {"version": s.version, "n_rows": s.n_rows, "results": [r.to_row() for r in s.results]}
                for s in self.sections
            ],
            "history": self.history,
        }


def feature_plot(fp: FeatureProfile, column: pd.Series) -> str:
    """Reference vs current distribution of one feature as SVG."""
    import pandas as pd

    title = f"{fp.name}: reference vs current"
    if fp.kind == "numeric" and fp.histogram_edges:
        values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(np.float64)
        edges = np.asarray(fp.histogram_edges)
        clipped = np.clip(values, edges[0], edges[-1])
        current, _ = np.histogram(clipped, bins=edges)
        return svg.histogram(list(edges), list(fp.histogram_counts), list(current), title)
    if fp.kind == "categorical":
        counts = category_counts(column)
        top = list(dict.fromkeys([*list(fp.frequencies)[:12], *list(counts)[:3]]))[:15]
        return svg.bars(
            top, [fp.frequencies.get(c, 0) for c in top], [int(counts.get(c, 0)) for c in top], title
        )
    return ""


def build_report(yard: Yard, model: str, *, window: str = "all") -> Report:
    """Judge the window with the default drift and quality detectors per version; add stored history."""
    from modelyard.monitoring.runner import Window, read_window

    yard.model(model)
    frame = read_window(yard, model, Window.parse(window))
    sections: list[VersionSection] = []
    if not frame.empty:
        for version, part in frame.groupby("version", sort=True):
            mv = yard.registry.get_version(model, int(version))
            if not mv.snapshot_id:
                continue
            profile: Profile = yard.registry.reference_profile(mv.snapshot_id)
            names = [n for n in profile.features if n in part.columns]
            results: list[DetectorResult] = []
            for plugin in ("drift", "quality"):
                detector = yard.host.spec("detector", plugin).build()
                results.extend(detector.fit(profile).score(part, features=names))
            plots = {n: feature_plot(profile.feature(n), part[n]) for n in names}
            sections.append(
                VersionSection(version=int(version), n_rows=len(part), results=results, plots=plots)
            )
    history = yard.registry.backend.monitor_results(model)
    return Report(
        model=model,
        window=window,
        generated_at=datetime.now(timezone.utc),
        sections=sections,
        history=history,
    )


def _history_plots(history: list[dict[str, Any]]) -> list[str]:
    """Lines over time of every non-feature statistic (performance, health, dataset drift share) per variant."""
    grouped: dict[str, dict[str, list[tuple[datetime, float]]]] = defaultdict(lambda: defaultdict(list))
    thresholds: dict[str, float] = {}
    for row in history:
        if row.get("feature") or row.get("score") is None:
            continue
        stat = f"{row['monitor']}: {row['statistic']}"
        label = f"v{row['version']}" + (f" {row['variant']}" if row.get("variant") else "")
        grouped[stat][label].append((row["window_end"] or row["created_at"], float(row["score"])))
        if row.get("threshold") is not None:
            thresholds[stat] = float(row["threshold"])
    return [
        svg.lines(dict(series), stat, threshold=thresholds.get(stat))
        for stat, series in sorted(grouped.items())
    ]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if not np.isfinite(value) else f"{value:.4g}"
    return escape(str(value))


def render_html(report: Report) -> str:
    """The report as one HTML page: summary, per-feature plots with statistics, history."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>modelyard report: {escape(report.model)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left}"
        ".bad{background:#fdecea;color:#b03a2e;font-weight:600}.ok{color:#1e8449}"
        ".grid{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #eee;padding:6px}</style></head><body>",
        f"<h1>{escape(report.model)}</h1>",
        f"<p>Generated {report.generated_at:%Y-%m-%d %H:%M:%S} UTC; window: {escape(report.window)}.</p>",
    ]
    if not report.sections:
        parts.append("<p>No logged predictions of a version with a training snapshot in this window.</p>")
    for section in report.sections:
        failed = [r for r in section.results if r.drifted]
        verdict = (
            f"<span class='bad'>{len(failed)} failed check(s)</span>"
            if failed
            else "<span class='ok'>all checks pass</span>"
        )
        parts.append(f"<h2>Version {section.version}: {section.n_rows} predictions, {verdict}</h2>")
        parts.append(
            "<table><tr><th>detector</th><th>feature</th><th>statistic</th><th>value</th><th>p-value</th>"
            "<th>threshold</th><th>verdict</th></tr>"
        )
        for r in sorted(section.results, key=lambda r: (not r.drifted, r.detector, r.feature or "")):
            cls = "bad" if r.drifted else "ok"
            parts.append(
                f"<tr><td>{_cell(r.detector)}</td><td>{_cell(r.feature or '(dataset)')}</td><td>{_cell(r.statistic)}</td>"
                f"<td>{_cell(r.value)}</td><td>{_cell(r.p_value)}</td><td>{_cell(r.threshold)}</td>"
                f"<td class='{cls}'>{'FAIL' if r.drifted else 'ok'}</td></tr>"
            )
        parts.append("</table><h3>Distributions</h3><div class='grid'>")
        drift = {r.feature: r for r in section.results if r.detector == "drift" and r.feature}
        for name, plot in section.plots.items():
            r = drift.get(name)
            caption = (
                f"{escape(r.statistic)} {_cell(r.value)} (threshold {_cell(r.threshold)}), p={_cell(r.p_value)}"
                if r
                else ""
            )
            cls = "bad" if r is not None and r.drifted else ""
            parts.append(f"<div class='card'>{plot}<div class='{cls}'>{caption}</div></div>")
        parts.append("</div>")
    plots = _history_plots(report.history)
    parts.append("<h2>Over time</h2>")
    parts.append(
        "<div class='grid'>" + "".join(f"<div class='card'>{p}</div>" for p in plots) + "</div>"
        if plots
        else "<p>No stored results yet: run <code>modelyard monitor run</code>.</p>"
    )
    parts.append("</body></html>")
    return "".join(parts)
