"""An agent's day in headless Chromium: log in, go online, take the conversation a
customer's widget handed over, read the context (hostile markup shown as text), reply
(the customer sees it in the widget), add a note, use a canned answer, resolve (the
customer answers the CSAT question), then take another and hand it back to the bot,
which answers again. A supervisor sees the queues and the service level."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.settings import PROJECT_ROOT
from tests.e2e.conftest import response_texts
from tests.harness import GatewayProcess, free_port, gateway_env

pytestmark = pytest.mark.browser
PASSWORD = "agent day password"
HOSTILE = '<img src=x onerror="window.__owned=1"><script>window.__owned=2</script>'


def staff(gateway: GatewayProcess, role: str, name: str) -> str:
    """Created with the CLI (Playwright's sync API runs its own event loop here)."""
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    command = ["create-user", username, "--role", role, "--display-name", name, "--password-stdin"]
    created = subprocess.run(
        [sys.executable, "-m", "accounts", *command],
        input=PASSWORD + "\n",
        env=gateway.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    return username


def log_in(page: Page, gateway: GatewayProcess, username: str, path: str) -> None:
    page.goto(f"{gateway.url}{path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{gateway.url}{path}")


def customer_asks_for_a_person(browser: Browser, gateway: GatewayProcess) -> Page:
    customer = browser.new_context(viewport={"width": 600, "height": 800}).new_page()
    customer.goto(f"{gateway.url}/")
    customer.wait_for_function(
        "window.switchboardChat && window.switchboardChat.state() === 'online'"
    )
    customer.fill("#chat-input", "I want to talk to a human")
    customer.keyboard.press("Enter")
    expect(
        customer.locator(".msg-out", has_text="passing you to a member of our team")
    ).to_be_visible(timeout=30_000)
    return customer


def say(customer: Page, text: str) -> None:
    customer.fill("#chat-input", text)
    customer.keyboard.press("Enter")


def take_the_conversation(page: Page, marker: str) -> None:
    """Online, then open the conversation whose transcript shows `marker` (other tests'
    customers may be waiting too; the desk may assign before "take next" does)."""
    page.select_option("#agent-state", "online")
    transcript = page.locator("#transcript")
    for _ in range(30):
        for button in page.locator("#mine button").all():
            button.click()
            try:
                expect(transcript).to_contain_text(marker, timeout=2_000)
                return
            except AssertionError:
                continue
        page.click("#take-next")
        page.wait_for_timeout(500)
    raise AssertionError(f"no conversation showing {marker!r} reached this agent")


def test_an_agents_day(
    page: Page, browser: Browser, gateway: GatewayProcess, artifacts: Path
) -> None:
    agent = staff(gateway, "agent", "Robin")
    supervisor = staff(gateway, "supervisor", "Sasha")
    customer = customer_asks_for_a_person(browser, gateway)
    say(customer, HOSTILE)
    expect(customer.locator(".msg-in", has_text="<img src=x")).to_be_visible(timeout=10_000)

    log_in(page, gateway, agent, "/console")
    expect(page.locator("body[data-live=yes]")).to_be_attached(timeout=10_000)
    take_the_conversation(page, "<img src=x")
    transcript = page.locator("#transcript")
    expect(transcript.locator("li.customer", has_text="<img src=x")).to_be_visible(timeout=10_000)
    expect(transcript.locator("li.customer", has_text="human_handoff")).to_be_visible()
    # each message shows its channel; the reply goes where the customer wrote
    expect(transcript.locator("li.customer[data-channel=webchat] .meta").first).to_contain_text(
        "customer · webchat"
    )
    expect(page.locator("#reply-channel option:checked")).to_contain_text("webchat")
    expect(page.locator("#context")).to_contain_text("customer request")
    assert page.evaluate("window.__owned") is None
    assert page.locator("#transcript img, #transcript script").count() == 0
    page.screenshot(path=str(artifacts / "console-context.png"), full_page=True)

    page.fill("#reply-text", "Hello, I'm Robin. Let me look at this for you.")
    page.click("#reply-send")
    expect(customer.locator(".msg-out", has_text="I'm Robin")).to_be_visible(timeout=15_000)
    say(customer, "thank you Robin")
    expect(transcript.locator("li.customer", has_text="thank you Robin")).to_be_visible(
        timeout=10_000
    )

    page.fill("#note-text", "Customer pasted markup; nothing else needed.")
    page.click("#note-add")
    expect(page.locator("#notes")).to_contain_text("Customer pasted markup", timeout=10_000)
    page.fill("#canned-q", "how long does shipping take")
    page.click("#canned-form button[type=submit]")
    use = page.locator("#canned-results button", has_text="Use").first
    expect(use).to_be_visible(timeout=10_000)
    use.click()
    assert page.input_value("#reply-text")
    page.click("#reply-send")
    expect(page.locator("#action-result")).to_have_text("Sent on webchat.", timeout=10_000)
    page.screenshot(path=str(artifacts / "console-reply.png"), full_page=True)

    page.select_option("#disposition", "solved")
    page.click("#resolve")
    expect(page.locator("#action-result")).to_have_text("Resolved.", timeout=10_000)
    expect(customer.locator(".msg-out", has_text="How did we do today?")).to_be_visible(
        timeout=15_000
    )
    customer.locator(".quick-reply", has_text="5").click()
    expect(customer.locator(".msg-out", has_text="Thank you for telling us.")).to_be_visible(
        timeout=15_000
    )
    customer.screenshot(path=str(artifacts / "console-customer-csat.png"), full_page=True)

    # A second customer: taken, then handed back to the bot, which answers again.
    second = customer_asks_for_a_person(browser, gateway)
    marker = f"my order {uuid.uuid4().hex[:8]}"
    say(second, marker)
    take_the_conversation(page, marker)
    page.click("#hand-back")
    expect(page.locator("#action-result")).to_have_text("Handed back to the bot.", timeout=10_000)
    expect(second.locator(".msg-out", has_text="back with our assistant")).to_be_visible(
        timeout=15_000
    )
    say(second, "hello")
    greetings = "|".join(re.escape(t) for t in response_texts("utter_greet"))
    expect(second.locator(".msg-out").last).to_have_text(re.compile(greetings), timeout=30_000)
    second.screenshot(path=str(artifacts / "console-hand-back.png"), full_page=True)
    page.select_option("#agent-state", "offline")

    boss = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
    log_in(boss, gateway, supervisor, "/console/supervisor")
    expect(boss.locator("#metrics")).to_contain_text("Service level", timeout=10_000)
    expect(boss.locator("#agents")).to_contain_text("Robin")
    boss.screenshot(path=str(artifacts / "console-supervisor.png"), full_page=True)
    with boss.expect_download() as download:
        boss.click("#csv")
    assert download.value.suggested_filename == "handoff-metrics.csv"


@pytest.fixture
def closed_gateway(tmp_path: Path, artifacts: Path) -> Iterator[GatewayProcess]:
    """A gateway outside business hours, without Rasa (every customer is handed over)."""
    env = gateway_env(
        f"http://127.0.0.1:{free_port()}",
        f"sqlite:///{tmp_path}/switchboard.db",
        tmp_path,
        free_port(),
    )
    env.update(
        {
            "FAQ_RETRIEVER": "lexical",
            "HANDOFF_HOURS": "mon 00:00-00:00",
            "HANDOFF_INTERVAL_S": "0.5",
        }
    )
    process = GatewayProcess(env, artifacts / "gateway-follow-ups.log")
    process.start()
    yield process
    process.stop()


def test_a_follow_up_is_answered_from_the_console(
    page: Page, browser: Browser, closed_gateway: GatewayProcess, artifacts: Path
) -> None:
    gateway = closed_gateway
    agent = staff(gateway, "agent", "Kim")
    customer = browser.new_context(viewport={"width": 600, "height": 800}).new_page()
    customer.goto(f"{gateway.url}/")
    customer.wait_for_function(
        "window.switchboardChat && window.switchboardChat.state() === 'online'"
    )
    say(customer, HOSTILE)
    expect(customer.locator(".msg-out", has_text="away right now")).to_be_visible(timeout=30_000)

    log_in(page, gateway, agent, "/console")
    item = page.locator("#follow-ups li").first
    expect(item).to_contain_text("<img src=x", timeout=15_000)  # as text
    expect(item).to_contain_text("no email known: answer on webchat")
    expect(page.locator("#follow-ups-count")).to_have_text("(1)")
    assert page.evaluate("window.__owned") is None
    assert page.locator("#follow-ups img, #follow-ups script").count() == 0
    item.locator("textarea").fill("Sorry for the wait: your parcel is on its way.")
    page.screenshot(path=str(artifacts / "console-follow-ups.png"), full_page=True)
    item.locator("button", has_text="Send answer").click()
    expect(page.locator("#follow-up-result")).to_have_text("Answered by webchat.", timeout=10_000)
    expect(page.locator("#follow-ups li")).to_have_count(0)
    expect(customer.locator(".msg-out", has_text="your parcel is on its way")).to_be_visible(
        timeout=15_000
    )
    customer.screenshot(path=str(artifacts / "console-follow-up-customer.png"), full_page=True)
