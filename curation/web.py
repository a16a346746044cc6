"""The knowledge admin pages under /admin/knowledge, for staff with the `content` role.

Server-rendered (Jinja2, autoescaped) forms: every change is a POST carrying the session's
CSRF token, answered with a redirect. Publishing and unpublishing swap the live content of
the running gateway before the redirect, so the next question is answered from it. Errors
are pages with a way back (`curation/errors.py`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from accounts import register_staff_page, require_role, setup_templates
from knowledge import ContentError, FaqEntry, LiveContent, repository
from knowledge.content import entry_to_dict, parse_entry
from knowledge.formats import lines_of, pairs_from_lines
from knowledge.lint import DEFAULT_CONFIG, LintConfig, lint
from knowledge.models import EntryStatus
from knowledge.repository import Conflict
from knowledge.unanswered import group_questions

from . import checks, transfer
from .checks import BETWEEN_ENTRIES, ContentLinter, current_entries
from .common import (
    CONFIG,
    PREFIX,
    ROLE,
    CurationConfig,
    author,
    config_of,
    query_field,
    read_form,
    render,
    text_field,
)
from .errors import error_pages

log = structlog.get_logger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MAX_SELECTED = 1000
UNANSWERED_SHOWN = 1000
DEFAULT_IMPORT_MAX_BYTES = 2 * 1024 * 1024

__all__ = ["CurationConfig", "setup_curation"]


def setup_curation(
    app: web.Application,
    live: LiveContent,
    *,
    lint_config: LintConfig = DEFAULT_CONFIG,
    group_threshold: float | None = None,
    import_max_bytes: int = DEFAULT_IMPORT_MAX_BYTES,
) -> None:
    """Mounts the pages; call after `accounts.setup_accounts`."""
    linter = ContentLinter(live.knowledge, lint_config)
    app[CONFIG] = CurationConfig(live, lint_config, group_threshold, import_max_bytes, linter)
    setup_templates(app, "curation")
    app.middlewares.append(error_pages)  # inside the session middleware: pages know the user
    app.cleanup_ctx.append(checks.linter_context)
    register_staff_page(
        app, "Knowledge", PREFIX, ROLE, description="FAQ answers and unanswered questions"
    )
    r = app.router
    r.add_get(PREFIX, entries_page)
    r.add_get(f"{PREFIX}/new", new_entry_page)
    r.add_post(f"{PREFIX}/new", create_entry)
    r.add_get(f"{PREFIX}/try", try_page)
    r.add_get(f"{PREFIX}/lint", checks.lint_page)
    r.add_get(f"{PREFIX}/import", transfer.transfer_page)
    r.add_post(f"{PREFIX}/import", transfer.import_upload)
    r.add_get(f"{PREFIX}/export", transfer.export_download)
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
        "id": slug if slug is not None else text_field(form, "id").strip(),
        "topic": text_field(form, "topic"),
        "question": text_field(form, "question"),
        "answer": text_field(form, "answer"),
        "phrasings": lines_of(text_field(form, "phrasings", 120_000)),
        "tags": [t.strip() for t in text_field(form, "tags").split(",") if t.strip()],
        "locale": text_field(form, "locale").strip() or "en",
        "links": pairs_from_lines(text_field(form, "links"), ("title", "url")),
        "buttons": pairs_from_lines(text_field(form, "buttons"), ("title", "payload")),
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
    search = query_field(request, "q")
    status_name = query_field(request, "status")
    topic = query_field(request, "topic")
    locale = query_field(request, "locale")
    statuses = [s.value for s in EntryStatus]
    status = EntryStatus(status_name) if status_name in statuses else None
    config = config_of(request)
    async with config.live.transaction() as session:
        entries = await repository.list_entries(
            session, search=search, status=status, topic=topic or None, locale=locale or None
        )
        topics = await repository.topics(session)
    report = config.linter.fresh(await current_entries(request))
    return render(
        request,
        "curation_entries.html",
        {
            "entries": entries,
            "topics": topics,
            "statuses": statuses,
            "filters": {"q": search, "status": status_name, "topic": topic, "locale": locale},
            "live_entries": len(config.live.knowledge),
            "report": report,
        },
    )


# ------------------------------------------------------------------ create and edit


@require_role(ROLE)
async def new_entry_page(request: web.Request) -> web.Response:
    values = dict.fromkeys(("id", "topic", "question", "answer", "phrasings", "tags", "links"), "")
    values |= {"locale": "en", "buttons": ""}
    return render(request, "curation_edit.html", {"values": values, "stored": None})


@require_role(ROLE)
async def create_entry(request: web.Request) -> web.Response:
    form = await read_form(request)
    values = _raw_values(form)
    try:
        entry = entry_from_form(form)
    except ContentError as exc:
        return await _render_edit(request, values, None, str(exc), 400)
    if form.get("action") == "preview":
        return await _render_edit(request, values, None, None, 200, preview=entry)
    try:
        async with config_of(request).live.transaction() as session:
            await repository.create_entry(session, entry, author(request))
    except Conflict as exc:
        return await _render_edit(request, values, None, str(exc), 409)
    log.info("knowledge.entry_created", entry=entry.id, author=author(request))
    raise _see_other(f"{PREFIX}/entries/{entry.id}?saved=1")


async def _stored(request: web.Request, slug: str) -> repository.StoredEntry:
    async with config_of(request).live.transaction() as session:
        return await repository.get_entry(session, slug)


async def _render_edit(
    request: web.Request,
    values: dict[str, str],
    stored: repository.StoredEntry | None,
    error: str | None,
    status: int,
    preview: FaqEntry | None = None,
) -> web.Response:
    """The editor; the preview shows the checks of the version shown, and (for a stored
    entry) the checks against the other entries from the last lint of the saved content."""
    config = config_of(request)
    findings = lint([preview], config.lint) if preview is not None else []
    between: list[Any] | None = []
    if stored is not None:
        report = config.linter.fresh(await current_entries(request))
        between = None
        if report is not None:
            between = [f for f in report.about(stored.entry.id) if f.check in BETWEEN_ENTRIES]
    context = {
        "values": values,
        "stored": stored,
        "error": error,
        "preview": preview,
        "findings": findings,
        "between": between,
        "saved": request.query.get("saved") == "1",
    }
    return render(request, "curation_edit.html", context, status)


@require_role(ROLE)
async def edit_page(request: web.Request) -> web.Response:
    stored = await _stored(request, _slug(request))
    return await _render_edit(
        request, form_values(stored.entry), stored, None, 200, preview=stored.entry
    )


@require_role(ROLE)
async def save_entry(request: web.Request) -> web.Response:
    slug = _slug(request)
    stored = await _stored(request, slug)
    form = await read_form(request)
    values = _raw_values(form) | {"id": slug}
    try:
        entry = entry_from_form(form, slug)
        expected = int(text_field(form, "version", 20))
    except ContentError as exc:
        return await _render_edit(request, values, stored, str(exc), 400)
    except ValueError:
        return await _render_edit(request, values, stored, "the form lost its version number", 400)
    if form.get("action") == "preview":
        return await _render_edit(request, values, stored, None, 200, preview=entry)
    if entry_to_dict(entry) == entry_to_dict(stored.entry):
        raise _see_other(f"{PREFIX}/entries/{slug}")
    try:
        async with config_of(request).live.transaction() as session:
            await repository.save_entry(session, entry, author(request), expected_version=expected)
    except Conflict as exc:
        return await _render_edit(request, values, stored, str(exc), 409, preview=entry)
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
    form = await read_form(request)
    change = _STATUS_CHANGES.get(text_field(form, "change", 20))
    if change is None:
        raise web.HTTPBadRequest(text="change must be publish, unpublish or archive")
    live = config_of(request).live
    async with live.transaction() as session:
        stored = await change(session, slug, author(request))
    await live.load()
    log.info("knowledge.status_changed", entry=slug, status=stored.status, author=author(request))
    raise _see_other(f"{PREFIX}/entries/{slug}")


@require_role(ROLE)
async def history_page(request: web.Request) -> web.Response:
    slug = _slug(request)
    stored = await _stored(request, slug)
    async with config_of(request).live.transaction() as session:
        versions = await repository.history(session, slug)
    return render(request, "curation_history.html", {"stored": stored, "versions": versions})


@require_role(ROLE)
async def restore_version(request: web.Request) -> web.Response:
    slug = _slug(request)
    form = await read_form(request)
    try:
        version = int(text_field(form, "version", 20))
    except ValueError:
        raise web.HTTPBadRequest(text="version must be a number") from None
    async with config_of(request).live.transaction() as session:
        await repository.restore(session, slug, version, author(request))
    raise _see_other(f"{PREFIX}/entries/{slug}?saved=1")


# ------------------------------------------------------------------ try a question


@require_role(ROLE)
async def try_page(request: web.Request) -> web.Response:
    question = query_field(request, "q")
    knowledge = config_of(request).live.knowledge
    answer = await asyncio.to_thread(knowledge.ask, question, 5) if question else None
    return render(
        request,
        "curation_try.html",
        {"question": question, "answer": answer, "thresholds": knowledge.thresholds},
    )


# ------------------------------------------------------------------ unanswered questions


@require_role(ROLE)
async def unanswered_page(request: web.Request) -> web.Response:
    config = config_of(request)
    async with config.live.transaction() as session:
        questions = await repository.open_unanswered(session, UNANSWERED_SHOWN)
        topics = await repository.topics(session)
    groups = await asyncio.to_thread(
        group_questions, questions, config.live.knowledge.embedder, config.group_threshold
    )
    return render(
        request,
        "curation_unanswered.html",
        {"groups": groups, "topics": topics, "total": len(questions)},
    )


def _ids(form: MultiDictProxy[Any]) -> list[int]:
    raw = text_field(form, "ids", 20_000)
    try:
        ids = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise web.HTTPBadRequest(text="ids must be numbers separated by commas") from None
    if not ids or len(ids) > MAX_SELECTED:
        raise web.HTTPBadRequest(text=f"select between 1 and {MAX_SELECTED} questions")
    return ids


@require_role(ROLE)
async def unanswered_to_entry(request: web.Request) -> web.Response:
    form = await read_form(request)
    ids = _ids(form)
    entry = parse_entry(
        {
            "id": text_field(form, "id").strip(),
            "topic": text_field(form, "topic"),
            "question": text_field(form, "question"),
            "answer": text_field(form, "answer"),
        },
        "entry",
    )
    async with config_of(request).live.transaction() as session:
        await repository.entry_from_unanswered(session, ids, entry, author(request))
    raise _see_other(f"{PREFIX}/entries/{entry.id}?saved=1")


@require_role(ROLE)
async def unanswered_to_phrasings(request: web.Request) -> web.Response:
    form = await read_form(request)
    ids = _ids(form)
    slug = text_field(form, "entry", 80).strip()
    async with config_of(request).live.transaction() as session:
        await repository.add_as_phrasings(session, ids, slug, author(request))
    raise _see_other(f"{PREFIX}/entries/{slug}?saved=1")


@require_role(ROLE)
async def unanswered_dismiss(request: web.Request) -> web.Response:
    form = await read_form(request)
    ids = _ids(form)
    async with config_of(request).live.transaction() as session:
        await repository.dismiss_unanswered(session, ids, author(request))
    raise _see_other(f"{PREFIX}/unanswered")
