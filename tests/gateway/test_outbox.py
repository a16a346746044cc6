"""The outbox on both backends: crash recovery, one claim per row, permanent failures."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlmodel import col

from connectors import InboundMessage, OutboundMessage
from connectors.rest import RestAdapter
from connectors.webchat import WebchatAdapter
from conversations import Message, MessageStatus, store
from gateway.db import Database
from gateway.outbox import Outbox


async def reply_row(db: Database, channel: str, status: MessageStatus) -> int:
    message = InboundMessage(channel=channel, channel_message_id="a:1", address="a", text="hi")
    async with db.transaction() as session:
        identity = await store.find_or_create_identity(session, channel, "a")
        conversation = await store.open_conversation(session, identity)
        await store.add_inbound(session, conversation, message)
        row = await store.add_outbound(session, conversation, OutboundMessage(text="hello"))
        await session.exec(update(Message).where(col(Message.id) == row.id).values(status=status))
        assert row.id is not None
        return row.id


async def load(db: Database, message_id: int) -> Message:
    async with db.transaction() as session:
        row = await session.get(Message, message_id)
        assert row is not None
        return row


async def test_a_row_left_mid_send_by_a_crash_is_delivered_after_restart(
    database: Database,
) -> None:
    message_id = await reply_row(database, "webchat", MessageStatus.SENDING)
    outbox = Outbox(database, {"webchat": WebchatAdapter()}, orphan_after_s=0)
    await outbox.start()  # resets the row to pending; its sweeper then delivers it
    try:
        for _ in range(100):
            row = await load(database, message_id)
            if row.status == MessageStatus.SENT:
                break
            await asyncio.sleep(0.05)
        assert (row.status, row.attempts) == (MessageStatus.SENT, 1)
    finally:
        await outbox.stop()


async def test_concurrent_deliveries_send_a_row_once(database: Database) -> None:
    message_id = await reply_row(database, "webchat", MessageStatus.PENDING)
    outbox = Outbox(database, {"webchat": WebchatAdapter()})
    await asyncio.gather(*(outbox.deliver([message_id]) for _ in range(8)))
    row = await load(database, message_id)
    assert (row.status, row.attempts) == (MessageStatus.SENT, 1)


async def test_a_channel_that_cannot_push_fails_the_row_permanently(database: Database) -> None:
    message_id = await reply_row(database, "rest", MessageStatus.PENDING)
    await Outbox(database, {"rest": RestAdapter()}).deliver([message_id])
    row = await load(database, message_id)
    assert row.status == MessageStatus.FAILED
    assert row.error and "cannot push" in row.error


async def test_a_disabled_channel_fails_the_row(database: Database) -> None:
    message_id = await reply_row(database, "socketio", MessageStatus.PENDING)
    await Outbox(database, {}).deliver([message_id])
    row = await load(database, message_id)
    assert row.status == MessageStatus.FAILED and "not enabled" in (row.error or "")
