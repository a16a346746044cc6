"""A customer in headless Chromium: the widget page, a question and its answer, quick
replies by keyboard, history after reload, and hostile text shown as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gateway.settings import Settings
from knowledge import load_entries
from tests.harness import GatewayProcess

SEED = {entry.id: entry for entry in load_entries(Settings().faq_seed_path)}

pytestmark = pytest.mark.browser


def open_chat(page: Page, gateway: GatewayProcess) -> None:
    page.goto(f"{gateway.url}/")
    page.wait_for_function("window.switchboardChat && window.switchboardChat.state() === 'online'")


def say(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.keyboard.press("Enter")


def test_customer_asks_a_question_and_reads_the_answer(
    page: Page, gateway: GatewayProcess, artifacts: Path
) -> None:
    entry = SEED["shipping-times"]
    open_chat(page, gateway)
    say(page, entry.question)
    answer = page.locator(".msg-out", has_text=entry.answer[:60])
    expect(answer).to_be_visible(timeout=30_000)
    expect(page.locator(".msg-in", has_text=entry.question)).to_be_visible()
    page.screenshot(path=str(artifacts / "widget-answer.png"), full_page=True)

    page.reload()
    page.wait_for_function("window.switchboardChat.state() === 'online'")
    expect(page.locator(".msg-out", has_text=entry.answer[:60])).to_be_visible(timeout=10_000)


def test_quick_replies_work_from_the_keyboard(
    page: Page, gateway: GatewayProcess, artifacts: Path
) -> None:
    open_chat(page, gateway)
    say(page, "what can you help me with?")
    first_button = page.locator(".quick-reply").first
    expect(first_button).to_be_visible(timeout=30_000)
    title = first_button.inner_text()
    first_button.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".msg-in", has_text=title)).to_be_visible(timeout=10_000)
    expect(page.locator(".msg-out")).to_have_count(2, timeout=30_000)
    page.screenshot(path=str(artifacts / "widget-quick-reply.png"), full_page=True)


def test_hostile_text_is_shown_as_text(page: Page, gateway: GatewayProcess) -> None:
    open_chat(page, gateway)
    hostile = '<img src=x onerror="window.__owned=1"><script>window.__owned=2</script>'
    say(page, hostile)
    expect(page.locator(".msg-in", has_text="<img src=x")).to_be_visible(timeout=10_000)
    expect(page.locator(".msg-out")).to_have_count(1, timeout=30_000)
    assert page.evaluate("window.__owned") is None
    assert page.locator("#chat-messages img[src='x'], #chat-messages script").count() == 0
