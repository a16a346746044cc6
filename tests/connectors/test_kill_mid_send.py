"""A gateway killed (SIGKILL) while a reply is in flight to the provider neither loses nor
duplicates it after a restart; a replayed update after the restart is stored once."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
from sqlmodel import col, select

from conversations import Message, MessageStatus
from gateway.db import Database
from gateway.routing import BOT_UNAVAILABLE_TEXT
from gateway.settings import Settings
from tests.fakes.telegram import FakeTelegram
from tests.harness import GatewayProcess, free_port

from .conftest import TELEGRAM_SECRET, payload


async def test_a_gateway_killed_mid_send_delivers_the_reply_once_after_restart(
    database_url: str, tmp_path: Path, fake_telegram: FakeTelegram, artifacts: Path
) -> None:
    env = {
        "GATEWAY_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "DATABASE_URL": database_url,
        "VAR_DIR": str(tmp_path),
        "FAQ_RETRIEVER": "lexical",
        "CHANNELS": "telegram",
        "TELEGRAM_TOKEN": fake_telegram.token,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_BASE_URL": fake_telegram.url,
        "HANDOFF_TELL_PLACE": "false",  # only the bot-unavailable notice goes out
    }
    gateway = GatewayProcess(env, artifacts / "gateway-kill-mid-send.log")
    update = json.dumps(payload("telegram", "text"))
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
    }
    fake_telegram.hold = True  # the provider takes the request and never answers
    await asyncio.to_thread(gateway.start)
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{gateway.url}/webhooks/telegram"
            async with http.post(url, data=update, headers=headers) as response:
                assert response.status == 200
            for _ in range(200):
                if fake_telegram.held:
                    break
                await asyncio.sleep(0.05)
            assert fake_telegram.held == 1 and fake_telegram.received == []

            await asyncio.to_thread(gateway.stop, signal.SIGKILL)
            fake_telegram.hold = False
            await asyncio.to_thread(gateway.start)

            async with http.post(url, data=update, headers=headers) as response:
                assert response.status == 200  # a replay after the restart
            sent = await fake_telegram.wait_for(1, timeout_s=40)
            await asyncio.sleep(2.5)  # two more sweeps: nothing else may go out
    finally:
        await asyncio.to_thread(gateway.stop)

    assert [s["text"] for s in sent] == [BOT_UNAVAILABLE_TEXT]
    assert len(fake_telegram.received) == 1
    db = Database(Settings(DATABASE_URL=database_url).resolved_database_url)  # type: ignore[call-arg]
    try:
        async with db.transaction() as session:
            rows = (await session.exec(select(Message).order_by(col(Message.id)))).all()
    finally:
        await db.dispose()
    assert [(r.direction, r.status) for r in rows] == [
        ("in", MessageStatus.PROCESSED),
        ("out", MessageStatus.SENT),
    ]
    assert rows[1].provider_message_id == str(sent[0]["message_id"])
