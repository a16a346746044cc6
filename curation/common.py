"""What every knowledge admin page shares: its configuration, rendering, form fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from knowledge import LiveContent
from knowledge.lint import LintConfig

if TYPE_CHECKING:
    from .checks import ContentLinter

ROLE = "content"
PREFIX = "/admin/knowledge"
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class CurationConfig:
    live: LiveContent
    lint: LintConfig
    group_threshold: float | None
    import_max_bytes: int
    linter: ContentLinter


CONFIG = web.AppKey("curation_config", CurationConfig)


def config_of(request: web.Request) -> CurationConfig:
    return request.app[CONFIG]


def author(request: web.Request) -> str:
    return str(request["user"].username)


def render(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    response = aiohttp_jinja2.render_template(name, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form (read once, cached by aiohttp); a body that is not a well-formed form
    (broken multipart, text that is not UTF-8) is a 400, not a crash."""
    try:
        return await request.post()
    except web.HTTPException:
        raise
    except (ValueError, HttpProcessingError) as exc:
        raise web.HTTPBadRequest(text=f"the form could not be read: {exc}") from None


def text_field(form: MultiDictProxy[Any], name: str, limit: int = 20_000) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise web.HTTPBadRequest(text=f"{name} must be a text field")
    if len(value) > limit:
        raise web.HTTPBadRequest(text=f"{name} is longer than {limit} characters")
    return value


def query_field(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if len(value) > MAX_QUERY_CHARS:
        raise web.HTTPBadRequest(text=f"{name} is longer than {MAX_QUERY_CHARS} characters")
    return value.strip()


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MiB"
    return f"{size / 1024:g} KiB" if size >= 1024 else f"{size} bytes"
