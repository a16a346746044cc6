"""A staff member in headless Chromium: created with the CLI, logs in, sees the staff home
page, logs out; a wrong password is refused on the page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gateway.settings import PROJECT_ROOT
from tests.harness import GatewayProcess

pytestmark = pytest.mark.browser
PASSWORD = "a long enough password"


def create_user(gateway: GatewayProcess, username: str, *roles: str) -> subprocess.CompletedProcess:
    role_args = [arg for role in roles for arg in ("--role", role)]
    return subprocess.run(
        [sys.executable, "-m", "accounts", "create-user", username, *role_args, "--password-stdin"],
        input=PASSWORD + "\n",
        env=gateway.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_staff_member_logs_in_and_out(page: Page, gateway: GatewayProcess, artifacts: Path) -> None:
    created = create_user(gateway, "browser.agent", "agent")
    assert created.returncode == 0, created.stderr
    again = create_user(gateway, "browser.agent", "agent")
    assert again.returncode == 2 and "exists already" in again.stderr

    page.goto(f"{gateway.url}/staff")
    expect(page).to_have_url(f"{gateway.url}/login?next=/staff")
    page.fill("#username", "browser.agent")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("Wrong username or password.")

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{gateway.url}/staff")
    expect(page.locator("h1")).to_have_text("Hello, browser.agent")
    page.screenshot(path=str(artifacts / "staff-home.png"), full_page=True)

    page.click("text=Log out")
    expect(page).to_have_url(f"{gateway.url}/login")
    page.goto(f"{gateway.url}/staff")
    expect(page).to_have_url(f"{gateway.url}/login?next=/staff")
