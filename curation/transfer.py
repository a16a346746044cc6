"""Import and export of FAQ files on the admin page: the formats and the all-or-nothing
transaction of `python -m knowledge import|export`.

An upload is read whole (up to `import_max_bytes`), decoded as UTF-8 and parsed before the
database is touched; a file with any error imports nothing and the page lists every error
with its line. New entries are drafts unless the file or the form says otherwise.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_request import FileField

from accounts import require_role
from knowledge import ContentError, repository
from knowledge.formats import FORMATS, decode, dump, format_of, parse_text
from knowledge.models import EntryStatus

from .common import (
    PREFIX,
    ROLE,
    author,
    config_of,
    human_size,
    query_field,
    read_form,
    render,
    text_field,
)

log = structlog.get_logger(__name__)

STATUSES = [s.value for s in EntryStatus]
FORM_SLACK_BYTES = 16 * 1024  # the form's other fields and the multipart framing
CONTENT_TYPES = {
    "csv": "text/csv",
    "yaml": "application/yaml",
    "json": "application/json",
}
EXTENSIONS = {"csv": "csv", "yaml": "yml", "json": "json"}
RESULT_FIELDS = ("created", "updated", "unchanged")


def _context(request: web.Request, **values: Any) -> dict[str, Any]:
    return {
        "formats": FORMATS,
        "statuses": STATUSES,
        "limit": human_size(config_of(request).import_max_bytes),
        "errors": [],
        "file_name": "",
        "result": None,
        **values,
    }


@require_role(ROLE)
async def transfer_page(request: web.Request) -> web.Response:
    result = None
    if "created" in request.query:
        try:
            result = {k: int(request.query.get(k, "0")) for k in RESULT_FIELDS}
        except ValueError:
            result = None
    return render(request, "curation_transfer.html", _context(request, result=result))


async def import_upload(request: web.Request) -> web.StreamResponse:
    """The app's body limit is for forms; an upload gets its own, larger one (read only for
    content staff: the role check comes before the body)."""
    limit = config_of(request).import_max_bytes
    upload = request.clone(client_max_size=limit + FORM_SLACK_BYTES)
    user = request.get("user")
    try:
        if user is not None and user.has_role(ROLE):
            await read_form(upload)
        return await _import(upload)
    except web.HTTPRequestEntityTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            limit, text=f"The file is larger than {human_size(limit)}: nothing was imported."
        ) from None


@require_role(ROLE)
async def _import(request: web.Request) -> web.Response:
    config = config_of(request)
    form = await read_form(request)
    upload = form.get("file")
    if not isinstance(upload, FileField) or not upload.filename:
        raise web.HTTPBadRequest(text="choose a CSV, YAML or JSON file to import")
    name = PurePosixPath(upload.filename.replace("\\", "/")).name[:200] or "upload"
    chosen = text_field(form, "format", 10).strip() or None
    default_status = text_field(form, "status", 20).strip() or EntryStatus.DRAFT.value
    if default_status not in STATUSES:
        raise web.HTTPBadRequest(text=f"status must be one of {', '.join(STATUSES)}")
    raw = upload.file.read(config.import_max_bytes + 1)
    if len(raw) > config.import_max_bytes:
        raise web.HTTPRequestEntityTooLarge(config.import_max_bytes)
    try:
        fmt = format_of(PurePosixPath(name), chosen)  # type: ignore[arg-type]
        rows = await asyncio.to_thread(lambda: parse_text(decode(raw, name), fmt, name))
        async with config.live.transaction() as session:
            result = await repository.import_entries(
                session,
                [(row.entry, row.status) for row in rows],
                author(request),
                default_status=EntryStatus(default_status),
            )
    except ContentError as exc:
        errors = str(exc).splitlines()
        log.info("knowledge.import_refused", file=name, errors=len(errors), author=author(request))
        return render(
            request,
            "curation_transfer.html",
            _context(request, errors=errors, file_name=name),
            status=400,
        )
    await config.live.refresh()
    log.info(
        "knowledge.imported",
        file=name,
        entries=len(rows),
        created=result.created,
        updated=result.updated,
        author=author(request),
    )
    raise web.HTTPSeeOther(
        f"{PREFIX}/import?created={result.created}&updated={result.updated}"
        f"&unchanged={result.unchanged}"
    )


@require_role(ROLE)
async def export_download(request: web.Request) -> web.Response:
    fmt = query_field(request, "format") or "yaml"
    status_name = query_field(request, "status")
    if fmt not in FORMATS:
        raise web.HTTPBadRequest(text=f"format must be one of {', '.join(FORMATS)}")
    if status_name and status_name not in STATUSES:
        raise web.HTTPBadRequest(text=f"status must be one of {', '.join(STATUSES)}")
    status = EntryStatus(status_name) if status_name else None
    async with config_of(request).live.transaction() as session:
        stored = await repository.list_entries(session, status=status, limit=10**9)
    text = dump([(s.entry, s.status.value) for s in stored], fmt)
    day = datetime.now(UTC).strftime("%Y%m%d")
    filename = f"faq-{status_name or 'all'}-{day}.{EXTENSIONS[fmt]}"
    log.info("knowledge.exported", entries=len(stored), format=fmt, author=author(request))
    return web.Response(
        text=text,
        content_type=CONTENT_TYPES[fmt],
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
