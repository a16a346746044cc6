"""Ownership moves by conditional updates: a lost race changes nothing."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from connectors import InboundMessage
from conversations import Conversation, ConversationEvent, Owner, store
from gateway.db import Database
from handoff import HandoffReason, QueueEntry, hand_back, hand_off


async def new_conversation(db: Database) -> str:
    message = InboundMessage(channel="rest", channel_message_id="x:1", address="x", text="help")
    async with db.transaction() as session:
        identity = await store.find_or_create_identity(session, "rest", "x")
        conversation = await store.open_conversation(session, identity)
        await store.add_inbound(session, conversation, message)
        return conversation.id


async def try_hand_off(db: Database, conversation_id: str) -> bool:
    async with db.transaction() as session:
        return await hand_off(session, conversation_id, HandoffReason.CUSTOMER_REQUEST)


async def test_racing_handoffs_queue_the_conversation_once(database: Database) -> None:
    conversation_id = await new_conversation(database)
    results = await asyncio.gather(*(try_hand_off(database, conversation_id) for _ in range(10)))
    assert results.count(True) == 1
    async with database.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        entries = (await session.exec(select(QueueEntry))).all()
        events = (await session.exec(select(ConversationEvent.type))).all()
    assert conversation is not None and conversation.owner == Owner.QUEUED
    assert [e.reason for e in entries] == ["customer_request"]
    assert events.count("conversation.handed_off") == 1


async def test_hand_back_returns_the_conversation_to_the_bot(database: Database) -> None:
    conversation_id = await new_conversation(database)
    assert await try_hand_off(database, conversation_id)
    async with database.transaction() as session:
        assert await hand_back(session, conversation_id)
    async with database.transaction() as session:
        assert not await hand_back(session, conversation_id)  # already the bot's
        conversation = await session.get(Conversation, conversation_id)
        entry = (await session.exec(select(QueueEntry))).one()
    assert conversation is not None and conversation.owner == Owner.BOT
    assert entry.status == "closed"
