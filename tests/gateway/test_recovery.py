"""A message stored by a process that died before routing it is routed at the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from connectors import InboundMessage
from conversations import Message, MessageStatus, store
from gateway import keys
from gateway.db import Database
from gateway.routing import BOT_UNAVAILABLE_TEXT

from .conftest import AppFactory


async def test_unrouted_message_is_routed_at_startup(
    aiohttp_client, make_app: AppFactory, tmp_path: Path
) -> None:
    earlier = Database(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    await earlier.create_tables()
    async with earlier.transaction() as session:
        identity = await store.find_or_create_identity(session, "webchat", "crashy")
        conversation = await store.open_conversation(session, identity)
        message = InboundMessage("webchat", "crashy:c1", "crashy", "hello?")
        await store.add_inbound(session, conversation, message)
    await earlier.dispose()

    client = await aiohttp_client(make_app())  # Rasa is down: routing yields the notice
    db = client.app[keys.DATABASE]
    for _ in range(400):  # the reply is stored, then sent: wait for both (a loaded machine)
        async with db.transaction() as session:
            rows = (await session.exec(select(Message).order_by(col(Message.id)))).all()
        if len(rows) >= 2 and rows[1].status == MessageStatus.SENT:
            break  # (a third row may follow: the queued customer's place in the queue)
        await asyncio.sleep(0.05)
    assert [(r.direction, r.status) for r in rows[:2]] == [
        ("in", MessageStatus.PROCESSED),
        ("out", MessageStatus.SENT),
    ]
    assert rows[1].text == BOT_UNAVAILABLE_TEXT
