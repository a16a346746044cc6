"""Content staff in headless Chromium: log in, write an entry whose question and answer carry
markup, preview it, publish it, try it, see it answered in the widget; turn unanswered
questions into a new entry, into phrasings, or dismiss them, and meet an error page with a
way back when a group was already handled; import and export files, read the lint findings.
No markup from content, files or customers ever runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect

from gateway.db import Database
from gateway.settings import PROJECT_ROOT
from knowledge import repository
from tests.e2e.conftest import query, rest
from tests.harness import GatewayProcess

# The first test of a run starts Rasa and the gateway (minutes on a busy machine).
T = TypeVar("T")
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
PASSWORD = "content staff password"
SCRIPT = "<script>window.__owned=1</script>"
IMG = '<img src=x onerror="window.__owned=2">'
QUESTION = f"Can I engrave {SCRIPT} a name on a mug {IMG}?"
ANSWER = f"Yes {IMG}: engraving costs EUR 5 {SCRIPT} per item."
STUDENT_ANSWER = f"Students get 10% off {SCRIPT}{IMG} after verifying their status."


def create_content_user(gateway: GatewayProcess, username: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "accounts",
            "create-user",
            username,
            "--role",
            "content",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=gateway.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def log_in(page: Page, gateway: GatewayProcess, username: str) -> None:
    page.goto(f"{gateway.url}/admin/knowledge")
    expect(page).to_have_url(f"{gateway.url}/login?next=/admin/knowledge")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{gateway.url}/admin/knowledge")


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Playwright's sync API runs an event loop in this thread: run the coroutine in another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def assert_nothing_ran(page: Page) -> None:
    assert page.evaluate("window.__owned") is None
    assert page.locator("main img[src='x'], main script").count() == 0


def test_content_staff_write_publish_and_try_an_entry(
    page: Page, gateway: GatewayProcess, artifacts: Path
) -> None:
    create_content_user(gateway, "cora.content")
    log_in(page, gateway, "cora.content")
    expect(page.locator("tr.entry")).to_have_count(66)
    page.fill("input[name=q]", "parcel")
    page.click("text=Filter")
    expect(page.locator("tr.entry").first).to_be_visible()
    page.screenshot(path=str(artifacts / "knowledge-list.png"), full_page=True)

    page.click("nav.kb-nav >> text=New entry")
    page.fill("#f-id", "engraving")
    page.fill("#f-question", QUESTION)
    page.fill("#f-answer", ANSWER)
    expect(page.locator("#live-answer")).to_have_text(ANSWER)  # the live preview is text
    page.fill("#f-phrasings", f"do you do engraving\npersonalised mugs {IMG}")
    page.fill("#f-topic", "products")
    page.fill("#f-links", "Engraving | https://northwind.example/help/engraving")
    page.click("#preview-button")
    expect(page.locator("#preview-answer")).to_contain_text(ANSWER)
    assert_nothing_ran(page)
    page.click("#save-button")
    expect(page.locator(".notice")).to_have_text("Saved.")
    expect(page.locator("h1")).to_have_text(QUESTION)
    page.click("#publish-button")
    expect(page.locator(".state .status")).to_have_text("published")
    assert_nothing_ran(page)
    page.screenshot(path=str(artifacts / "knowledge-edit.png"), full_page=True)

    page.click("nav.kb-nav >> text=Try a question")
    page.fill("#q", QUESTION)
    page.click("text=Ask")
    expect(page.locator("#decision")).to_have_text("answer")
    expect(page.locator(".match").first).to_contain_text(QUESTION)
    expect(page.locator(".match .bubble-out")).to_have_text(ANSWER)
    assert_nothing_ran(page)
    page.screenshot(path=str(artifacts / "knowledge-try.png"), full_page=True)

    page.locator(".match a").first.click()
    page.click("text=History")
    expect(page.locator("tr.version")).to_have_count(2)
    assert_nothing_ran(page)

    # An edited, republished answer reaches the customer in the widget, as text.
    page.goto(f"{gateway.url}/admin/knowledge/entries/student-discount")
    page.fill("#f-answer", STUDENT_ANSWER)
    page.click("#save-button")
    expect(page.locator(".badge")).to_have_text("unpublished changes")
    page.click("#publish-button")
    expect(page.locator(".badge")).to_have_count(0)
    page.goto(f"{gateway.url}/")
    page.wait_for_function("window.switchboardChat && window.switchboardChat.state() === 'online'")
    page.fill("#chat-input", "do you have a student discount")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-out", has_text="Students get 10% off")).to_be_visible(timeout=60_000)
    expect(page.locator(".msg-out", has_text=SCRIPT)).to_be_visible()
    assert page.evaluate("window.__owned") is None
    assert page.locator("#chat-messages img[src='x'], #chat-messages script").count() == 0
    page.screenshot(path=str(artifacts / "knowledge-widget-answer.png"), full_page=True)


async def _record_questions(database_url: str, *questions: str) -> None:
    db = Database(database_url.replace("sqlite:///", "sqlite+aiosqlite:///", 1))
    try:
        async with db.transaction() as session:
            for question in questions:
                await repository.record_unanswered(session, question, "not_found", 0.1)
    finally:
        await db.dispose()


def test_unanswered_questions_are_shown_as_text_and_become_phrasings(
    page: Page, gateway: GatewayProcess, artifacts: Path
) -> None:
    # Shop questions the content has no answer for: Rasa sends those it reads as FAQ
    # questions to the FAQ action, which keeps the ones it cannot answer.
    asked = [
        "do you sell refurbished phones?",
        "can i pay with bitcoin",
        "do you have a discount for teachers",
        "how do i check my loyalty card balance",
        "is shipping free to the moon",
    ]
    for text in asked:
        in_thread(rest(gateway, f"unanswered-{time.monotonic_ns()}", text))
    recorded = query(gateway, "SELECT question, decision FROM faq_unanswered")
    assert {q for q, _ in recorded} & set(asked), recorded
    assert {d for _, d in recorded} <= {"not_found", "clarify"}
    hampers = "do you sell christmas hampers"
    monopoly = "can i pay with monopoly money"
    in_thread(
        _record_questions(
            gateway.env["DATABASE_URL"],
            f"do you sell mugs in bulk {IMG}{SCRIPT}",
            hampers,
            hampers,
            monopoly,
        )
    )

    create_content_user(gateway, "cleo.content")
    log_in(page, gateway, "cleo.content")
    page.click("nav.kb-nav >> text=Unanswered questions")
    hostile = page.locator("section.group", has_text="do you sell mugs in bulk")
    expect(hostile.locator(".label")).to_have_text(f"do you sell mugs in bulk {IMG}{SCRIPT}")
    assert_nothing_ran(page)
    page.screenshot(path=str(artifacts / "knowledge-unanswered.png"), full_page=True)

    hostile.locator("form.to-phrasings input[name=entry]").fill("business-orders")
    hostile.locator("form.to-phrasings button").click()
    expect(page.locator(".notice")).to_have_text("Saved.")
    expect(page.locator("#f-phrasings")).to_contain_text(f"do you sell mugs in bulk {IMG}")
    expect(page.locator(".badge")).to_have_text("unpublished changes")
    assert_nothing_ran(page)
    page.click("nav.kb-nav >> text=Unanswered questions")
    expect(page.locator("section.group", has_text="do you sell mugs in bulk")).to_have_count(0)

    # A group becomes a new draft entry; its questions are the entry's phrasings.
    group = page.locator("section.group", has_text=hampers)
    expect(group).to_have_attribute("data-count", "2")
    form = group.locator("form.to-entry")
    form.locator("input[name=id]").fill("christmas-hampers")
    form.locator("input[name=topic]").fill("products")
    form.locator("input[name=question]").fill("Christmas hampers?")
    form.locator("textarea[name=answer]").fill(f"Not yet {SCRIPT}: we sell gift cards.")
    form.locator("button").click()
    expect(page.locator(".notice")).to_have_text("Saved.")
    expect(page.locator(".state .status")).to_have_text("draft")
    expect(page.locator("#f-phrasings")).to_have_value(hampers)
    assert_nothing_ran(page)

    # Another tab still shows the monopoly group; this one dismisses it.
    other = page.context.new_page()
    other.goto(f"{gateway.url}/admin/knowledge/unanswered")
    page.click("nav.kb-nav >> text=Unanswered questions")
    page.locator("section.group", has_text=monopoly).locator("form.dismiss button").click()
    expect(page.locator("section.group", has_text=monopoly)).to_have_count(0)
    # Acting on the stale group gets a page, not JSON, and a way back.
    other.locator("section.group", has_text=monopoly).locator("form.dismiss button").click()
    expect(other.locator("h1")).to_have_text("Changed in the meantime")
    expect(other.locator("#error-message")).to_have_text(
        "some of these questions were already handled or do not exist"
    )
    other.screenshot(path=str(artifacts / "knowledge-stale-group.png"), full_page=True)
    other.click("#way-back")
    expect(other).to_have_url(f"{gateway.url}/admin/knowledge/unanswered")
    expect(other.locator("section.group", has_text=monopoly)).to_have_count(0)
    other.close()


BAD_CSV = "id,topic,question,answer\nfine,t,Fine?,Yes.\nNot A Slug,t,Q?,A.\n"
HOSTILE_YAML = f"""\
entries:
  - id: hostile-import
    topic: products
    question: 'Imported {SCRIPT} question {IMG}'
    phrasings: ['imported {IMG} phrasing']
    answer: 'Imported {SCRIPT} answer.'
