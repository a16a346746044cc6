"""Login pages, the session middleware and `require_role` for staff pages and APIs."""

from __future__ import annotations

import functools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from . import service
from .service import CurrentUser

if TYPE_CHECKING:
    from gateway.db import Database

log = structlog.get_logger(__name__)

COOKIE = "sb_session"
# Double-submit token against login CSRF: a cookie set by the login page, echoed in its form.
LOGIN_COOKIE = "sb_login"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STATIC_DIR = Path(__file__).parent / "static"
MAX_LOGIN_FIELD = 1024

__all__ = ["CurrentUser", "register_staff_page", "require_role", "setup_accounts"]


@dataclass(frozen=True, slots=True)
class StaffPage:
    title: str
    path: str
    roles: tuple[str, ...]
    description: str = ""


@dataclass
class AccountsConfig:
    db: Database
    session_lifetime: timedelta
    secure_cookie: bool
    first_admin_file: Path | None
    pages: list[StaffPage] = field(default_factory=list)


CONFIG = web.AppKey("accounts_config", AccountsConfig)
TEMPLATE_LOADERS = web.AppKey("accounts_template_loaders", list)


def setup_templates(app: web.Application, *packages: str) -> None:
    """Jinja2 with autoescaping for staff pages; each package keeps its own `templates/`.

    Call once per package that has pages; names are looked up in registration order, so
    prefix template names with the package's name.
    """
    if TEMPLATE_LOADERS not in app:
        loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("accounts")]
        app[TEMPLATE_LOADERS] = loaders
        aiohttp_jinja2.setup(
            app,
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            context_processors=[_template_context],
        )
    for package in packages:
        app[TEMPLATE_LOADERS].append(jinja2.PackageLoader(package))


async def _template_context(request: web.Request) -> dict[str, object]:
    return {
        "user": request.get("user"),
        "csrf_token": request.get("csrf_token", ""),
        "staff_pages": _visible_pages(request),
    }


def setup_accounts(
    app: web.Application,
    db: Database,
    *,
    session_hours: float = 12.0,
    secure_cookie: bool = False,
    first_admin_file: Path | None = None,
) -> None:
    app[CONFIG] = AccountsConfig(
        db=db,
        session_lifetime=timedelta(hours=session_hours),
        secure_cookie=secure_cookie,
        first_admin_file=first_admin_file,
    )
    app.middlewares.append(session_middleware)  # before the template context is computed
    setup_templates(app)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/staff", staff_home)
    app.router.add_get("/staff/session", session_info)
    app.router.add_static("/staff/static/", STATIC_DIR, follow_symlinks=False)
    app.cleanup_ctx.append(_first_admin)


def register_staff_page(
    app: web.Application, title: str, path: str, *roles: str, description: str = ""
) -> None:
    """List a page on the staff home page for users with one of `roles`."""
    app[CONFIG].pages.append(StaffPage(title, path, roles, description))


def _visible_pages(request: web.Request) -> list[StaffPage]:
    user: CurrentUser | None = request.get("user")
    config = request.app.get(CONFIG)
    if user is None or config is None:
        return []
    return [page for page in config.pages if user.has_role(*page.roles)]


