"""Conversation records on SQLite and PostgreSQL: dedupe, races, ownership constraint."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from connectors import InboundMessage
from conversations import ChannelIdentity, Conversation, Message, Owner, store
from gateway.db import Database


def inbound(n: int, address: str = "alice") -> InboundMessage:
    return InboundMessage(
        channel="webchat", channel_message_id=f"m{n}", address=address, text=f"hi {n}"
    )


async def count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def store_message(db: Database, message: InboundMessage) -> tuple[int, bool]:
    async with db.transaction() as session:
        identity = await store.find_or_create_identity(session, message.channel, message.address)
        conversation = await store.open_conversation(session, identity)
        row, duplicate = await store.add_inbound(session, conversation, message)
        assert row.id is not None
        return row.id, duplicate


async def test_replayed_message_is_stored_once(database: Database) -> None:
    first = await store_message(database, inbound(1))
    again = await store_message(database, inbound(1))
    assert first[1] is False
    assert again == (first[0], True)
    assert await count(database, Message) == 1


async def test_concurrent_first_messages_create_one_identity_and_one_conversation(
    database: Database,
) -> None:
    results = await asyncio.gather(*(store_message(database, inbound(n)) for n in range(20)))
    assert len({message_id for message_id, _ in results}) == 20
    assert await count(database, ChannelIdentity) == 1
    assert await count(database, Conversation) == 1


async def test_concurrent_replays_of_one_message_store_it_once(database: Database) -> None:
    results = await asyncio.gather(*(store_message(database, inbound(7)) for _ in range(10)))
    assert len({message_id for message_id, _ in results}) == 1
    assert sum(not duplicate for _, duplicate in results) == 1
    assert await count(database, Message) == 1


async def test_history_is_per_address_and_ordered(database: Database) -> None:
    for n in range(3):
        await store_message(database, inbound(n, "alice"))
    await store_message(database, inbound(99, "bob"))
    async with database.transaction() as session:
        rows = await store.history(session, "webchat", "alice")
        later = await store.history(session, "webchat", "alice", after_id=rows[0].id or 0)
    assert [r.text for r in rows] == ["hi 0", "hi 1", "hi 2"]
    assert [r.text for r in later] == ["hi 1", "hi 2"]


async def test_agent_owner_requires_agent_id(database: Database) -> None:
    await store_message(database, inbound(1))
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            conversation = (await session.exec(select(Conversation))).one()
            conversation.owner = Owner.AGENT
            session.add(conversation)
            await session.flush()