"""


def test_content_staff_import_export_and_read_the_lint(
    page: Page, gateway: GatewayProcess, artifacts: Path
) -> None:
    create_content_user(gateway, "ines.content")
    log_in(page, gateway, "ines.content")
    page.click("nav.kb-nav >> text=Import and export")
    page.set_input_files(
        "#import-file", {"name": "faq.csv", "mimeType": "text/csv", "buffer": BAD_CSV.encode()}
    )
    page.click("#import-button")
    expect(page.locator("#import-errors li")).to_have_text(
        ["faq.csv line 3: entry: id 'Not A Slug' must be a lowercase slug"]
    )
    page.screenshot(path=str(artifacts / "knowledge-import-errors.png"), full_page=True)

    page.set_input_files(
        "#import-file",
        {"name": "faq.yml", "mimeType": "application/yaml", "buffer": HOSTILE_YAML.encode()},
    )
    page.click("#import-button")
    expect(page.locator("#import-result")).to_have_text("Imported: 1 new, 0 changed, 0 unchanged.")
    page.goto(f"{gateway.url}/admin/knowledge/entries/hostile-import")
    expect(page.locator("h1")).to_have_text(f"Imported {SCRIPT} question {IMG}")
    expect(page.locator(".state .status")).to_have_text("draft")
    assert_nothing_ran(page)

    page.click("nav.kb-nav >> text=Import and export")
    page.select_option("#export-form select[name=format]", "json")
    page.select_option("#export-form select[name=status]", "draft")
    with page.expect_download() as download:
        page.click("#export-button")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert download.value.suggested_filename.startswith("faq-draft-")
    assert "hostile-import" in {e["id"] for e in exported["entries"]}
    assert {e["status"] for e in exported["entries"]} == {"draft"}

    page.click("nav.kb-nav >> text=Lint")
    expect(page.locator("h1")).to_have_text("Lint findings", timeout=120_000)
    rows = page.locator("tr.finding")
    expect(rows.first).to_be_visible()
    severities = [rows.nth(i).get_attribute("data-severity") for i in range(rows.count())]
    order = ["high", "medium", "low"]
    assert severities == sorted(severities, key=lambda s: order.index(s or "low"))
    assert_nothing_ran(page)
    page.screenshot(path=str(artifacts / "knowledge-lint.png"), full_page=True)
