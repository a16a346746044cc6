"""The knowledge admin pages through the real gateway application over HTTP: roles and CSRF,
list and filter, edit with preview, publish to the live knowledge base, history and restore,
try a question, unanswered groups, and hostile or malformed input."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import keys
from knowledge import Decision, repository
from tests.accounts_helpers import login
from tests.curation.helpers import (
    ADMIN,
    HOSTILE,
    HTML,
    JSON,
    PASSWORD,
    base,
    entry_form,
    error_page,
    get_form_response,
    get_page,
    post,
)


async def test_only_content_staff_reach_the_pages(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = base(server)
    async with http.get(f"{url}{ADMIN}", headers=HTML, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == f"/login?next={ADMIN}"
    async with http.get(f"{url}{ADMIN}/try?q=x") as response:
        assert response.status == 401 and response.content_type == "text/html"
        assert error_page(await response.text())[1:] == (f"/login?next={ADMIN}", "Log in")
    async with http.get(f"{url}{ADMIN}/try?q=x", headers=JSON) as response:
        assert response.status == 401
        assert await response.json() == {"error": "unauthorized", "detail": "log in first"}
    await login(http, url, "ann", PASSWORD)
    page = await get_page(http, f"{url}{ADMIN}", 403)
    assert error_page(page) == (
        "this needs the role content",
        "/staff",
        "Back to the staff pages",
    )
    assert 'class="kb-nav"' not in page  # no links to pages the agent cannot open
    async with http.post(f"{url}{ADMIN}/new", data={"id": "x"}) as response:
        assert response.status == 403
        assert "this needs the role content" in await response.text()


async def test_changes_need_the_csrf_token(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    url = base(server)
    await post(http, f"{url}{ADMIN}/new", entry_form("forged"), 403)
    async with http.post(
        f"{url}{ADMIN}/entries/shipping-times/status", data={"change": "unpublish"}
    ) as response:
        assert response.status == 403
        page = await response.text()
    assert error_page(page) == (
        "missing or wrong CSRF token",
        f"{ADMIN}/entries/shipping-times",
        "Back to the entry",
    )
    assert "The form was out of date" in page
    async with app[keys.DATABASE].transaction() as session:
        assert (await repository.get_entry(session, "shipping-times")).status == "published"
        with pytest.raises(repository.NotFound):
            await repository.get_entry(session, "gift-registry")


async def test_list_search_and_filter(
    server: TestServer, http: aiohttp.ClientSession, staff: str
) -> None:
    url = base(server)
    page = await get_page(http, f"{url}{ADMIN}")
    assert page.count('class="entry"') == 66
    assert "66 entries are live" in page
    page = await get_page(http, f"{url}{ADMIN}?q=paypal")
    ids = set(re.findall(r'class="entry" data-id="([^"]+)"', page))
    assert "payment-methods" in ids and "shipping-times" not in ids
    page = await get_page(http, f"{url}{ADMIN}?topic=warranty&status=published")
    ids = set(re.findall(r'class="entry" data-id="([^"]+)"', page))
    assert ids and all(i.startswith(("warranty", "repairs", "proof")) for i in ids), ids
    page = await get_page(http, f"{url}{ADMIN}?status=draft")
    assert 'class="entry"' not in page
    page = await get_page(http, f"{url}{ADMIN}?q=%25_%5C")  # LIKE wildcards are literal
    assert 'class="entry"' not in page
    await get_page(http, f"{url}{ADMIN}?q={'x' * 501}", 400)


async def test_create_preview_publish_and_answer(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    url = base(server)
    kb = app[keys.KNOWLEDGE]
    preview = await get_form_response(
        http, f"{url}{ADMIN}/new", entry_form(staff, action="preview")
    )
    assert "Yes: create a wish list" in preview and 'id="save-button"' in preview
    await post(http, f"{url}{ADMIN}/new", entry_form(staff))
    page = await get_page(http, f"{url}{ADMIN}/entries/gift-registry")
    assert "draft" in page and "Wish lists: https://northwind.example/help/wish-lists" in page
    assert kb.get("gift-registry") is None  # a draft is not live

    await post(
        http,
        f"{url}{ADMIN}/entries/gift-registry/status",
        {"csrf_token": staff, "change": "publish"},
    )
    live = kb.get("gift-registry")
    assert live is not None and live.version == 2
    answer = kb.ask("Do you have a gift registry?")
    assert (
        answer.decision == Decision.ANSWER
        and answer.best
        and answer.best.entry.id == "gift-registry"
    )

    # An edit is saved as a new version but is not live until published again.
    edited = entry_form(staff, answer="Yes. Create a wish list under My account.", version="2")
    await post(http, f"{url}{ADMIN}/entries/gift-registry", edited)
    assert kb.get("gift-registry").answer.startswith("Yes: create")  # type: ignore[union-attr]
    page = await get_page(http, f"{url}{ADMIN}")
    assert "unpublished changes" in page
    await post(
        http,
        f"{url}{ADMIN}/entries/gift-registry/status",
        {"csrf_token": staff, "change": "publish"},
    )
    assert kb.get("gift-registry").answer.startswith("Yes. Create")  # type: ignore[union-attr]

    await post(
        http,
        f"{url}{ADMIN}/entries/gift-registry/status",
        {"csrf_token": staff, "change": "unpublish"},
    )
    assert kb.get("gift-registry") is None
    assert kb.ask("Do you have a gift registry?").best.entry.id != "gift-registry"  # type: ignore[union-attr]


async def test_history_and_restore(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    url = base(server)
    slug = "shipping-costs"
    page = await get_page(http, f"{url}{ADMIN}/entries/{slug}")
    original = re.search(r'<textarea id="f-answer"[^>]*>([^<]*)</textarea>', page)
    assert original
    form = entry_form(staff, answer="Shipping is EUR 5.", version="1", topic="shipping")
    await post(http, f"{url}{ADMIN}/entries/{slug}", form)
    # A stale form (version 1 again) is refused, not silently overwriting version 2.
    stale = await get_form_response(
        http, f"{url}{ADMIN}/entries/{slug}", form | {"answer": "Other"}, 409
    )
    assert "was changed by cora" in stale
    history = await get_page(http, f"{url}{ADMIN}/entries/{slug}/history")
    assert re.findall(r'data-version="(\d+)"', history) == ["2", "1"]
    assert "edited" in history and "seed" in history
    await post(http, f"{url}{ADMIN}/entries/{slug}/restore", {"csrf_token": staff, "version": "1"})
    async with app[keys.DATABASE].transaction() as session:
        stored = await repository.get_entry(session, slug)
        versions = await repository.history(session, slug)
    assert stored.version == 3 and versions[0].action == "restored v1"
    assert stored.entry.answer == versions[2].content["answer"]
    assert stored.entry.topic == "shipping"
    await post(
        http, f"{url}{ADMIN}/entries/{slug}/restore", {"csrf_token": staff, "version": "9"}, 404
    )
    await post(
        http, f"{url}{ADMIN}/entries/{slug}/restore", {"csrf_token": staff, "version": "x"}, 400
    )


async def test_try_a_question_shows_scores_and_decision(
    server: TestServer, http: aiohttp.ClientSession, staff: str
) -> None:
    url = base(server)
    page = await get_page(http, f"{url}{ADMIN}/try?q=How+long+does+delivery+take%3F")
    assert re.search(r'id="decision"[^>]*>answer<', page)
    assert re.search(
        r'class="score">[01]\.\d{3}</span>\s*<a href="/admin/knowledge/entries/shipping-times"',
        page,
    )
    page = await get_page(http, f"{url}{ADMIN}/try?q=zebra+quantum+xylophone")
    assert re.search(r'id="decision"[^>]*>not_found<', page)


async def test_malformed_and_hostile_forms_store_nothing(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    url = base(server)
    cases = {
        "id": ("Not A Slug", "lowercase slug"),
        "links": ("Click | javascript:alert(1)", "http(s) or mailto"),
        "buttons": ("no separator here", "is not &#39;title | payload&#39;"),
        "answer": ("x" * 5001, "longer than 5000"),
        "question": ("   ", "required"),
        "locale": ("<en>", "locale"),
    }
    for field, (value, message) in cases.items():
        page = await get_form_response(
            http, f"{url}{ADMIN}/new", entry_form(staff, **{field: value}), 400
        )
        assert message in page, (field, page[:300])
    await post(http, f"{url}{ADMIN}/new", entry_form(staff, phrasings="x\u0000y"), 400)
    async with http.post(
        f"{url}{ADMIN}/new", data=entry_form(staff, answer="x" * 70_000)
    ) as response:
        assert response.status == 413
        assert error_page(await response.text())[0] == "The form or file is larger than 64 KiB."
    page = await get_form_response(
        http,
        f"{url}{ADMIN}/entries/shipping-times/status",
        {"csrf_token": staff, "change": "drop"},
        400,
    )
    assert error_page(page)[1] == f"{ADMIN}/entries/shipping-times"
    page = await get_form_response(
        http,
        f"{url}{ADMIN}/entries/no-such/status",
        {"csrf_token": staff, "change": "publish"},
        404,
    )
    assert error_page(page) == ("no FAQ entry &#39;no-such&#39;", ADMIN, "Back to the FAQ entries")
    await get_page(http, f"{url}{ADMIN}/entries/{'a' * 200}", 404)
    page = await get_page(http, f"{url}{ADMIN}/no-such-page", 404)
    assert error_page(page)[0] == "There is no such page."
    async with app[keys.DATABASE].transaction() as session:
        assert await repository.count_entries(session) == 66

    hostile = entry_form(
        staff,
        id="hostile",
        question=f"Q {HOSTILE}",
        answer=f"A {HOSTILE}",
        phrasings=HOSTILE,
        tags=HOSTILE,
        topic=HOSTILE,
        buttons=f"{HOSTILE} | /x",
    )
    await post(http, f"{url}{ADMIN}/new", hostile)
    for path in ("", "/entries/hostile", "/entries/hostile/history"):
        page = await get_page(http, f"{url}{ADMIN}{path}")
        assert "<script>window" not in page and "<img src=x" not in page
        assert "&lt;script&gt;window.__owned=1&lt;/script&gt;" in page


async def test_unanswered_questions_become_an_entry_or_phrasings(
    server: TestServer, http: aiohttp.ClientSession, staff: str, app: web.Application
) -> None:
    url = base(server)
    db = app[keys.DATABASE]
    asked = [
        ("do you sell refurbished phones", "not_found"),
        ("Do you sell refurbished phones?", "not_found"),
        ("any refurbished phones for sale", "not_found"),
        ("can i pay in bitcoin?", "clarify"),
        ("can I pay with bitcoin", "not_found"),
        (f"hello {HOSTILE}", "not_found"),
    ]
    async with db.transaction() as session:
        for question, decision in asked:
            await repository.record_unanswered(session, question, decision, 0.1)
    page = await get_page(http, f"{url}{ADMIN}/unanswered")
    counts = [int(c) for c in re.findall(r'class="group" data-count="(\d+)"', page)]
    assert sorted(counts) == [1, 2, 3], counts
    assert "<script>window" not in page and "&lt;script&gt;" in page
    groups = re.findall(r'name="ids" value="([\d,]+)"', page)[::3]  # three forms per group
    phones = next(g for g in groups if len(g.split(",")) == 3)
    bitcoin = next(g for g in groups if len(g.split(",")) == 2)

    await post(
        http,
        f"{url}{ADMIN}/unanswered/new-entry",
        {
            "csrf_token": staff,
            "ids": phones,
            "id": "refurbished",
            "topic": "products",
            "question": "Do you sell refurbished phones?",
            "answer": "Not at the moment.",
        },
    )
    async with db.transaction() as session:
        created = await repository.get_entry(session, "refurbished")
        assert created.status == "draft"
        # The two wordings of the entry's own question are not repeated as phrasings.
        assert created.entry.phrasings == ("any refurbished phones for sale",)
    # The same group cannot be used twice: a page says so and leads back to the groups.
    stale = {"csrf_token": staff, "ids": phones, "entry": "payment-methods"}
    page = await get_form_response(http, f"{url}{ADMIN}/unanswered/add", stale, 409)
    assert error_page(page) == (
        "some of these questions were already handled or do not exist",
        f"{ADMIN}/unanswered",
        "Back to the unanswered questions",
    )
    assert "Someone else acted first" in page
    async with http.post(f"{url}{ADMIN}/unanswered/dismiss", data=stale, headers=JSON) as reply:
        assert reply.status == 409 and (await reply.json())["error"] == "conflict"
    page = await get_form_response(
        http,
        f"{url}{ADMIN}/unanswered/add",
        {"csrf_token": staff, "ids": "1,x", "entry": "payment-methods"},
        400,
    )
    assert error_page(page)[0] == "ids must be numbers separated by commas"
    page = await get_form_response(
        http,
        f"{url}{ADMIN}/unanswered/add",
        {"csrf_token": staff, "ids": bitcoin, "entry": "no-such-entry"},
        404,
    )
    assert error_page(page)[:2] == ("no FAQ entry &#39;no-such-entry&#39;", f"{ADMIN}/unanswered")
    await post(
        http,
        f"{url}{ADMIN}/unanswered/add",
        {"csrf_token": staff, "ids": bitcoin, "entry": "payment-methods"},
    )
    async with db.transaction() as session:
        payment = await repository.get_entry(session, "payment-methods")
        assert "can I pay with bitcoin" in payment.entry.phrasings
        assert payment.has_unpublished_changes
        [left] = await repository.open_unanswered(session)
    await post(http, f"{url}{ADMIN}/unanswered/dismiss", {"csrf_token": staff, "ids": str(left.id)})
    page = await get_page(http, f"{url}{ADMIN}/unanswered")
    assert "Nothing unanswered right now." in page
