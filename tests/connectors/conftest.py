"""The gateway in-process with the messenger channels enabled, each provider replaced by its
fake on a loopback port, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from conversations import Customer, Message
from gateway import Settings, create_app, keys
from tests.fakes.meta import FakeGraph
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.harness import free_port

TELEGRAM_SECRET = "tg-secret_0123456789"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
PUBLIC_URL = "https://switchboard.example"
TWILIO_NUMBER = "+15005550006"


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.db"
    return request.getfixturevalue("postgres_databases")()


def channel_settings(
    database_url: str,
    tmp_path: Path,
    telegram: FakeTelegram,
    graph: FakeGraph,
    twilio: FakeTwilio,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "RASA_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: the bot step fails fast
        "ACTIONS_PORT": None,
        "VAR_DIR": str(tmp_path),
        "FAQ_RETRIEVER": "lexical",
        "PUBLIC_URL": PUBLIC_URL,
        "CHANNELS": "telegram,whatsapp,messenger,sms",
        "TELEGRAM_TOKEN": telegram.token,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_BASE_URL": telegram.url,
        "META_APP_SECRET": APP_SECRET,
        "META_VERIFY_TOKEN": VERIFY_TOKEN,
        "META_GRAPH_URL": f"{graph.url}/v21.0",
        "WHATSAPP_TOKEN": graph.token,
        "WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        "MESSENGER_PAGE_TOKEN": graph.token,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": TWILIO_NUMBER,
        "TWILIO_BASE_URL": twilio.url,
        "CHANNEL_RATE_PER_S": 1000,
        "CHANNEL_RATE_PER_CHAT_PER_S": 1000,
        "HANDOFF_TELL_PLACE": False,  # only the bot-unavailable notice goes out
    }
    values.update(overrides)
    return Settings(**values)


ClientFactory = Callable[..., Any]


@pytest.fixture
async def make_client(
    aiohttp_client: Any,
    database_url: str,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_graph: FakeGraph,
    fake_twilio: FakeTwilio,
) -> ClientFactory:
    async def build(**overrides: Any) -> TestClient:
        settings = channel_settings(
            database_url, tmp_path, fake_telegram, fake_graph, fake_twilio, **overrides
        )
        app: web.Application = create_app(settings)
        return await aiohttp_client(app)

    return build


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client()


async def messages(client: TestClient) -> list[Message]:
    async with client.app[keys.DATABASE].transaction() as session:
        return list((await session.exec(select(Message).order_by(col(Message.id)))).all())


async def customers(client: TestClient) -> list[Customer]:
    async with client.app[keys.DATABASE].transaction() as session:
        return list((await session.exec(select(Customer).order_by(col(Customer.id)))).all())


async def wait_until(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def hub_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_meta(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": hub_signature(body)}


def twilio_signed(path: str, params: dict[str, str], token: str) -> tuple[str, dict[str, str]]:
    """Signed the way Twilio documents it, written out independently of the adapter."""
    data = PUBLIC_URL + path
    for key in sorted(params):
        data += key + params[key]
    signature = base64.b64encode(hmac.new(token.encode(), data.encode(), "sha1").digest())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature.decode(),
    }
    return urlencode(params), headers


PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"


def payload(channel: str, name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / channel / f"{name}.json").read_text())
