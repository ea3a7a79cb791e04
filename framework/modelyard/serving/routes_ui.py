"""``GET /ui``: the latest monitoring state of every declared model, as one server-rendered page.

Per model: the versions this worker serves and the aliases they hold, and the results of the
latest stored run of each monitor (per version and variant) from the registry's
``monitor_results``, failed checks first and highlighted. ``GET /ui/models/{model}`` is that
model's full monitoring report (:mod:`modelyard.monitoring.report.build`) over a window of the
prediction log (``?window=1d`` by default; ``1h``, ``5000``, ``all``...).

The pages are plain HTML with inline CSS (and inline SVG in the report): no scripts and no
external assets, which the ``Content-Security-Policy`` header enforces. Every string that comes
from configuration, the registry or the log is escaped. Registry reads run in the thread pool.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from modelyard.errors import BadRequest, ModelNotFound, MonitoringError

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.serving.app import ServingState
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

router = APIRouter()

DEFAULT_REPORT_WINDOW = "1d"
"""Window of the log the model page judges when the request names none."""

LOOKBACK = (timedelta(hours=1), timedelta(days=1), timedelta(days=7), None)
"""How far back the overview reads stored results: the first span holding a row of every declared
monitor of the model wins (``None``: everything), so a busy ``monitor watch`` costs one hour of rows."""

#: only inline styles and inline SVG; no scripts, no fetches, no external anything
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left}"
    "th{background:#f6f6f6}.model{border:1px solid #ddd;border-radius:6px;padding:.2em 1em;margin:1em 0}"
    "tr.bad td,.bad{background:#fdecea;color:#b03a2e;font-weight:600}.ok{color:#1e8449}"
    ".none{color:#777;font-style:italic}.muted{color:#777;font-size:13px}td.t{white-space:nowrap}"
    "summary{cursor:pointer;color:#1e8449;margin:.5em 0}"
)


@dataclass
class ModelState:
    """What the overview shows of one declared model."""

    name: str
    served: list[tuple[int, list[str]]]  # (version, aliases it holds)
    other_aliases: dict[str, int]  # aliases held by versions this worker does not serve
    serving_error: str | None
    latest: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the registry could not be read

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.latest if r.get("drifted")]


def latest_results(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the latest stored run of each (monitor, version, variant), failed first.

    One run of one monitor on one part of a window is stored in one batch, so its rows share
    ``created_at``; the latest run is the group's rows at its greatest ``created_at``.
    """
    newest: dict[tuple[Any, ...], datetime] = {}
    for row in rows:
        key = (row["monitor"], row["version"], row["variant"])
        if key not in newest or row["created_at"] > newest[key]:
            newest[key] = row["created_at"]
    latest = [r for r in rows if r["created_at"] == newest[(r["monitor"], r["version"], r["variant"])]]
    return sorted(
        latest,
        key=lambda r: (
            not r.get("drifted"),
            r["monitor"],
            -(r["version"] or 0),
            r["variant"] or "",
            r["feature"] is not None,
            r["feature"] or "",
        ),
    )


def recent_results(yard: Yard, name: str) -> list[dict[str, Any]]:
    """Stored results of ``name`` over the shortest :data:`LOOKBACK` span where every declared monitor ran."""
    from modelyard.monitoring.runner import DEFAULT_MONITORS

    declared = {m.name for m in (yard.model(name).monitors or DEFAULT_MONITORS)}
    now = datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = []
    for span in LOOKBACK:
        rows = yard.registry.backend.monitor_results(name, since=now - span if span is not None else None)
        if declared <= {r["monitor"] for r in rows}:
            break
    return rows


def model_state(state: ServingState, name: str) -> ModelState:
    """Served versions, aliases and latest monitor results of ``name`` (registry reads: call off the loop)."""
    served = state.table.models.get(name)
    versions = sorted(served.versions) if served is not None else []
    serving_error = (
        (served.error if served is not None else "this worker did not start it") if not versions else None
    )
    out = ModelState(name=name, served=[], other_aliases={}, serving_error=serving_error)
    try:
        try:
            aliases = state.yard.registry.aliases(name)
        except ModelNotFound:  # declared, never registered: no aliases, maybe still results
            aliases = {}
        rows = recent_results(state.yard, name)
    except Exception as exc:  # noqa: BLE001 - show the failure on the page, keep the other models
        logger.warning("monitoring UI: reading %s from the registry failed: %s", name, exc)
        aliases, rows = {}, []
        out.error = f"{type(exc).__name__}: {exc}"
    out.served = [(v, sorted(a for a, held in aliases.items() if held == v)) for v in versions]
    out.other_aliases = {a: v for a, v in sorted(aliases.items()) if v not in versions}
    out.latest = latest_results(rows)
    return out


