"""Small inline SVG charts for the HTML report and the web UI: overlaid distributions, paired bars,
lines over time, intervals.

Every chart says what it shows on its face: a title (the feature's or metric's name in it), an
x-axis label and a y-axis label as visible text, plus an SVG ``<title>`` for screen readers.
Every string put into the SVG is escaped here; the result is :class:`markupsafe.Markup`, so
autoescaping templates insert it as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

REFERENCE_COLOR = "#7f8c8d"
CURRENT_COLOR = "#e67e22"
THRESHOLD_COLOR = "#c0392b"
LINE_COLORS = ("#2980b9", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085")
#: canvas, and the plot area inside it (left room for the y label and ticks, top for the title)
W, H = 380, 200
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 30, 34


def _plot_box() -> tuple[float, float, float, float]:
    return LEFT, TOP, W - RIGHT, H - BOTTOM


def _frame(body: str, title: str, x_label: str, y_label: str) -> Markup:
    x0, y0, x1, y1 = _plot_box()
    mid_y = (y0 + y1) / 2
    return Markup(
        f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" class="chart"><title>{escape(title)}</title>'
        f'<text x="{W / 2:.0f}" y="14" font-size="12" font-weight="600" text-anchor="middle" '
        f'class="chart-title">{escape(title)}</text>'
        f'<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="#999"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#999"/>'
        f'<text x="{(x0 + x1) / 2:.0f}" y="{H - 4}" font-size="10" text-anchor="middle" '
        f'class="x-label">{escape(x_label)}</text>'
        f'<text x="10" y="{mid_y:.0f}" font-size="10" text-anchor="middle" class="y-label" '
        f'transform="rotate(-90 10 {mid_y:.0f})">{escape(y_label)}</text>'
        f"{body}</svg>"
    )


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts)) or 1.0
    return [c / total for c in counts]


def _y_ticks(lo: float, hi: float) -> str:
    x0, y0, _, y1 = _plot_box()
    return (
        f'<text x="{x0 - 3}" y="{y0 + 4}" font-size="9" text-anchor="end">{hi:.3g}</text>'
        f'<text x="{x0 - 3}" y="{y1}" font-size="9" text-anchor="end">{lo:.3g}</text>'
    )


def histogram(
    edges: Sequence[float],
    reference: Sequence[float],
    current: Sequence[float],
    title: str,
    *,
    x_label: str = "value",
) -> Markup:
    """Reference and current shares over the same bins, as outlined and filled bars."""
    ref, cur = _shares(reference), _shares(current)
    top = max([*ref, *cur, 1e-9])
    x0, y0, x1, y1 = _plot_box()
    n = len(ref)
    width = (x1 - x0) / max(n, 1)
    bars = []
    for i in range(n):
        x = x0 + i * width
        for share, color, inset, fill in (
            (ref[i], REFERENCE_COLOR, 0.0, 0.35),
            (cur[i], CURRENT_COLOR, width * 0.25, 0.8),
        ):
            h = (y1 - y0) * share / top
            bars.append(
                f'<rect x="{x + inset:.1f}" y="{y1 - h:.1f}" width="{max(width - 2 * inset - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{color}" fill-opacity="{fill}"/>'
            )
    labels = (
        f'<text x="{x0}" y="{y1 + 11}" font-size="9">{edges[0]:.3g}</text>'
        f'<text x="{x1}" y="{y1 + 11}" font-size="9" text-anchor="end">{edges[-1]:.3g}</text>'
        if len(edges)
        else ""
    )
    body = "".join(bars) + labels + _y_ticks(0.0, top) + _legend()
    return _frame(body, title, x_label, "share of rows")


def bars(
    categories: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    title: str,
    *,
    x_label: str = "category",
) -> Markup:
    """Reference and current shares per category, side by side."""
    ref, cur = _shares(reference), _shares(current)
    top = max([*ref, *cur, 1e-9])
    x0, y0, x1, y1 = _plot_box()
    n = len(categories)
    width = (x1 - x0) / max(n, 1)
    out = []
    for i, name in enumerate(categories):
        x = x0 + i * width
        for j, (share, color) in enumerate(((ref[i], REFERENCE_COLOR), (cur[i], CURRENT_COLOR))):
            h = (y1 - y0) * share / top
            out.append(
                f'<rect x="{x + j * width / 2:.1f}" y="{y1 - h:.1f}" width="{max(width / 2 - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{color}"/>'
            )
        if n <= 12:
            out.append(
                f'<text x="{x + width / 2:.1f}" y="{y1 + 11}" font-size="9" text-anchor="middle">'
                f"{escape(str(name)[:10])}</text>"
            )
    return _frame("".join(out) + _y_ticks(0.0, top) + _legend(), title, x_label, "share of rows")


def lines(
    series: dict[str, list[tuple[datetime, float]]],
    title: str,
    *,
    threshold: float | None = None,
    y_label: str = "value",
    x_label: str = "time (UTC)",
) -> Markup:
    """One line per series over time, with an optional dashed threshold line."""
    points = [p for s in series.values() for p in s]
    if not points:
        empty = f'<text x="{LEFT + 10}" y="{H / 2:.0f}" font-size="11">no stored results yet</text>'
        return _frame(empty, title, x_label, y_label)
    x0, y0, x1, y1 = _plot_box()
    t0 = min(p[0] for p in points).timestamp()
    t1 = max(p[0] for p in points).timestamp()
    values = [p[1] for p in points] + ([threshold] if threshold is not None else [])
    lo, hi = min(values), max(values)
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0

    def xy(t: datetime, v: float) -> tuple[float, float]:
        return (
            x0 + (x1 - x0) * (t.timestamp() - t0) / span_t,
            y1 - (y1 - y0) * (v - lo) / span_v,
        )

    out = []
    for k, (name, pts) in enumerate(sorted(series.items())):
        color = LINE_COLORS[k % len(LINE_COLORS)]
        coords = [xy(t, v) for t, v in sorted(pts)]
        out.append(
            f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in coords)}" fill="none" '
            f'stroke="{color}" stroke-width="1.5"/>'
        )
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}"/>' for x, y in coords)
        out.append(
            f'<text x="{x1 - 2}" y="{y0 + 10 + 11 * k}" font-size="10" fill="{color}" text-anchor="end">'
            f"{escape(name)}</text>"
        )
    if threshold is not None:
        _, y = xy(datetime.fromtimestamp(t0), threshold)
        out.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{THRESHOLD_COLOR}" '
            f'stroke-dasharray="4 3" class="threshold"/>'
            f'<text x="{x0 + 3}" y="{y - 3:.1f}" font-size="9" fill="{THRESHOLD_COLOR}">threshold {threshold:.3g}</text>'
        )
    first, last = datetime.fromtimestamp(t0), datetime.fromtimestamp(t1)
    out.append(
        f'<text x="{x0}" y="{y1 + 11}" font-size="9">{first:%m-%d %H:%M}</text>'
        f'<text x="{x1}" y="{y1 + 11}" font-size="9" text-anchor="end">{last:%m-%d %H:%M}</text>'
    )
    return _frame("".join(out) + _y_ticks(lo, hi), title, x_label, y_label)


def intervals(
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    title: str,
    *,
    x_label: str,
    zero: bool = True,
) -> Markup:
    """Point estimates with confidence intervals, one row each (``(label, estimate, low, high)``);
    a dashed line at zero when ``zero``."""
    known = [r for r in rows if r[1] is not None]
    values = [v for r in known for v in r[1:] if v is not None] + ([0.0] if zero else [])
    if not known:
        empty = f'<text x="{LEFT + 10}" y="{H / 2:.0f}" font-size="11">no estimate yet</text>'
        return _frame(empty, title, x_label, "variant")
    x0, y0, x1, y1 = _plot_box()
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0

    def x_of(v: float) -> float:
        return x0 + 8 + (x1 - x0 - 16) * (v - lo) / span

    step = (y1 - y0) / (len(rows) + 1)
    out = []
    for i, (label, est, low, high) in enumerate(rows):
        y = y0 + step * (i + 1)
        out.append(f'<text x="{x0 + 2}" y="{y - 5:.1f}" font-size="9">{escape(label)}</text>')
        if est is None:
            continue
        if low is not None and high is not None:
            out.append(
                f'<line x1="{x_of(low):.1f}" y1="{y:.1f}" x2="{x_of(high):.1f}" y2="{y:.1f}" '
                f'stroke="{LINE_COLORS[0]}" stroke-width="2" class="ci"/>'
            )
        out.append(f'<circle cx="{x_of(est):.1f}" cy="{y:.1f}" r="3.5" fill="{LINE_COLORS[0]}"/>')
    if zero:
        out.append(
            f'<line x1="{x_of(0.0):.1f}" y1="{y0}" x2="{x_of(0.0):.1f}" y2="{y1}" stroke="#555" '
            f'stroke-dasharray="3 3"/>'
        )
    out.append(
        f'<text x="{x0}" y="{y1 + 11}" font-size="9">{lo:.3g}</text>'
        f'<text x="{x1}" y="{y1 + 11}" font-size="9" text-anchor="end">{hi:.3g}</text>'
    )
    return _frame("".join(out), title, x_label, "variant")


def _legend() -> str:
    x0, y0, _, _ = _plot_box()
    return (
        f'<rect x="{x0 + 4}" y="{y0 - 2}" width="10" height="8" fill="{REFERENCE_COLOR}" fill-opacity="0.5"/>'
        f'<text x="{x0 + 18}" y="{y0 + 6}" font-size="10">reference</text>'
        f'<rect x="{x0 + 80}" y="{y0 - 2}" width="10" height="8" fill="{CURRENT_COLOR}"/>'
        f'<text x="{x0 + 94}" y="{y0 + 6}" font-size="10">current</text>'
    )
