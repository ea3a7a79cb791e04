"""The web UI's routes, mounted under ``/ui`` by ``modelyard serve`` and by ``modelyard ui``.

Pages (all GET, read-only, server-rendered with autoescaped Jinja2, no scripts, nothing loaded
from the network: the ``Content-Security-Policy`` header enforces it):

* ``/ui``: every model with its aliases, live deployment and latest monitor verdicts;
* ``/ui/models/{model}``: versions, deployment (variants, weights, canary state, guards), alias
  history as a timeline, deployment changes, latest monitor results, a diff picker;
* ``/ui/models/{model}/versions/{n}``: lineage (feature service and schema fingerprint, snapshot
  with content hash and rows, params, metrics, git commit, libraries, artifact hash and size)
  and where the version is deployed;
* ``/ui/models/{model}/diff?a=1&b=2``: two versions side by side;
* ``/ui/models/{model}/experiment``: the experiment report (confidence intervals drawn,
  verdicts, sample-ratio check) and the shadow report;
* ``/ui/models/{model}/monitoring?window=1d``: the monitoring report (distributions of reference
  vs current per feature, every statistic over time with its threshold).

Actions (promote, roll back, pause the rollout) need a bearer token of the ``admin`` scope, the
same tokens the serving API takes (``serving.auth.tokens``, ``MODELYARD_TOKENS_ADMIN``;
:mod:`modelyard.serving.auth`). With tokens configured every ``/ui`` page needs an admin token
too: an ``Authorization`` header, or the HttpOnly, SameSite=Strict cookie that ``/ui/admin``
sets after checking the token it is given. The buttons show, and the POSTs are accepted, only
for a request the guard admitted with an admin token. Without any token configured the UI is
read-only and the action routes answer 403.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Form
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelyard.errors import BadRequest, ModelyardError, MonitoringError, RolloutError
from modelyard.features.freshness import format_span
from modelyard.serving.auth import SCOPES_KEY, Tokens
from modelyard.serving.http_errors import error_response
from modelyard.serving.protocol import ProtocolRoutes
from modelyard.ui import views

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

#: what every UI route may answer besides its page (the OpenAPI document says so; the fuzzing gate checks it)
#: errors are JSON (modelyard.serving.http_errors) even where the page is HTML
JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
router = APIRouter(
    responses={
        303: {"description": "an action was taken: back to the page"},
        400: {"description": "a bad query parameter (window, versions to compare)", "content": JSON_ERROR},
        403: {"description": "an action without an admin token, or a read-only UI", "content": JSON_ERROR},
        404: {"description": "unknown model or version", "content": JSON_ERROR},
        422: {"description": "a form or query field missing or of the wrong type"},
    }
)

DEFAULT_REPORT_WINDOW = "1d"
ADMIN_COOKIE = "modelyard_admin"
NO_ADMIN_TOKEN = (
    "the UI is read-only: the server has no admin token. Make one with `modelyard token --scope admin` "
    "and put it in serving.auth.tokens or $MODELYARD_TOKENS_ADMIN"
)

#: only inline styles and inline SVG; forms post to this server; no scripts, no fetches
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'"


def _fmt(value: Any) -> str:
    """A cell: booleans as yes/no, numbers as the report shows them (four significant digits)."""
    from modelyard.monitoring.report.build import num

    if isinstance(value, bool):
        return "yes" if value else "no"
    return num(value)


def _when(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}"
    return str(value)


def _size(value: Any) -> str:
    if not value:
        return "-"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(value)


def templates() -> Any:
    """The UI's Jinja2 environment: autoescaped, strict, with the report's templates reachable too."""
    from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

    from modelyard.monitoring.report.build import num as report_num

    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("modelyard.ui", "templates"),
                PackageLoader("modelyard.monitoring.report", "templates"),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=report_num, fmt=_fmt, when=_when, size=_size, span=format_span)
    return env


_ENV: Any = None


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    global _ENV
    if _ENV is None:
        _ENV = templates()
    root = request.scope.get("root_path", "")
    page = _ENV.get_template(name).render(
        root=root,
        admin=is_admin(request),
        admin_configured=_tokens(request).grants("admin"),
        now=datetime.now(timezone.utc),
        **context,
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


def _yard(request: Request) -> Any:
    serving = getattr(request.app.state, "serving", None)
    return serving.yard if serving is not None else request.app.state.yard


def _served(request: Request) -> dict[str, Any] | None:
    serving = getattr(request.app.state, "serving", None)
    return serving.table.models if serving is not None else None


# -- admin -------------------------------------------------------------------------------------


def _tokens(request: Request) -> Tokens:
    """The tokens the app's guard enforces (none: authentication is off)."""
    return getattr(request.app.state, "tokens", None) or Tokens()


