"""Import and export on the admin page over real HTTP: the CLI's formats and all-or-nothing
import, errors listed with their lines, drafts by default; oversized, mistyped, non-UTF-8,
malformed, forged and hostile uploads change nothing."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import keys
from knowledge import repository
from knowledge.formats import parse_text
from tests.accounts_helpers import login
from tests.curation.helpers import (
    ADMIN,
    HOSTILE,
    HTML,
    PASSWORD,
    base,
    error_page,
    get_page,
    post,
)

LIMIT = 2 * 1024 * 1024
NEW_ENTRY = """\
entries:
  - id: gift-registry
    topic: store-policies
    question: Do you have a gift registry?
    phrasings: [wedding registry, birthday wish list]
    answer: Create a wish list in your account and share its link.
"""


def upload(
    csrf: str | None, content: bytes, filename: str = "faq.yml", **fields: str
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf_token", csrf)
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", content, filename=filename, content_type="application/octet-stream")
    return form


async def send(
    http: aiohttp.ClientSession, server: TestServer, data: aiohttp.FormData, status: int
) -> str:
    async with http.post(
        f"{base(server)}{ADMIN}/import", data=data, headers=HTML, allow_redirects=False
    ) as response:
        text = await response.text()
        assert response.status == status, text[:800]
        if status == 303:
            return response.headers["Location"]
        return text


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/staff/session") as response:
        return str((await response.json())["csrf_token"])


def listed_errors(page: str) -> list[str]:
    block = re.search(r'<ul id="import-errors">(.*?)</ul>', page, re.S)
    assert block, page[:800]
    return re.findall(r"<li>(.*?)</li>", block.group(1), re.S)


async def count(app: web.Application) -> int:
    async with app[keys.DATABASE].transaction() as session:
        return await repository.count_entries(session)


@pytest.mark.parametrize("fmt", ["csv", "yaml", "json"])
async def test_export_downloads_what_is_stored(
    server: TestServer, http: aiohttp.ClientSession, staff: str, fmt: str
) -> None:
    url = f"{base(server)}{ADMIN}/export?format={fmt}&status=published"
    async with http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Disposition"].startswith(
            'attachment; filename="faq-published-'
        )
        assert response.charset == "utf-8"
        text = await response.text()
    rows = parse_text(text, fmt, f"export.{fmt}")
    assert len(rows) == 66 and {r.status for r in rows} == {"published"}
    async with http.get(f"{base(server)}{ADMIN}/export?format={fmt}&status=draft") as response:
        assert response.status == 200
        assert "shipping-times" not in await response.text()  # no drafts in the seed


async def test_export_refuses_unknown_formats_and_statuses(
    server: TestServer, http: aiohttp.ClientSession, staff: str
) -> None:
    for query in ("format=xlsx", "format=csv&status=deleted", f"format={'x' * 600}"):
        page = await get_page(http, f"{base(server)}{ADMIN}/export?{query}", 400)
        assert error_page(page)[1:] == (f"{ADMIN}/import", "Back to import and export")


async def test_an_import_creates_drafts_and_new_versions(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    async with http.get(f"{base(server)}{ADMIN}/export?format=csv") as response:
        exported = await response.text()
    edited = exported.replace(
        "Orders usually leave our warehouse within 1 working day.",
        "Orders usually leave our warehouse the same day.",
    )
    assert edited != exported
    location = await send(http, server, upload(staff, edited.encode(), "faq.csv"), 303)
    assert location == f"{ADMIN}/import?created=0&updated=1&unchanged=65"
    page = await get_page(http, f"{base(server)}{location}")
    assert "Imported: 0 new, 1 changed, 65 unchanged." in page

    location = await send(http, server, upload(staff, NEW_ENTRY.encode()), 303)
    assert location.endswith("created=1&updated=0&unchanged=0")
    kb = app[keys.KNOWLEDGE]
    async with app[keys.DATABASE].transaction() as session:
        created = await repository.get_entry(session, "gift-registry")
        shipping = await repository.get_entry(session, "shipping-times")
    assert created.status == "draft" and created.updated_by == "cora"
    assert kb.get("gift-registry") is None  # a draft is not live
    # The export said `published`: the changed entry is published again, and live at once.
    assert shipping.status == "published" and not shipping.has_unpublished_changes
    live = kb.get("shipping-times")
    assert live is not None and live.answer.startswith("Orders usually leave our warehouse the")

    # Chosen on the form (or given by the file), new entries can be published at once.
    published = NEW_ENTRY.replace("gift-registry", "bulk-orders")
    await send(http, server, upload(staff, published.encode(), status="published"), 303)
    assert kb.get("bulk-orders") is not None


async def test_a_file_with_errors_imports_nothing_and_lists_them(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    bad = (
        "id,topic,question,answer\n"
        "fine,t,Fine?,Yes.\n"
        "Not A Slug,t,Q?,A.\n"
        "empty,t,Q?,\n"
        "fine,t,Again?,A.\n"
    )
    page = await send(http, server, upload(staff, bad.encode(), "faq.csv"), 400)
    assert listed_errors(page) == [
        "faq.csv line 3: entry: id &#39;Not A Slug&#39; must be a lowercase slug",
        "faq.csv line 4: entry: &#39;answer&#39; is required and must be a non-empty string",
        "faq.csv line 5: duplicate id &#39;fine&#39; (first on line 2)",
    ]
    assert "Nothing was imported from faq.csv" in page
    json_file = json.dumps({"entries": [{"id": "x", "topic": "t"}]}, indent=2)
    page = await send(http, server, upload(staff, json_file.encode(), "faq.json"), 400)
    assert listed_errors(page) == [
        "faq.json line 3: entry: &#39;question&#39; is required and must be a non-empty string"
    ]
    page = await send(http, server, upload(staff, b"entries: [\n  {id: x\n", "faq.yaml"), 400)
    assert re.search(r"<li>faq\.yaml line \d+: ", page)
    async with app[keys.DATABASE].transaction() as session:
        with pytest.raises(repository.NotFound):
            await repository.get_entry(session, "fine")
    assert await count(app) == 66


async def test_hostile_uploads_are_refused_whole(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    cases = [
        (upload(staff, NEW_ENTRY.encode(), "faq.pdf"), "faq.pdf: unknown format &#39;pdf&#39;"),
        (upload(staff, b"\x89PNG\r\n\x1a\n\x00\x00", "faq.csv"), "faq.csv line 1: not valid"),
        (
            upload(staff, NEW_ENTRY.encode().replace(b"wish list", b"wish \xff list"), "f.yml"),
            "f.yml line 5: not valid UTF-8",
        ),
        (upload(staff, b"", "faq.csv"), "faq.csv: empty file"),
        (upload(staff, b"just: a mapping\n", "faq.yml"), "expected a list of entries"),
    ]
    for data, message in cases:
        page = await send(http, server, data, 400)
        assert any(message in e for e in listed_errors(page)), (message, page[:600])
    # The file name as a browser sends it, not percent-encoded as aiohttp's client would.
    raw = (
        f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{staff}\r\n'
        '--b\r\nContent-Disposition: form-data; name="file"; '
        'filename="<img src=x onerror=alert(1)>.txt"\r\n\r\nx\r\n--b--\r\n'
    )
    async with http.post(
        f"{base(server)}{ADMIN}/import",
        data=raw.encode(),
        headers={**HTML, "Content-Type": "multipart/form-data; boundary=b"},
    ) as response:
        assert response.status == 400
        page = await response.text()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.txt: unknown format" in page

    form = aiohttp.FormData({"csrf_token": staff, "file": "not a file"})
    assert "choose a CSV, YAML or JSON file" in await send(http, server, form, 400)
    async with http.post(
        f"{base(server)}{ADMIN}/import",
        data=b"--xyz\r\ngarbage",
        headers={**HTML, "Content-Type": "multipart/form-data; boundary=xyz"},
    ) as response:
        assert response.status == 400
        assert error_page(await response.text())[0].startswith("the form could not be read")
    assert await count(app) == 66


async def test_oversized_uploads_are_refused_with_the_limit(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    message = "The file is larger than 2 MiB: nothing was imported."
    padding = b"# " + b"x" * (LIMIT - len(NEW_ENTRY)) + b"\n"
    just_over = padding + NEW_ENTRY.encode()  # the file alone is one line too long
    assert LIMIT < len(just_over) < LIMIT + 4096
    page = await send(http, server, upload(staff, just_over), 413)
    assert error_page(page) == (message, f"{ADMIN}/import", "Back to import and export")
    far_over = padding * 3
    page = await send(http, server, upload(staff, far_over), 413)
    assert error_page(page)[0] == message
    # Up to the limit the file is read (and this one, a comment and one entry, imported).
    fits = b"#" * (LIMIT - len(NEW_ENTRY) - 1) + b"\n" + NEW_ENTRY.encode()
    assert len(fits) == LIMIT
    await send(http, server, upload(staff, fits), 303)
    assert await count(app) == 67


async def test_imports_need_the_role_and_the_csrf_token(
    server: TestServer, http: aiohttp.ClientSession, app: web.Application
) -> None:
    url = base(server)
    page = await send(http, server, upload(None, NEW_ENTRY.encode()), 401)
    assert error_page(page)[2] == "Log in"
    await login(http, url, "ann", PASSWORD)
    page = await send(http, server, upload("whatever", NEW_ENTRY.encode()), 403)
    assert error_page(page)[0] == "this needs the role content"
    await get_page(http, f"{url}{ADMIN}/export?format=csv", 403)
    await get_page(http, f"{url}{ADMIN}/import", 403)

    await post(http, f"{url}/logout", {"csrf_token": await csrf_of(http, url)})
    await login(http, url, "cora", PASSWORD)
    page = await send(http, server, upload(None, NEW_ENTRY.encode()), 403)
    assert error_page(page)[0] == "missing or wrong CSRF token"
    page = await send(http, server, upload("forged", NEW_ENTRY.encode()), 403)
    assert error_page(page)[0] == "missing or wrong CSRF token"
    assert await count(app) == 66


async def test_markup_in_an_imported_file_is_shown_as_text(
    server: TestServer, http: aiohttp.ClientSession, staff: str
) -> None:
    hostile = json.dumps(
        {
            "entries": [
                {
                    "id": "hostile",
                    "topic": HOSTILE,
                    "question": f"Q {HOSTILE}",
                    "phrasings": [HOSTILE],
                    "answer": f"A {HOSTILE}",
                    "tags": [HOSTILE],
                    "buttons": [{"title": HOSTILE, "payload": "/x"}],
                }
            ]
        }
    )
    await send(http, server, upload(staff, hostile.encode(), "faq.json"), 303)
    for path in ("", "/entries/hostile", "/entries/hostile/history", "/lint"):
        page = await get_page(http, f"{base(server)}{ADMIN}{path}")
        assert "<script>window" not in page and "<img src=x" not in page
        if path != "/lint":
            assert "&lt;script&gt;window.__owned=1&lt;/script&gt;" in page, path
    async with http.get(f"{base(server)}{ADMIN}/export?format=json&status=draft") as response:
        [entry] = json.loads(await response.text())["entries"]
    assert entry["question"] == f"Q {HOSTILE}"  # exported as it was written
