"""The knowledge admin pages under /admin/knowledge, for staff with the `content` role.

Server-rendered (Jinja2, autoescaped) forms: every change is a POST carrying the session's
CSRF token, answered with a redirect. Publishing and unpublishing swap the live content of
the running gateway before the redirect, so the next question is answered from it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import structlog
from aiohttp import web
from multidict import MultiDictProxy

from accounts import register_staff_page, require_role, setup_templates
from knowledge import ContentError, FaqEntry, LiveContent, repository
from knowledge.content import entry_to_dict, parse_entry
from knowledge.formats import lines_of, pairs_from_lines
from knowledge.lint import DEFAULT_CONFIG, LintConfig, lint
from knowledge.models import EntryStatus
from knowledge.repository import Conflict, NotFound
from knowledge.unanswered import group_questions

log = structlog.get_logger(__name__)

ROLE = "content"
PREFIX = "/admin/knowledge"
STATIC_DIR = Path(__file__).parent / "static"
MAX_QUERY_CHARS = 500
MAX_SELECTED = 1000
UNANSWERED_SHOWN = 1000


@dataclass(frozen=True)
class CurationConfig:
    live: LiveContent
    lint: LintConfig
    group_threshold: float | None


CONFIG = web.AppKey("curation_config", CurationConfig)


def setup_curation(
    app: web.Application,
    live: LiveContent,
    *,
    lint_config: LintConfig = DEFAULT_CONFIG,
    group_threshold: float | None = None,
) -> None:
    """Mounts the pages; call after `accounts.setup_accounts`."""
    app[CONFIG] = CurationConfig(live, lint_config, group_threshold)
    setup_templates(app, "curation")
    register_staff_page(
        app, "Knowledge", PREFIX, ROLE, description="FAQ answers and unanswered questions"
    )
    r = app.router
    r.add_get(PREFIX, entries_page)
    r.add_get(f"{PREFIX}/new", new_entry_page)
    r.add_post(f"{PREFIX}/new", create_entry)
    r.add_get(f"{PREFIX}/try", try_page)
    r.add_get(f"{PREFIX}/unanswered", unanswered_page)
    r.add_post(f"{PREFIX}/unanswered/new-entry", unanswered_to_entry)
    r.add_post(f"{PREFIX}/unanswered/add", unanswered_to_phrasings)
    r.add_post(f"{PREFIX}/unanswered/dismiss", unanswered_dismiss)
    r.add_get(PREFIX + "/entries/{slug}", edit_page)
    r.add_post(PREFIX + "/entries/{slug}", save_entry)
    r.add_post(PREFIX + "/entries/{slug}/status", change_status)
    r.add_get(PREFIX + "/entries/{slug}/history", history_page)
    r.add_post(PREFIX + "/entries/{slug}/restore", restore_version)
    r.add_static(f"{PREFIX}/static/", STATIC_DIR, follow_symlinks=False)


def _config(request: web.Request) -> CurationConfig:
    return request.app[CONFIG]


def _author(request: web.Request) -> str:
    return str(request["user"].username)


def _render(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    response = aiohttp_jinja2.render_template(name, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _text(form: MultiDictProxy[Any], name: str, limit: int = 20_000) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise web.HTTPBadRequest(text=f"{name} must be a text field")
    if len(value) > limit:
        raise web.HTTPBadRequest(text=f"{name} is longer than {limit} characters")
    return value


def _query(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if len(value) > MAX_QUERY_CHARS:
        raise web.HTTPBadRequest(text=f"{name} is longer than {MAX_QUERY_CHARS} characters")
    return value.strip()


def _slug(request: web.Request) -> str:
    slug = request.match_info["slug"]
    if len(slug) > 80:
        raise web.HTTPNotFound(text="no such entry")
    return slug


def _see_other(path: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(path)


def entry_from_form(form: MultiDictProxy[Any], slug: str | None = None) -> FaqEntry:
    """Validated like an imported entry; `ContentError` names the field."""
    raw = {
        "id": slug if slug is not None else _text(form, "id").strip(),
        "topic": _text(form, "topic"),
        "question": _text(form, "question"),
        "answer": _text(form, "answer"),
        "phrasings": lines_of(_text(form, "phrasings", 120_000)),
        "tags": [t.strip() for t in _text(form, "tags").split(",") if t.strip()],
        "locale": _text(form, "locale").strip() or "en",
        "links": pairs_from_lines(_text(form, "links"), ("title", "url")),
        "buttons": pairs_from_lines(_text(form, "buttons"), ("title", "payload")),
    }
    return parse_entry(raw, "entry")


def form_values(entry: FaqEntry) -> dict[str, str]:
    return {
        "id": entry.id,
        "topic": entry.topic,
        "question": entry.question,
        "answer": entry.answer,
        "phrasings": "\n".join(entry.phrasings),
        "tags": ", ".join(entry.tags),
        "locale": entry.locale,
        "links": "\n".join(f"{x.title} | {x.url}" for x in entry.links),
        "buttons": "\n".join(f"{b.title} | {b.payload}" for b in entry.buttons),
    }


def _raw_values(form: MultiDictProxy[Any]) -> dict[str, str]:
    names = ("id", "topic", "question", "answer", "phrasings", "tags", "locale", "links", "buttons")
    return {n: v if isinstance(v := form.get(n, ""), str) else "" for n in names}


# ------------------------------------------------------------------ list, search, filter


@require_role(ROLE)
async def entries_page(request: web.Request) -> web.Response:
    search = _query(request, "q")
    status_name = _query(request, "status")
    topic = _query(request, "topic")
    locale = _query(request, "locale")
    statuses = [s.value for s in EntryStatus]
    status = EntryStatus(status_name) if status_name in statuses else None
    async with _config(request).live.transaction() as session:
        entries = await repository.list_entries(
            session, search=search, status=status, topic=topic or None, locale=locale or None
        )
        topics = await repository.topics(session)
    return _render(
        request,
        "curation_entries.html",
        {
            "entries": entries,
            "topics": topics,
            "statuses": statuses,
            "filters": {"q": search, "status": status_name, "topic": topic, "locale": locale},
            "live_entries": len(_config(request).live.knowledge),
        },
    )


# ------------------------------------------------------------------ create and edit


@require_role(ROLE)
async def new_entry_page(request: web.Request) -> web.Response:
    values = dict.fromkeys(("id", "topic", "question", "answer", "phrasings", "tags", "links"), "")
    values |= {"locale": "en", "buttons": ""}
    return _render(request, "curation_edit.html", {"values": values, "stored": None})


@require_role(ROLE)
async def create_entry(request: web.Request) -> web.Response:
    form = await request.post()
    values = _raw_values(form)
    try:
        entry = entry_from_form(form)
    except ContentError as exc:
        return _render_edit(request, values, None, str(exc), 400)
    if form.get("action") == "preview":
        return _render_edit(request, values, None, None, 200, preview=entry)
    try:
        async with _config(request).live.transaction() as session:
            await repository.create_entry(session, entry, _author(request))
    except Conflict as exc:
        return _render_edit(request, values, None, str(exc), 409)
    log.info("knowledge.entry_created", entry=entry.id, author=_author(request))
    raise _see_other(f"{PREFIX}/entries/{entry.id}?saved=1")


async def _stored(request: web.Request, slug: str) -> repository.StoredEntry:
    try:
        async with _config(request).live.transaction() as session:
            return await repository.get_entry(session, slug)
    except NotFound:
        raise web.HTTPNotFound(text="no such entry") from None


def _render_edit(
    request: web.Request,
    values: dict[str, str],
    stored: repository.StoredEntry | None,
    error: str | None,
    status: int,
    preview: FaqEntry | None = None,
) -> web.Response:
    findings = []
    if preview is not None:
        findings = lint([preview], _config(request).lint)
    context = {
        "values": values,
        "stored": stored,
        "error": error,
        "preview": preview,
        "findings": findings,
        "saved": request.query.get("saved") == "1",
    }
    return _render(request, "curation_edit.html", context, status)


@require_role(ROLE)
async def edit_page(request: web.Request) -> web.Response:
    stored = await _stored(request, _slug(request))
    return _render_edit(request, form_values(stored.entry), stored, None, 200, preview=stored.entry)


@require_role(ROLE)
async def save_entry(request: web.Request) -> web.Response:
    slug = _slug(request)
    stored = await _stored(request, slug)
    form = await request.post()
    values = _raw_values(form) | {"id": slug}
    try:
        entry = entry_from_form(form, slug)
        expected = int(_text(form, "version", 20))
    except ContentError as exc:
        return _render_edit(request, values, stored, str(exc), 400)
    except ValueError:
        return _render_edit(request, values, stored, "the form lost its version number", 400)
    if form.get("action") == "preview":
        return _render_edit(request, values, stored, None, 200, preview=entry)
    if entry_to_dict(entry) == entry_to_dict(stored.entry):
        raise _see_other(f"{PREFIX}/entries/{slug}")
    try:
        async with _config(request).live.transaction() as session:
            await repository.save_entry(session, entry, _author(request), expected_version=expected)
    except Conflict as exc:
        return _render_edit(request, values, stored, str(exc), 409, preview=entry)
    raise _see_other(f"{PREFIX}/entries/{slug}?saved=1")


# ------------------------------------------------------------------ publish, history, restore

_STATUS_CHANGES = {
    "publish": repository.publish,
    "unpublish": repository.unpublish,
    "archive": repository.archive,
}


@require_role(ROLE)
async def change_status(request: web.Request) -> web.Response:
    slug = _slug(request)
    form = await request.post()
    change = _STATUS_CHANGES.get(_text(form, "change", 20))
    if change is None:
        raise web.HTTPBadRequest(text="change must be publish, unpublish or archive")
    live = _config(request).live
    try:
        async with live.transaction() as session:
            stored = await change(session, slug, _author(request))
    except NotFound:
        raise web.HTTPNotFound(text="no such entry") from None
    except ContentError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    await live.load()
    log.info("knowledge.status_changed", entry=slug, status=stored.status, author=_author(request))
    raise _see_other(f"{PREFIX}/entries/{slug}")


@require_role(ROLE)
async def history_page(request: web.Request) -> web.Response:
    slug = _slug(request)
    stored = await _stored(request, slug)
    async with _config(request).live.transaction() as session:
        versions = await repository.history(session, slug)
    return _render(request, "curation_history.html", {"stored": stored, "versions": versions})


@require_role(ROLE)
async def restore_version(request: web.Request) -> web.Response:
    slug = _slug(request)
    form = await request.post()
    try:
        version = int(_text(form, "version", 20))
    except ValueError:
        raise web.HTTPBadRequest(text="version must be a number") from None
    try:
        async with _config(request).live.transaction() as session:
            await repository.restore(session, slug, version, _author(request))
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    raise _see_other(f"{PREFIX}/entries/{slug}?saved=1")


# ------------------------------------------------------------------ try a question


@require_role(ROLE)
async def try_page(request: web.Request) -> web.Response:
    question = _query(request, "q")
    knowledge = _config(request).live.knowledge
    answer = await asyncio.to_thread(knowledge.ask, question, 5) if question else None
    return _render(
        request,
        "curation_try.html",
        {"question": question, "answer": answer, "thresholds": knowledge.thresholds},
    )


# ------------------------------------------------------------------ unanswered questions


@require_role(ROLE)
async def unanswered_page(request: web.Request) -> web.Response:
    config = _config(request)
    async with config.live.transaction() as session:
        questions = await repository.open_unanswered(session, UNANSWERED_SHOWN)
        topics = await repository.topics(session)
    groups = await asyncio.to_thread(
        group_questions, questions, config.live.knowledge.embedder, config.group_threshold
    )
    return _render(
        request,
        "curation_unanswered.html",
        {"groups": groups, "topics": topics, "total": len(questions)},
    )


def _ids(form: MultiDictProxy[Any]) -> list[int]:
    raw = _text(form, "ids", 20_000)
    try:
        ids = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise web.HTTPBadRequest(text="ids must be numbers separated by commas") from None
    if not ids or len(ids) > MAX_SELECTED:
        raise web.HTTPBadRequest(text=f"select between 1 and {MAX_SELECTED} questions")
    return ids


@require_role(ROLE)
async def unanswered_to_entry(request: web.Request) -> web.Response:
    form = await request.post()
    ids = _ids(form)
    try:
        entry = parse_entry(
            {
                "id": _text(form, "id").strip(),
                "topic": _text(form, "topic"),
                "question": _text(form, "question"),
                "answer": _text(form, "answer"),
            },
            "entry",
        )
        async with _config(request).live.transaction() as session:
            await repository.entry_from_unanswered(session, ids, entry, _author(request))
    except ContentError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except Conflict as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    raise _see_other(f"{PREFIX}/entries/{entry.id}?saved=1")


@require_role(ROLE)
async def unanswered_to_phrasings(request: web.Request) -> web.Response:
    form = await request.post()
    ids = _ids(form)
    slug = _text(form, "entry", 80).strip()
    try:
        async with _config(request).live.transaction() as session:
            await repository.add_as_phrasings(session, ids, slug, _author(request))
    except NotFound:
        raise web.HTTPNotFound(text=f"no entry '{slug}'") from None
    except ContentError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except Conflict as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    raise _see_other(f"{PREFIX}/entries/{slug}?saved=1")


@require_role(ROLE)
async def unanswered_dismiss(request: web.Request) -> web.Response:
    form = await request.post()
    ids = _ids(form)
    try:
        async with _config(request).live.transaction() as session:
            await repository.dismiss_unanswered(session, ids, _author(request))
    except Conflict as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    raise _see_other(f"{PREFIX}/unanswered")