def _text(value: Any) -> str:
    """A table cell: numbers to 4 significant digits, times to the second (UTC), text escaped."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return f"{value.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}"
    return escape(str(value))


def _window(row: dict[str, Any]) -> str:
    start, end = row.get("window_start"), row.get("window_end")
    if start is None and end is None:
        return "-"
    return f"{_text(start)} &rarr; {_text(end)}"


def _verdict(row: dict[str, Any]) -> str:
    if row.get("drifted") is None:
        return "<td>-</td>"
    return "<td class='bad'>FAIL</td>" if row["drifted"] else "<td class='ok'>ok</td>"


def _page(title: str, body: list[str]) -> str:
    return "".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<meta http-equiv='refresh' content='60'>",
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
            *body,
            "</body></html>",
        ]
    )


def _results_table(rows: list[dict[str, Any]]) -> list[str]:
    parts = [
        "<table><tr><th>monitor</th><th>version</th><th>detector</th><th>feature</th><th>statistic</th>"
        "<th>value</th><th>threshold</th><th>verdict</th><th>window (UTC)</th><th>when (UTC)</th></tr>"
    ]
    for r in rows:
        version = f"v{r['version']}" if r["version"] is not None else "-"
        if r.get("variant"):
            version += f" {escape(r['variant'])}"
        parts.append(
            f"<tr{' class=bad' if r.get('drifted') else ''}><td>{_text(r['monitor'])}</td>"
            f"<td>{version}</td><td>{_text(r['detector'])}</td>"
            f"<td>{_text(r['feature'] or '(dataset)')}</td><td>{_text(r['statistic'])}</td>"
            f"<td>{_text(r['score'])}</td><td>{_text(r['threshold'])}</td>{_verdict(r)}"
            f"<td class='t'>{_window(r)}</td><td class='t'>{_text(r['created_at'])}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _model_section(model: ModelState, root: str) -> list[str]:
    name = escape(model.name)
    link = f"{escape(root)}/ui/models/{escape(quote(model.name, safe=''))}"
    if model.error:
        badge = "<span class='bad'>registry unavailable</span>"
    elif not model.latest:
        badge = "<span class='none'>no monitor results yet</span>"
    elif model.failed:
        badge = f"<span class='bad'>{len(model.failed)} failed check(s)</span>"
    else:
        badge = "<span class='ok'>all checks pass</span>"
    served = ", ".join(
        f"v{v}" + (f" ({', '.join(escape(a) for a in aliases)})" if aliases else "")
        for v, aliases in model.served
    )
    parts = [
        f"<section class='model' id='model-{name}'>",
        f"<h2><a href='{link}'>{name}</a> &mdash; {badge}</h2>",
        f"<p>Serving: {served or '<span class=bad>nothing</span>'}",
    ]
    if model.serving_error:
        parts.append(f" <span class='muted'>({escape(model.serving_error)})</span>")
    if model.other_aliases:
        others = ", ".join(f"{escape(a)} &rarr; v{v}" for a, v in model.other_aliases.items())
        parts.append(f"<br><span class='muted'>Other aliases: {others}</span>")
    parts.append("</p>")
    if model.error:
        parts.append(f"<p class='bad'>Could not read the registry: {escape(model.error)}</p>")
    elif not model.latest:
        parts.append(
            "<p class='none'>No monitor results yet: run <code>modelyard monitor run "
            f"{name}</code> (or <code>monitor watch</code>).</p>"
        )
    else:
        failed, passed = model.failed, [r for r in model.latest if not r.get("drifted")]
        if failed:
            parts.extend(_results_table(failed))
        if passed:
            summary = f"{len(passed)} passing check(s)" if failed else f"all {len(passed)} checks pass"
            parts.append(f"<details><summary>{summary}</summary>")
            parts.extend(_results_table(passed))
            parts.append("</details>")
    parts.append("</section>")
    return parts


def render_overview(models: list[ModelState], *, root: str = "") -> str:
    """The ``/ui`` page: a section per model (``root``: the app's mount path, for links)."""
    failing = [m.name for m in models if m.failed or m.error]
    now = datetime.now(timezone.utc)
    body = [
        "<h1>modelyard monitoring</h1>",
        f"<p class='muted'>Latest stored monitor run per monitor, version and variant; "
        f"page generated {now:%Y-%m-%d %H:%M:%S} UTC, refreshes every minute.</p>",
        (f"<p class='bad'>Needs attention: {', '.join(escape(n) for n in failing)}</p>" if failing else ""),
    ]
    if not models:
        body.append("<p class='none'>No models are declared in modelyard.yaml.</p>")
    for model in models:
        body.extend(_model_section(model, root))
    return _page("modelyard monitoring", body)


def _html(text: str) -> HTMLResponse:
    return HTMLResponse(text, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


@router.get(
    "/ui", tags=["ui"], summary="Latest monitoring state of every model (HTML)", response_class=HTMLResponse
)
async def overview(request: Request) -> HTMLResponse:
    state: ServingState = request.app.state.serving

    def gather() -> list[ModelState]:
        return [model_state(state, name) for name in state.yard.config.models]

    models = await run_in_threadpool(gather)
    return _html(render_overview(models, root=request.scope.get("root_path", "")))


def model_report_html(yard: Yard, model: str, window: str, *, root: str = "") -> str:
    """The full monitoring report of ``model`` (ModelNotFound if undeclared), with a link back to ``/ui``."""
    from modelyard.monitoring.report.build import build_report, render_html
    from modelyard.monitoring.runner import Window

    yard.model(model)
    try:
        Window.parse(window)
    except MonitoringError as exc:
        raise BadRequest(str(exc)) from None
    page = render_html(build_report(yard, model, window=window))
    back = f"<p><a href='{escape(root)}/ui'>&larr; all models</a></p>"
    return page.replace("<body>", f"<body>{back}", 1)


@router.get(
    "/ui/models/{model}",
    tags=["ui"],
    summary="Full monitoring report of one model (HTML); ?window=1d|1h|5000|all",
    response_class=HTMLResponse,
    responses={400: {"description": "bad window"}, 404: {"description": "unknown model"}},
)
async def model_page(request: Request, model: str, window: str = DEFAULT_REPORT_WINDOW) -> HTMLResponse:
    state: ServingState = request.app.state.serving
    root = request.scope.get("root_path", "")
    return _html(await run_in_threadpool(model_report_html, state.yard, model, window, root=root))
