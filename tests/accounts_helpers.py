"""Staff users for tests: create one in a database, log in over HTTP."""

from __future__ import annotations

import re

import aiohttp

from accounts import service
from gateway.db import Database

LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


async def create_staff(
    db: Database, username: str, password: str, *roles: str, display_name: str | None = None
) -> int:
    async with db.transaction() as session:
        user = await service.create_user(session, username, password, roles, display_name)
        assert user.id is not None
        return user.id


async def login(http: aiohttp.ClientSession, base_url: str, username: str, password: str) -> str:
    """Log in through the login form; returns the session's CSRF token.

    The client's cookie jar must accept cookies from IP addresses
    (`aiohttp.CookieJar(unsafe=True)`)."""
    form = await login_form(http, base_url)
    async with http.post(
        f"{base_url}/login",
        data={**form, "username": username, "password": password, "next": "/staff"},
        allow_redirects=False,
    ) as response:
        if response.status != 303:
            raise AssertionError(f"login as {username} failed with {response.status}")
    async with http.get(f"{base_url}/staff/session") as response:
        response.raise_for_status()
        return str((await response.json())["csrf_token"])


async def login_form(http: aiohttp.ClientSession, base_url: str) -> dict[str, str]:
    """Open the login page (which sets its cookie); returns the form's hidden token."""
    async with http.get(f"{base_url}/login") as response:
        response.raise_for_status()
        match = LOGIN_TOKEN.search(await response.text())
    if match is None:
        raise AssertionError("the login page has no login token")
    return {"login_token": match.group(1)}
