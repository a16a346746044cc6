"""Content staff in headless Chromium: log in, write an entry whose question and answer carry
markup, preview it, publish it, try it, see it answered in the widget, and turn unanswered
questions into phrasings; no markup from content or customers ever runs."""

from __future__ import annotations

import asyncio
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


async def _record_hostile_question(database_url: str) -> None:
    db = Database(database_url.replace("sqlite:///", "sqlite+aiosqlite:///", 1))
    try:
        async with db.transaction() as session:
            await repository.record_unanswered(
                session, f"do you sell mugs in bulk {IMG}{SCRIPT}", "not_found", 0.1
            )
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
    in_thread(_record_hostile_question(gateway.env["DATABASE_URL"]))

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
