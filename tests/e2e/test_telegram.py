"""Telegram end to end: the gateway as a real process, the real Rasa server, and a local
Bot API server in place of Telegram's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.rasa_process import RasaProcess
from tests.connectors.conftest import TELEGRAM_SECRET, payload
from tests.fakes.telegram import FakeTelegram
from tests.harness import GatewayProcess, free_port

from .conftest import response_texts

CHAT = 1111111


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def telegram_gateway(
    rasa: RasaProcess, telegram: FakeTelegram, tmp_path: Path, artifacts: Path
) -> AsyncIterator[GatewayProcess]:
    env = {
        "GATEWAY_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),  # not the actions Rasa calls: only responses here
        "RASA_URL": rasa.url,
        "RASA_TIMEOUT_S": "60",
        "DATABASE_URL": f"sqlite:///{tmp_path}/gateway.db",
        "VAR_DIR": str(tmp_path),
        "FAQ_RETRIEVER": "lexical",
        "CHANNELS": "telegram",
        "TELEGRAM_TOKEN": telegram.token,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_BASE_URL": telegram.url,
    }
    process = GatewayProcess(env, artifacts / "gateway-telegram.log")
    await asyncio.to_thread(process.start)
    yield process
    await asyncio.to_thread(process.stop)


async def send(gateway: GatewayProcess, update: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gateway.url}/webhooks/telegram",
            data=json.dumps(update),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
            },
        ) as response:
            assert response.status == 200, await response.text()


def text_update(update_id: int, message_id: int, text: str) -> dict[str, Any]:
    update = payload("telegram", "text")
    update["update_id"] = update_id
    update["message"]["message_id"] = message_id
    update["message"]["text"] = text
    return update


async def test_a_conversation_with_the_bot_over_telegram(
    telegram_gateway: GatewayProcess, telegram: FakeTelegram
) -> None:
    await send(telegram_gateway, text_update(1, 1, "/start order-77"))
    (greeting,) = await telegram.wait_for(1, timeout_s=90)
    assert greeting["chat_id"] == str(CHAT)
    assert greeting["text"] in response_texts("utter_greet")

    await send(telegram_gateway, text_update(2, 2, "what can you do?"))
    help_reply = (await telegram.wait_for(2, timeout_s=90))[1]
    assert help_reply["text"] in response_texts("utter_help")
    keyboard = help_reply["reply_markup"]["inline_keyboard"]
    assert ["Talk to a person", "/human_handoff"] in [
        [row[0]["text"], row[0]["callback_data"]] for row in keyboard
    ]

    press = payload("telegram", "callback_query")
    press["callback_query"]["message"]["message_id"] = help_reply["message_id"]
    press["callback_query"]["message"]["reply_markup"] = help_reply["reply_markup"]
    press["callback_query"]["data"] = "/human_handoff"
    await send(telegram_gateway, press)
    await send(telegram_gateway, press)  # Telegram's redelivery
    for _ in range(100):
        if telegram.answered_callbacks:
            break
        await asyncio.sleep(0.1)
    assert telegram.answered_callbacks == ["4382bfdwdsb323b2d9"]
