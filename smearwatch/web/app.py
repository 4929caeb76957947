"""The Starlette application: settings, middleware (session, login, headers), routes.

Pages are plain functions of the request (`week`, `clusters`, `posts` modules); database work
is synchronous SQLAlchemy, which Starlette runs in its thread pool. Security choices, stated
once: the session cookie is signed (itsdangerous) and HttpOnly, SameSite=Strict; every POST
checks a CSRF token (`csrf`); a Content-Security-Policy allows only this server as a source of
anything, so even a template mistake could not make the browser load a remote resource.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from reports.settings import ReportInputs
from smearwatch.web import clusters, posts, week
from smearwatch.web.auth import LoginThrottle, authenticate, user_exists
from smearwatch.web.csrf import FIELD, checked_form, csrf_token
from smearwatch.web.format import FILTERS
from smearwatch.web.week import WeekCache

__all__ = ["WebSettings", "create_app", "font_dir"]

HERE = Path(__file__).resolve().parent
PUBLIC_PATHS = ("/login", "/static/")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no referrer leaves; "no-referrer" would make the
    # browser send "Origin: null" on our own forms
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class WebSettings:
    """What `smearwatch serve` resolved: the report inputs and the security choices."""

    inputs: ReportInputs
    require_login: bool = False
    reviewer: str | None = None  # default reviewer name when nobody logs in
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    https: bool = False


def font_dir() -> Path:
    """matplotlib's DejaVu fonts (Cyrillic and Kazakh letters), served as local web fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


class _Guard(BaseHTTPMiddleware):
    """Login check (when required) and the security headers on every response."""

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        settings: WebSettings = request.app.state.settings
        path = request.url.path
        user = current_user(request)
        engine = request.app.state.engine
        if (
            settings.require_login
            and user is not None
            and not await run_in_threadpool(user_exists, engine, user)
        ):
            request.session.clear()  # the account was removed: its sessions end
            user = None
        if settings.require_login and user is None and not path.startswith(PUBLIC_PATHS):
            target = path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _safe_next(value: str | None) -> str:
    """Only a local path is a place to go after login (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def current_user(request: Request) -> str | None:
    user = request.session.get("user")
    return user if isinstance(user, str) else None


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    settings: WebSettings = request.app.state.settings
    context.setdefault("user", current_user(request))
    context.setdefault("login_required", settings.require_login)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


async def login_page(request: Request) -> Response:
    if request.method == "GET":
        target = _safe_next(request.query_params.get("next"))
        return render(request, "login.html", next=target, error=None)
    form = await checked_form(request)
    name = str(form.get("name") or "")
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/"))
    engine: Engine = request.app.state.engine
    throttle: LoginThrottle = request.app.state.throttle
    address = request.client.host if request.client else "?"
    if throttle.blocked(name, address):
        message = "Too many failed logins: wait a quarter of an hour and try again."
        return render(request, "login.html", status_code=429, next=target, error=message)
    if name and password and await run_in_threadpool(authenticate, engine, name, password):
        throttle.succeeded(name)
        request.session.clear()  # a new session (and CSRF token) after login
        request.session["user"] = name.strip()
        return RedirectResponse(target, status_code=303)
    throttle.failed(name, address)
    return render(
        request, "login.html", status_code=401, next=target, error="Wrong name or password."
    )


async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/login" if request.app.state.settings.require_login else "/", 303)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal error."
    return render(request, "error.html", status_code=status, status=status, detail=detail)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # every value is escaped: post texts and handles are hostile input
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["csrf_token"] = csrf_token
    env.globals["csrf_field"] = FIELD
    return Jinja2Templates(env=env)


def create_app(engine: Engine, settings: WebSettings) -> Starlette:
    """The web interface on `engine` (already migrated by `open_database`)."""
    routes = [
        Route("/", week.home),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/week/{label}", week.week_page),
        Route("/week/{label}/daily.png", week.daily_chart),
        Route("/week/{label}/daily.csv", week.daily_csv),
        Route("/week/{label}/report.pdf", week.week_pdf),
        Route("/week/{label}/export/{name}", week.week_export),
        Route("/clusters", clusters.cluster_list_page),
        Route("/clusters.csv", clusters.cluster_list_csv),
        Route("/clusters/{stable_id}", clusters.cluster_page),
        Route("/clusters/{stable_id}/network.png", clusters.network_png),
        Route("/clusters/{stable_id}/network.gexf", clusters.network_gexf),
        Route("/clusters/{stable_id}/members.csv", clusters.members_csv),
        Route("/clusters/{stable_id}/review", clusters.review_post, methods=["POST"]),
        Route("/posts", posts.search_page),
        Route("/posts.csv", posts.search_csv),
        Route("/posts/go", posts.goto),
        Route("/posts/{evidence_id}", posts.post_page),
        Route("/posts/{evidence_id}/verify", posts.verify_post, methods=["POST"]),
        Route("/posts/{evidence_id}/raw", posts.raw_payload),
        Mount("/static/fonts", StaticFiles(directory=str(font_dir())), name="fonts"),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie="smearwatch_session",
            max_age=12 * 3600,
            same_site="strict",
            https_only=settings.https,
        ),
        Middleware(_Guard),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, 500: http_error},
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.templates = _templates()
    app.state.weeks = WeekCache(engine, settings.inputs)
    app.state.throttle = LoginThrottle()
    return app