def is_admin(request: Request) -> bool:
    """Whether the app's guard admitted the request with an ``admin`` token (header or the UI's
    cookie; :mod:`modelyard.serving.auth`). Never without configured tokens."""
    return "admin" in request.scope.get(SCOPES_KEY, ())


def _need_admin(request: Request) -> None:
    if is_admin(request):
        return
    if not _tokens(request).grants("admin"):
        raise _Forbidden(NO_ADMIN_TOKEN)
    raise _Forbidden("sign in at /ui/admin with an admin token first")


class _Forbidden(ModelyardError):
    pass


def _forbidden(message: str) -> Response:
    return error_response(403, message, "Forbidden")


@router.get(
    "/ui/admin", tags=["ui"], summary="Sign in with an admin token (HTML)", response_class=HTMLResponse
)
async def admin_page(request: Request) -> HTMLResponse:
    return render(request, "admin.html", error=None)


@router.post(
    "/ui/admin",
    tags=["ui"],
    summary="Sign in with an admin token",
    response_model=None,
    responses={
        403: {
            "description": "not an admin token (the form again, as HTML), or no admin token configured",
            "content": {**JSON_ERROR, "text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def admin_login(request: Request, token: str = Form(...)) -> Response:
    tokens = _tokens(request)
    if not tokens.grants("admin"):
        return _forbidden(NO_ADMIN_TOKEN)
    if "admin" not in tokens.scopes_of(token):  # unknown, or of another scope: the same answer
        refused = render(request, "admin.html", error="not an admin token")
        refused.status_code = 403
        return refused
    root = request.scope.get("root_path", "")
    response = RedirectResponse(f"{root}/ui", status_code=303)
    response.set_cookie(
        ADMIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path=f"{root}/ui",
        secure=request.url.scheme == "https",
    )
    return response


async def _act(request: Request, model: str, action: str, reason: str, **args: Any) -> Response:
    try:
        _need_admin(request)
    except _Forbidden as exc:
        return _forbidden(str(exc))
    yard = _yard(request)
    if not reason.strip():
        raise BadRequest(f"{action} needs a reason (it goes into the history)")

    def run() -> None:
        yard.model(model)
        actor = "web UI admin"
        if action == "promote":
            yard.registry.promote(model, int(args["version"]), args["alias"], reason=reason, actor=actor)
        elif action == "rollback":
            yard.registry.rollback(model, args["alias"], reason=reason, actor=actor)
        elif action == "pause":
            from modelyard.rollout import changes

            changes.pause(views.deployment_store(yard), model, actor=actor, reason=reason)
        else:  # pragma: no cover - routes below name the action
            raise RolloutError(f"unknown action {action!r}")

    await run_in_threadpool(run)
    logger.info("web UI: %s of %s (%s)", action, model, reason)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/ui/models/{model}", status_code=303)


@router.post(
    "/ui/models/{model}/promote", tags=["ui"], summary="Promote a version (admin)", response_model=None
)
async def promote(
    request: Request,
    model: str,
    version: int = Form(...),
    alias: str = Form("production"),
    reason: str = Form(""),
) -> Response:
    return await _act(request, model, "promote", reason, version=version, alias=alias)


@router.post(
    "/ui/models/{model}/rollback", tags=["ui"], summary="Roll an alias back (admin)", response_model=None
)
async def rollback(
    request: Request, model: str, alias: str = Form("production"), reason: str = Form("")
) -> Response:
    return await _act(request, model, "rollback", reason, alias=alias)


@router.post(
    "/ui/models/{model}/pause", tags=["ui"], summary="Pause the rollout (admin)", response_model=None
)
async def pause(request: Request, model: str, reason: str = Form("")) -> Response:
    return await _act(request, model, "pause", reason)


# -- pages -------------------------------------------------------------------------------------


@router.get(
    "/ui",
    tags=["ui"],
    summary="Every model: aliases, deployment, verdicts (HTML)",
    response_class=HTMLResponse,
)
async def overview_page(request: Request) -> HTMLResponse:
    yard, served = _yard(request), _served(request)
    cards = await run_in_threadpool(views.overview, yard, served=served)
    return render(
        request,
        "overview.html",
        cards=cards,
        serving=served is not None,
        freshness_window=format_span(views.FRESHNESS_WINDOW),
    )


@router.get("/ui/models/{model}", tags=["ui"], summary="One model (HTML)", response_class=HTMLResponse)
async def model_page(request: Request, model: str) -> HTMLResponse:
    yard, served = _yard(request), _served(request)

    def gather() -> dict[str, Any]:
        card = views.model_card(yard, model, served=served)
        try:
            guards = views.guard_values(yard, card.deployment)
        except Exception as exc:  # noqa: BLE001 - shown on the page, the rest still renders
            logger.warning("web UI: evaluating the guards of %s failed: %s", model, exc)
            guards = []
        return {
            "card": card,
            "guards": guards,
            "history": views.alias_history(yard, model),
            "changes": views.deployment_history(yard, model),
        }

    return render(
        request,
        "model.html",
        freshness_window=format_span(views.FRESHNESS_WINDOW),
        **(await run_in_threadpool(gather)),
    )


@router.get(
    "/ui/models/{model}/versions/{number}",
    tags=["ui"],
    summary="One version's lineage (HTML)",
    response_class=HTMLResponse,
)
async def version_page(request: Request, model: str, number: int) -> HTMLResponse:
    page = await run_in_threadpool(views.version_page, _yard(request), model, number)
    return render(request, "version.html", model=model, page=page)


@router.get(
    "/ui/models/{model}/diff",
    tags=["ui"],
    summary="Two versions side by side (HTML)",
    response_class=HTMLResponse,
)
async def diff_page(request: Request, model: str, a: int, b: int) -> HTMLResponse:
    yard = _yard(request)

    def gather() -> Any:
        yard.model(model)
        return yard.registry.diff(model, a, b)

    return render(request, "diff.html", model=model, diff=await run_in_threadpool(gather))


@router.get(
    "/ui/models/{model}/experiment",
    tags=["ui"],
    summary="Experiment and shadow report (HTML)",
    response_class=HTMLResponse,
)
async def experiment_page(request: Request, model: str) -> HTMLResponse:
    from modelyard.monitoring.report import svg

    report = await run_in_threadpool(views.experiment, _yard(request), model)
    chart = svg.intervals(
        views.confidence_rows(report),
        f"{model}: difference vs {report.control} with confidence intervals",
        x_label="treatment - control",
    )
    return render(request, "experiment.html", model=model, report=report, chart=chart)


@router.get(
    "/ui/models/{model}/monitoring",
    tags=["ui"],
    summary="Monitoring report over a window of the log (HTML); ?window=1d|1h|5000|all",
    response_class=HTMLResponse,
)
async def monitoring_page(request: Request, model: str, window: str = DEFAULT_REPORT_WINDOW) -> HTMLResponse:
    from modelyard.monitoring.report.build import build_report, report_context
    from modelyard.monitoring.runner import Window

    yard = _yard(request)
    yard.model(model)
    try:
        Window.parse(window)
    except MonitoringError as exc:
        raise BadRequest(str(exc)) from None
    report = await run_in_threadpool(build_report, yard, model, window=window)
    return render(request, "monitoring.html", model=model, window=window, **report_context(report))


def protocol(yard: Yard) -> ProtocolRoutes:
    """The ``ui`` protocol plugin: every page needs ``admin`` (a bearer token or the sign-in
    cookie) except the sign-in form, which checks the token it is given itself."""
    return ProtocolRoutes(router, scopes={"/ui/admin": "open"})
