"""The gateway built in-process on the test database (SQLite and PostgreSQL), served on a
real port, and staff who log in through the login form."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway import Settings, create_app
from gateway.db import Database
from tests.accounts_helpers import create_staff, login
from tests.harness import free_port

PASSWORD = "correct horse battery staple"


@dataclass
class Staff:
    http: aiohttp.ClientSession
    url: str
    csrf: str
    user_id: int

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


@dataclass
class Console:
    server: TestServer
    url: str
    users: dict[str, int]
    log_in: Callable[[str], Awaitable[Staff]]
    anonymous: aiohttp.ClientSession


MakeConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def make_console(
    database: Database, tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> AsyncIterator[MakeConsole]:
    """Builds the gateway with test settings plus `overrides`; users: alice and bob
    (agent), sam (supervisor), cora (content)."""
    sessions: list[aiohttp.ClientSession] = []

    async def make(**overrides: object) -> Console:
        values: dict[str, object] = {
            "DATABASE_URL": database.url,
            "RASA_URL": f"http://127.0.0.1:{free_port()}",
            "ACTIONS_PORT": None,
            "VAR_DIR": str(tmp_path),
            "FAQ_RETRIEVER": "lexical",
            "FAQ_ANSWER_THRESHOLD": 0.45,
            "FAQ_CLARIFY_THRESHOLD": 0.2,
            "FAQ_CLARIFY_MARGIN": 0.15,
            "HANDOFF_AUTO_ASSIGN": False,
            "HANDOFF_INTERVAL_S": 3600,
            "HANDOFF_LIVE_REFRESH_S": 60,  # sockets update on change notifications, not this
        }
        values.update(overrides)
        server = await aiohttp_server(create_app(Settings(**values)))  # type: ignore[arg-type]
        url = str(server.make_url("")).rstrip("/")
        users = {
            name: await create_staff(database, name, PASSWORD, role, display_name=name.title())
            for name, role in (
                ("alice", "agent"),
                ("bob", "agent"),
                ("sam", "supervisor"),
                ("cora", "content"),
            )
        }

        def new_session() -> aiohttp.ClientSession:
            http = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions.append(http)
            return http

        async def log_in(username: str) -> Staff:
            http = new_session()
            csrf = await login(http, "", username, PASSWORD)
            return Staff(http, url, csrf, users[username])

        return Console(server, url, users, log_in, new_session())

    yield make
    for http in sessions:
        await http.close()


@pytest.fixture
async def console(make_console: MakeConsole) -> Console:
    return await make_console()
