"""Errors on the knowledge admin pages answer with a page: what went wrong, and a way back.

A posted form is read here first, so a malformed body is a 400 like any other error.
Handlers let the content errors rise (`ContentError` 400, `Conflict` 409, `NotFound` 404), as
do the HTTP errors of the login check, the form limits and the router; this middleware turns
them into the page. A request that asks for JSON only (`Accept: application/json`) keeps
the gateway's JSON error body.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import aiohttp_jinja2
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from knowledge import ContentError
from knowledge.repository import Conflict, NotFound

from .common import PREFIX, ROLE, human_size, read_form

log = structlog.get_logger(__name__)

OWN_BODY_LIMIT = frozenset({f"{PREFIX}/import"})  # read by its handler, with a larger limit
_ENTRY_PATH = re.compile(re.escape(PREFIX) + r"/entries/([a-z0-9][a-z0-9-]{0,79})(?:/|$)")
_TITLES = {
    400: "This cannot be saved",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not possible here",
    409: "Changed in the meantime",
    413: "Too large",
}
_HINTS = {
    401: "Your session ended. Log in again, then repeat what you were doing.",
    409: "Someone else acted first. Open the page again to see the current state.",
}
_BODY_LIMIT = re.compile(r"^Maximum request body size (\d+) exceeded")
_CSRF_HINT = "The form was out of date. Open the page again and repeat what you were doing."
_DOMAIN_ERRORS: tuple[tuple[type[Exception], type[web.HTTPException]], ...] = (
    (NotFound, web.HTTPNotFound),
    (Conflict, web.HTTPConflict),
    (ContentError, web.HTTPBadRequest),
)


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    try:
        if request.method == "POST" and request.path not in OWN_BODY_LIMIT:
            await read_form(request)
        return await handler(request)
    except (NotFound, Conflict, ContentError) as exc:
        error = _as_http(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = exc
    if wants_json(request):
        raise error
    return _page(request, error)


def _as_http(exc: Exception) -> web.HTTPException:
    http = next(http for kind, http in _DOMAIN_ERRORS if isinstance(exc, kind))
    return http(text=str(exc))


def _message(error: web.HTTPException) -> str:
    text = error.text or ""
    limit = _BODY_LIMIT.search(text) if error.status == 413 else None
    if limit:
        return f"The form or file is larger than {human_size(int(limit.group(1)))}."
    if not text or text.startswith(f"{error.status}:"):
        return {404: "There is no such page."}.get(error.status, error.reason)
    return text


def _way_back(request: web.Request, status: int) -> tuple[str, str]:
    user = request.get("user")
    if status == 401 or user is None:
        return f"/login?next={quote(PREFIX, safe='/')}", "Log in"
    if status == 403 and not user.has_role(ROLE):
        return "/staff", "Back to the staff pages"
    path = request.path
    entry = _ENTRY_PATH.match(path)
    if entry and status != 404:
        return f"{PREFIX}/entries/{entry.group(1)}", "Back to the entry"
    for section, label in (
        ("/unanswered", "Back to the unanswered questions"),
        ("/import", "Back to import and export"),
        ("/export", "Back to import and export"),
        ("/lint", "Back to the lint findings"),
    ):
        if path.startswith(PREFIX + section):
            target = f"{PREFIX}/import" if section == "/export" else PREFIX + section
            return target, label
    return PREFIX, "Back to the FAQ entries"


def _page(request: web.Request, error: web.HTTPException) -> web.Response:
    status = error.status
    message = _message(error)
    hint = _HINTS.get(status, "")
    if status == 403 and "CSRF" in message:
        hint = _CSRF_HINT
    back, back_label = _way_back(request, status)
    user = request.get("user")
    log.info("knowledge.admin_error", path=request.path, status=status, detail=message[:200])
    response = aiohttp_jinja2.render_template(
        "curation_error.html",
        request,
        {
            "status": status,
            "title": _TITLES.get(status, error.reason),
            "message": message,
            "hint": hint,
            "back": back,
            "back_label": back_label,
            "show_nav": user is not None and user.has_role(ROLE),
        },
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
