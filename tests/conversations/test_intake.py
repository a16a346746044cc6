"""Storing batches of inbound messages on SQLite and PostgreSQL: dedupe inside a batch and
across batches, the conversation each message joins, customers linked by verified contacts
(and merged without a chain, also when merges race), the identity cache."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from connectors import InboundMessage
from conversations import (
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    MessageStatus,
    Owner,
    customers,
    intake,
)
from conversations.customers import CustomerContact
from gateway.db import Database
from gateway.routing import Router


def message(n: int, address: str = "ann", channel: str = "webchat", **kw: object) -> InboundMessage:
    return InboundMessage(channel, f"{address}:{n}", address, f"hello {n}", **kw)  # type: ignore[arg-type]


async def store(
    db: Database,
    batch: list[InboundMessage],
    cache: intake.IntakeCache | None = None,
    handled: bool = False,
) -> list[intake.Stored]:
    cache = cache or intake.IntakeCache()

    def work(conn: object) -> list[intake.Stored]:
        results, pending = intake.store_inbound(
            conn,  # type: ignore[arg-type]
            [(m, handled) for m in batch],
            is_sqlite=db.is_sqlite,
            cache=cache,
            arrival_status=Router.arrival_status,
        )
        pending.apply()
        return results

    return await db.run_blocking(work)


async def count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def set_owner(db: Database, conversation_id: str, owner: Owner, agent: int | None = None):
    async with db.transaction() as session:
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id)
            .values(owner=owner, agent_id=agent)
        )


async def test_a_batch_stores_each_message_once_in_order(database: Database) -> None:
    first = await store(database, [message(1), message(2), message(1), message(3, "bob")])
    assert [s.duplicate for s in first] == [False, False, True, False]
    assert first[2].message_id == first[0].message_id
    assert first[0].message_id < first[1].message_id  # stored in the order received
    again = await store(database, [message(2), message(4)])
    assert [(s.duplicate, s.message_id == first[1].message_id) for s in again] == [
        (True, True),
        (False, False),
    ]
    assert await count(database, Message) == 4
    assert await count(database, ChannelIdentity) == 2
    assert await count(database, Conversation) == 2


async def test_a_replay_touches_nothing_even_after_its_conversation_was_resolved(
    database: Database,
) -> None:
    (stored,) = await store(database, [message(1)])
    async with database.transaction() as session:
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id) == stored.conversation_id)
            .values(status=ConversationStatus.RESOLVED)
        )
    (replayed,) = await store(database, [message(1)])
    assert replayed.duplicate and replayed.message_id == stored.message_id
    assert await count(database, Conversation) == 1  # no new conversation for a replay
    (later,) = await store(database, [message(2)])
    assert later.conversation_id != stored.conversation_id  # a new message starts one


async def test_messages_stored_while_people_own_the_conversation_are_routed_to_them(
    database: Database,
) -> None:
    (first,) = await store(database, [message(1)])
    assert first.status == MessageStatus.RECEIVED  # the bot's: still to route
    await set_owner(database, first.conversation_id, Owner.QUEUED)
    (second,) = await store(database, [message(2)])
    assert (second.conversation_id, second.status) == (
        first.conversation_id,
        MessageStatus.PROCESSED,
    )
    (handled,) = await store(database, [message(3, "carl")], handled=True)
    assert handled.status == MessageStatus.PROCESSED  # an SMS keyword: never routed


async def test_verified_contacts_link_identities_and_people_conversations_gather_them(
    database: Database,
) -> None:
    email = {"email": "Ann@Example.ORG"}
    (web,) = await store(database, [message(1, "ann-web", verified=email)])
    await set_owner(database, web.conversation_id, Owner.QUEUED)
    (mail,) = await store(database, [message(1, "ann@example.org", "email", verified=email)])
    assert mail.conversation_id == web.conversation_id  # joined the queued conversation
    async with database.transaction() as session:
        people = (await session.exec(select(Customer).order_by(col(Customer.id)))).all()
        proofs = (await session.exec(select(CustomerContact))).all()
    assert [c.merged_into_id for c in people] == [None, people[0].id]
    assert {p.value for p in proofs} == {"ann@example.org"}  # one canonical form
    assert people[0].email == "ann@example.org"


async def test_the_identitys_own_people_conversation_comes_first_then_the_most_recent(
    database: Database,
) -> None:
    phone = {"phone": "+441632960001"}
    (a,) = await store(database, [message(1, "a", "sms", verified=phone)])
    (b,) = await store(database, [message(1, "b", "whatsapp", verified=phone)])
    assert a.conversation_id != b.conversation_id  # the bot's: one per channel
    await set_owner(database, a.conversation_id, Owner.QUEUED)
    await set_owner(database, b.conversation_id, Owner.QUEUED)
    (again_a,) = await store(database, [message(2, "a", "sms", verified=phone)])
    (again_b,) = await store(database, [message(2, "b", "whatsapp", verified=phone)])
    assert again_a.conversation_id == a.conversation_id
    assert again_b.conversation_id == b.conversation_id
    (c,) = await store(database, [message(1, "c", "telegram", verified=phone)])
    assert c.conversation_id == b.conversation_id  # the most recently active of the two


async def test_malformed_verified_contacts_link_nothing(database: Database) -> None:
    odd = [
        {"phone": "12"},
        {"phone": "+0123456789"},
        {"phone": "tel:+14155550123"},
        {"email": "not-an-address"},
        {"email": "a@b"},
        {"email": "x" * 400 + "@example.org"},
        {"phone": 14155550123},  # type: ignore[dict-item]
    ]
    await store(database, [message(n, f"u{n}", verified=v) for n, v in enumerate(odd)])
    assert await count(database, CustomerContact) == 0
    async with database.transaction() as session:
        people = (await session.exec(select(Customer))).all()
    assert all(c.phone is None and c.email is None for c in people)


async def test_the_identity_cache_is_filled_only_by_committed_transactions(
    database: Database,
) -> None:
    cache = intake.IntakeCache()
    with pytest.raises(RuntimeError):

        def failing(conn: object) -> None:
            intake.store_inbound(
                conn,  # type: ignore[arg-type]
                [(message(1, "dora"), False)],
                is_sqlite=database.is_sqlite,
                cache=cache,
                arrival_status=Router.arrival_status,
            )
            raise RuntimeError("rolled back")

        await database.run_blocking(failing)
    assert cache.identities == {}
    await store(database, [message(2, "dora")], cache)
    assert list(cache.identities) == [("webchat", "dora")]
    assert await count(database, ChannelIdentity) == 1


async def test_merges_racing_in_two_processes_leave_one_survivor_and_no_chain(
    database: Database,
) -> None:
    other = Database(database.url)  # its own connections, as another gateway process
    try:
        async with database.transaction() as session:
            made = [Customer() for _ in range(4)]
            session.add_all(made)
            await session.flush()
            ids = [c.id for c in made]

        def merge(ids_: set[int]):
            return lambda conn: customers.merge(conn, ids_, is_sqlite=database.is_sqlite)

        await asyncio.gather(
            database.run_blocking(merge({ids[2], ids[3]})),
            other.run_blocking(merge({ids[1], ids[2]})),
            database.run_blocking(merge({ids[0], ids[3]})),
        )
        async with database.transaction() as session:
            rows = (await session.exec(select(Customer).order_by(col(Customer.id)))).all()
        assert [r.merged_into_id for r in rows] == [None, ids[0], ids[0], ids[0]]
    finally:
        await other.dispose()
