"""The in-process gateway (lexical retrieval, seeded content) with a content user and an agent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import keys
from tests.accounts_helpers import create_staff, login
from tests.curation.helpers import PASSWORD, base
from tests.gateway.conftest import AppFactory, make_app  # noqa: F401  (the in-process gateway)


@pytest.fixture
async def app(make_app: AppFactory) -> AsyncIterator[web.Application]:  # noqa: F811
    application = make_app(FAQ_RETRIEVER="lexical", FAQ_CONTENT_POLL_S=3600)
    yield application


@pytest.fixture
async def server(app: web.Application) -> AsyncIterator[TestServer]:
    async with TestServer(app, host="127.0.0.1") as test_server:
        db = app[keys.DATABASE]
        await create_staff(db, "cora", PASSWORD, "content", display_name="Cora Content")
        await create_staff(db, "ann", PASSWORD, "agent")
        yield test_server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def staff(server: TestServer, http: aiohttp.ClientSession) -> str:
    """Logged in as content staff; returns the CSRF token."""
    return await login(http, base(server), "cora", PASSWORD)
