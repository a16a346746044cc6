"""Lint on the admin pages: the list of findings, worst first, and each entry's findings
against the other entries in its editor; recomputed when the content changes."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from curation.common import CONFIG
from tests.curation.helpers import ADMIN, base, entry_form, error_page, get_page, post

STRAY = "How long does delivery take?"  # the question of the seed's `shipping-times`


def findings(page: str) -> list[tuple[str, str, str]]:
    """(entry, severity, check) of each row of the lint page."""
    return re.findall(
        r'<tr class="finding" data-entry="([^"]+)" data-severity="([^"]+)" data-check="([^"]+)"',
        page,
    )


async def settled(app: web.Application) -> None:
    """Waits for a lint started in the background by a page that only shows findings."""
    for _ in range(200):
        if not app[CONFIG].linter.running:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the background lint did not finish")


async def test_the_lint_page_lists_findings_worst_first(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    url = base(server)
    page = await get_page(http, f"{url}{ADMIN}/lint")
    rows = findings(page)
    assert "66 entries checked" in page
    severities = [s for _, s, _ in rows]
    assert severities == sorted(severities, key=["high", "medium", "low"].index)
    assert ("payment-security", "medium", "promise") in rows  # "never" in its answer

    form = entry_form(staff, phrasings=f"wedding registry\n{STRAY}")
    await post(http, f"{url}{ADMIN}/new", form)
    page = await get_page(http, f"{url}{ADMIN}/lint?severity=high")
    high = findings(page)
    assert ("gift-registry", "high", "confusable_phrasing") in high
    assert {s for _, s, _ in high} == {"high"}
    assert "is answered with &#39;shipping-times&#39;" in page
    assert "67 entries checked" in page

    page = await get_page(http, f"{url}{ADMIN}/lint?severity=urgent", 400)
    assert error_page(page)[1:] == (f"{ADMIN}/lint", "Back to the lint findings")


async def test_an_entry_shows_the_findings_against_other_entries(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    url = base(server)
    await post(http, f"{url}{ADMIN}/new", entry_form(staff, phrasings=STRAY))
    # The editor does not wait for a lint of the whole content: it starts one.
    page = await get_page(http, f"{url}{ADMIN}/entries/gift-registry")
    assert 'id="lint-pending"' in page
    await settled(app)
    page = await get_page(http, f"{url}{ADMIN}/entries/gift-registry")
    listed = re.search(r'<ul class="findings" id="between-findings">(.*?)</ul>', page, re.S)
    assert listed and "is answered with &#39;shipping-times&#39;" in listed.group(1)
    # The other side sees it too, with a link to the entry whose phrasing lands on it.
    page = await get_page(http, f"{url}{ADMIN}/entries/shipping-times")
    assert '<a href="/admin/knowledge/entries/gift-registry">gift-registry</a>:' in page
    page = await get_page(http, f"{url}{ADMIN}")
    assert re.search(r'id="lint-summary">Lint: [1-9]\d* high', page)

    # Fixed and saved, the finding is gone once the content is checked again.
    fixed = entry_form(staff, phrasings="", version="1")
    await post(http, f"{url}{ADMIN}/entries/gift-registry", fixed)
    await get_page(http, f"{url}{ADMIN}/entries/gift-registry")
    await settled(app)
    page = await get_page(http, f"{url}{ADMIN}/entries/gift-registry")
    assert 'id="between-findings-none"' in page
