"""Build the monitoring report of a model: data (for ``--json``) and self-contained HTML."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
    diff: dict[str, Any] | None = None
    """``VersionDiff.to_dict()`` of two versions, when the report was asked to explain them."""

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
            "diff": self.diff,
        }


def feature_plot(fp: FeatureProfile, column: pd.Series) -> Any:
    """Reference vs current distribution of one feature as SVG."""
    import pandas as pd

    title = f"{fp.name}: reference vs current"
    if fp.kind == "numeric" and fp.histogram_edges:
        values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(np.float64)
        edges = np.asarray(fp.histogram_edges)
        clipped = np.clip(values, edges[0], edges[-1])
        current, _ = np.histogram(clipped, bins=edges)
        return svg.histogram(list(edges), list(fp.histogram_counts), list(current), title, x_label=fp.name)
    if fp.kind == "categorical":
        counts = category_counts(column)
        top = list(dict.fromkeys([*list(fp.frequencies)[:12], *list(counts)[:3]]))[:15]
        return svg.bars(
            top,
            [fp.frequencies.get(c, 0) for c in top],
            [int(counts.get(c, 0)) for c in top],
            title,
            x_label=fp.name,
        )
    return ""


def build_report(
    yard: Yard, model: str, *, window: str = "all", diff: tuple[int, int] | None = None
) -> Report:
    """Judge the window with the default drift and quality detectors per version; add stored history,
    and with ``diff=(a, b)`` what differs between versions a and b (the row-level data diff included)."""
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
        diff=yard.registry.diff(model, *diff).to_dict() if diff is not None else None,
    )


def history_plots(history: list[dict[str, Any]]) -> list[Any]:
    """Lines over time of every stored statistic, one chart per (monitor, statistic, feature).

    Each chart's title names the monitor, the statistic and, for per-feature checks, the
    feature; lines are per version (and variant), the threshold dashed.
    """
    grouped: dict[tuple[str, str, str], dict[str, list[tuple[datetime, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    thresholds: dict[tuple[str, str, str], float] = {}
    for row in history:
        if row.get("score") is None:
            continue
        key = (str(row["monitor"]), str(row["statistic"]), str(row.get("feature") or ""))
        label = f"v{row['version']}" + (f" {row['variant']}" if row.get("variant") else "")
        grouped[key][label].append((row["window_end"] or row["created_at"], float(row["score"])))
        if row.get("threshold") is not None:
            thresholds[key] = float(row["threshold"])
    plots = []
    for key, series in sorted(grouped.items(), key=lambda kv: (kv[0][2] != "", kv[0])):
        monitor, statistic, feature = key
        title = f"{feature}: {statistic} ({monitor})" if feature else f"{monitor}: {statistic}"
        plots.append(svg.lines(dict(series), title, threshold=thresholds.get(key), y_label=statistic))
    return plots


def num(value: Any) -> str:
    """A number to four significant digits; missing or not finite as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        return "-" if not np.isfinite(value) else f"{float(value):.4g}"
    return str(value)


def templates() -> Any:
    """The Jinja2 environment of the report's templates (autoescaped)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("modelyard.monitoring.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = num
    return env


def report_context(report: Report) -> dict[str, Any]:
    """What the report templates read: the report, its sections' rows in order, the history charts."""
    sections = []
    for section in report.sections:
        results = sorted(section.results, key=lambda r: (not r.drifted, r.detector, r.feature or ""))
        drift = {r.feature: r for r in section.results if r.detector == "drift" and r.feature}
        sections.append(
            {
                "version": section.version,
                "n_rows": section.n_rows,
                "results": results,
                "plots": section.plots,
                "drift": drift,
            }
        )
    view = {
        "model": report.model,
        "window": report.window,
        "generated_at": report.generated_at,
        "sections": sections,
    }
    return {"report": view, "history_plots": history_plots(report.history), "d": report.diff}


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (no scripts, no external assets)."""
    return templates().get_template("report.html").render(**report_context(report))


def render_diff_html(diff: Mapping[str, Any]) -> str:
    """What differs between two versions (``VersionDiff.to_dict()``) as one self-contained page:
    the same body the web UI's diff page shows, every value autoescaped."""
    return templates().get_template("diff.html").render(d=dict(diff), generated_at=datetime.now(timezone.utc))
