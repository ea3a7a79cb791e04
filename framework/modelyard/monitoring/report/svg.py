"""Small inline SVG plots for the HTML report: overlaid histograms, paired bars, lines over time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

REFERENCE_COLOR = "#7f8c8d"
CURRENT_COLOR = "#e67e22"
LINE_COLORS = ("#2980b9", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085")
W, H, PAD = 360, 160, 28


def _frame(body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 4}" y2="{H - PAD}" stroke="#999"/>{body}</svg>'
    )


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts)) or 1.0
    return [c / total for c in counts]


def histogram(
    edges: Sequence[float], reference: Sequence[float], current: Sequence[float], title: str
) -> str:
    """Reference and current shares over the same bins, as outlined and filled bars."""
    ref, cur = _shares(reference), _shares(current)
    top = max([*ref, *cur, 1e-9])
    n = len(ref)
    width = (W - PAD - 4) / max(n, 1)
    bars = []
    for i in range(n):
        x = PAD + i * width
        for share, color, inset, fill in (
            (ref[i], REFERENCE_COLOR, 0.0, 0.35),
            (cur[i], CURRENT_COLOR, width * 0.25, 0.8),
        ):
            h = (H - 2 * PAD) * share / top
            bars.append(
                f'<rect x="{x + inset:.1f}" y="{H - PAD - h:.1f}" width="{max(width - 2 * inset - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{color}" fill-opacity="{fill}"/>'
            )
    labels = (
        f'<text x="{PAD}" y="{H - 10}" font-size="10">{edges[0]:.3g}</text>'
        f'<text x="{W - 4}" y="{H - 10}" font-size="10" text-anchor="end">{edges[-1]:.3g}</text>'
        if len(edges)
        else ""
    )
    return _frame("".join(bars) + labels + _legend(), title)


def bars(categories: Sequence[str], reference: Sequence[float], current: Sequence[float], title: str) -> str:
    """Reference and current shares per category, side by side."""
    ref, cur = _shares(reference), _shares(current)
    top = max([*ref, *cur, 1e-9])
    n = len(categories)
    width = (W - PAD - 4) / max(n, 1)
    out = []
    for i, name in enumerate(categories):
        x = PAD + i * width
        for j, (share, color) in enumerate(((ref[i], REFERENCE_COLOR), (cur[i], CURRENT_COLOR))):
            h = (H - 2 * PAD) * share / top
            out.append(
                f'<rect x="{x + j * width / 2:.1f}" y="{H - PAD - h:.1f}" width="{max(width / 2 - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{color}"/>'
            )
        if n <= 12:
            out.append(
                f'<text x="{x + width / 2:.1f}" y="{H - 12}" font-size="9" text-anchor="middle">{escape(name[:10])}</text>'
            )
    return _frame("".join(out) + _legend(), title)


def lines(
    series: dict[str, list[tuple[datetime, float]]], title: str, *, threshold: float | None = None
) -> str:
    """One line per series over time, with an optional dashed threshold."""
    points = [p for s in series.values() for p in s]
    if not points:
        return _frame('<text x="40" y="80" font-size="11">no stored results yet</text>', title)
    t0 = min(p[0] for p in points).timestamp()
    t1 = max(p[0] for p in points).timestamp()
    values = [p[1] for p in points] + ([threshold] if threshold is not None else [])
    lo, hi = min(values), max(values)
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0

    def xy(t: datetime, v: float) -> str:
        x = PAD + (W - PAD - 4) * (t.timestamp() - t0) / span_t
        y = H - PAD - (H - 2 * PAD) * (v - lo) / span_v
        return f"{x:.1f},{y:.1f}"

    out = []
    for k, (name, pts) in enumerate(sorted(series.items())):
        color = LINE_COLORS[k % len(LINE_COLORS)]
        path = " ".join(xy(t, v) for t, v in sorted(pts))
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        out.append(
            f'<text x="{W - 6}" y="{14 + 12 * k}" font-size="10" fill="{color}" text-anchor="end">{escape(name)}</text>'
        )
    if threshold is not None:
        y = H - PAD - (H - 2 * PAD) * (threshold - lo) / span_v
        out.append(
            f'<line x1="{PAD}" y1="{y:.1f}" x2="{W - 4}" y2="{y:.1f}" stroke="#c0392b" stroke-dasharray="4 3"/>'
        )
    out.append(
        f'<text x="2" y="{PAD}" font-size="9">{hi:.3g}</text><text x="2" y="{H - PAD}" font-size="9">{lo:.3g}</text>'
    )
    return _frame("".join(out), title)


def _legend() -> str:
    return (
        f'<rect x="{PAD + 4}" y="4" width="10" height="8" fill="{REFERENCE_COLOR}" fill-opacity="0.5"/>'
        f'<text x="{PAD + 18}" y="12" font-size="10">reference</text>'
        f'<rect x="{PAD + 80}" y="4" width="10" height="8" fill="{CURRENT_COLOR}"/>'
        f'<text x="{PAD + 94}" y="12" font-size="10">current</text>'
    )