async def _first_admin(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if config.first_admin_file is not None:
        async with config.db.transaction() as session:
            password = await service.ensure_first_admin(session, config.first_admin_file)
        if password is not None:
            log.warning("accounts.first_admin_created", password_file=str(config.first_admin_file))
    yield


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request["user"] = None
    request["csrf_token"] = ""
    token = request.cookies.get(COOKIE)
    config = request.app.get(CONFIG)
    if token and config is not None:
        async with config.db.autocommit() as session:  # one read, no BEGIN/COMMIT
            loaded = await service.load_session(session, token)
        if loaded is not None:
            request["user"], request["csrf_token"] = loaded
    return await handler(request)


def _wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


async def _csrf_ok(request: web.Request) -> bool:
    expected = request.get("csrf_token", "")
    supplied = request.headers.get(CSRF_HEADER, "")
    if not supplied and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get("csrf_token", "")
        supplied = value if isinstance(value, str) else ""
    return bool(expected) and secrets.compare_digest(expected.encode(), supplied.encode())


StaffHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_role(*roles: str) -> Callable[[StaffHandler], StaffHandler]:
    """Only logged-in users with one of `roles` (admins always) reach the handler; unsafe
    methods must also carry the session's CSRF token."""

    def decorate(handler: StaffHandler) -> StaffHandler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user: CurrentUser | None = request.get("user")
            if user is None:
                if _wants_html(request):
                    raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='/')}")
                raise web.HTTPUnauthorized(text="log in first", reason="Unauthorized")
            if roles and not user.has_role(*roles):
                raise web.HTTPForbidden(
                    text=f"this needs the role {' or '.join(roles)}", reason="Forbidden"
                )
            if request.method in UNSAFE_METHODS and not await _csrf_ok(request):
                raise web.HTTPForbidden(text="missing or wrong CSRF token", reason="Forbidden")
            return await handler(request)

        return guarded

    return decorate


def _safe_next(value: object) -> str:
    """Only a path on this site: no scheme, no host, no `//` or backslash tricks."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/staff"
    if "\\" in value or any(ord(ch) < 32 for ch in value) or len(value) > 2000:
        return "/staff"
    return value


def _login_form_ok(request: web.Request, supplied: object) -> bool:
    """A login form posted from another site is refused (login CSRF): the form's token must
    match the cookie the login page set, and a browser-sent Origin must be this host.
    (`Origin: null` is what browsers send under `Referrer-Policy: no-referrer`.)"""
    origin = request.headers.get("Origin")
    if origin not in (None, "null") and origin.split("://", 1)[-1] != request.host:
        return False
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not isinstance(supplied, str):
        return False
    return secrets.compare_digest(expected.encode(), supplied.encode())


def _render_login(
    request: web.Request, next_path: str, error: str | None, username: str, status: int = 200
) -> web.Response:
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not 20 <= len(token) <= 64:
        token = secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(
        "login.html",
        request,
        {"next": next_path, "error": error, "username": username, "login_token": token},
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.app[CONFIG].secure_cookie,
        path="/login",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def login_page(request: web.Request) -> web.Response:
    next_path = _safe_next(request.query.get("next", "/staff"))
    if request.get("user") is not None:
        raise web.HTTPSeeOther(next_path)
    return _render_login(request, next_path, None, "")


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    if not _login_form_ok(request, form.get("login_token")):
        raise web.HTTPForbidden(
            text="the login form expired or came from another site; reload the login page",
            reason="Forbidden",
        )
    username, password = form.get("username", ""), form.get("password", "")
    next_path = _safe_next(form.get("next", "/staff"))
    if (
        not isinstance(username, str)
        or not isinstance(password, str)
        or len(username) > MAX_LOGIN_FIELD
        or len(password) > MAX_LOGIN_FIELD
    ):
        raise web.HTTPBadRequest(text="username and password must be short text fields")
    config = request.app[CONFIG]
    async with config.db.transaction() as session:
        user = await service.authenticate(session, username, password)
        token = None
        if user is not None:
            token, _ = await service.start_session(session, user, config.session_lifetime)
    if user is None or token is None:
        log.info("accounts.login_failed", username=username[:64])
        return _render_login(request, next_path, "Wrong username or password.", username, 401)
    log.info("accounts.login", username=user.username)
    response = web.HTTPSeeOther(next_path)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(config.session_lifetime.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=config.secure_cookie,
        path="/",
    )
    raise response


@require_role()
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE, "")
    async with request.app[CONFIG].db.transaction() as session:
        await service.end_session(session, token)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


@require_role()
async def staff_home(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("staff_home.html", request, {})


@require_role()
async def session_info(request: web.Request) -> web.Response:
    """Who is logged in, and the CSRF token pages' scripts send with unsafe requests."""
    user: CurrentUser = request["user"]
    return web.json_response(
        {
            "username": user.username,
            "display_name": user.display_name,
            "roles": sorted(user.roles),
            "csrf_token": request["csrf_token"],
        },
        headers={"Cache-Control": "no-store"},
    )
