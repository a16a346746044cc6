"""Routing: priority, skills, languages, capacity, agent states, sticky, transfer, resolve,
and many claimers racing for the same queue (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from conversations import Conversation, ConversationEvent, Owner
from gateway.db import Database
from handoff import (
    Agent,
    AgentState,
    EntryStatus,
    Priority,
    QueueEntry,
    assign_waiting,
    hand_back,
    resolve,
    take_next,
    transfer,
)
from tests.handoff.helpers import agent, queued


async def take(db: Database, agent_id: int) -> str | None:
    async with db.transaction() as session:
        assignment = await take_next(session, agent_id)
    return assignment.conversation_id if assignment else None


async def owner_of(db: Database, conversation_id: str) -> tuple[str, int | None]:
    async with db.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
    assert conversation is not None
    return conversation.owner, conversation.agent_id


async def test_vip_first_then_longest_wait(database: Database) -> None:
    first = await queued(database)
    second = await queued(database)
    vip = await queued(database, priority=Priority.VIP)
    await agent(database, 1, capacity=5)
    assert [await take(database, 1) for _ in range(4)] == [vip, first, second, None]


async def test_skills_and_languages_decide_who_may_take(database: Database) -> None:
    refund = await queued(database, queue="refunds")
    german = await queued(database, language="de")
    general = await queued(database)
    await agent(database, 1, skills=("general",))
    await agent(database, 2, skills=("refunds",), languages=("en", "de"))
    await agent(database, 3, skills=("general",), languages=("de",))
    assert await take(database, 1) == general
    assert await take(database, 1) is None  # refunds and German are not agent 1's
    assert await take(database, 2) == refund
    assert await take(database, 3) == german


async def test_capacity_and_state_are_respected(database: Database) -> None:
    conversations = [await queued(database) for _ in range(3)]
    await agent(database, 1, capacity=2)
    await agent(database, 2, state=AgentState.AWAY)
    assert await take(database, 1) == conversations[0]
    assert await take(database, 1) == conversations[1]
    assert await take(database, 1) is None  # full
    assert await take(database, 2) is None  # away
    async with database.transaction() as session:
        assert await resolve(session, conversations[0], 1, "solved")
    assert await take(database, 1) == conversations[2]
    async with database.transaction() as session:
        row = await session.get(Agent, 1)
    assert row is not None and row.active == 2


async def test_automatic_assignment_prefers_the_customers_last_agent(database: Database) -> None:
    await agent(database, 1)
    await agent(database, 2)
    earlier = await queued(database, address="alice")
    async with database.transaction() as session:
        assert await transfer(session, earlier, 0) is False  # not agent 0's
    assert await take(database, 2) == earlier
    async with database.transaction() as session:
        assert await resolve(session, earlier, 2, "solved")
    # Agent 2 is busier than agent 1 would be, yet Alice's next handoff goes to agent 2.
    other = await queued(database)
    assert await take(database, 2) == other
    again = await queued(database, address="alice")
    async with database.transaction() as session:
        done = await assign_waiting(session)
    assert [(a.conversation_id, a.agent_id, a.mode) for a in done] == [(again, 2, "sticky")]
    assert await owner_of(database, again) == (Owner.AGENT, 2)


async def test_automatic_assignment_balances_and_stops_at_capacity(database: Database) -> None:
    await agent(database, 1, capacity=2)
    await agent(database, 2, capacity=2)
    conversations = [await queued(database) for _ in range(5)]
    async with database.transaction() as session:
        done = await assign_waiting(session)
    assert len(done) == 4
    assert sorted(a.agent_id for a in done) == [1, 1, 2, 2]
    assert await owner_of(database, conversations[4]) == (Owner.QUEUED, None)


async def test_transfer_to_an_agent_with_a_note(database: Database) -> None:
    await agent(database, 1, skills=("general", "refunds"))
    await agent(database, 2, skills=("refunds",))
    await agent(database, 3, skills=("refunds",))
    conversation_id = await queued(database)
    assert await take(database, 1) == conversation_id
    async with database.transaction() as session:
        assert not await transfer(session, conversation_id, 2, queue="refunds")  # not owner
        assert await transfer(
            session, conversation_id, 1, queue="refunds", to_agent_id=3, note="wants £80 back"
        )
    assert await owner_of(database, conversation_id) == (Owner.QUEUED, None)
    assert await take(database, 2) is None  # addressed to agent 3
    assert await take(database, 3) == conversation_id
    async with database.transaction() as session:
        entries = (await session.exec(select(QueueEntry).order_by(QueueEntry.id))).all()  # type: ignore[arg-type]
        agents = {a.agent_id: a.active for a in (await session.exec(select(Agent))).all()}
    assert [(e.status, e.outcome, e.agent_id) for e in entries] == [
        (EntryStatus.CLOSED, "transferred", 1),
        (EntryStatus.CLAIMED, None, 3),
    ]
    assert entries[1].note == "wants £80 back" and entries[1].queue == "refunds"
    assert agents == {1: 0, 2: 0, 3: 1}


async def test_hand_back_by_the_owning_agent_only(database: Database) -> None:
    await agent(database, 1)
    conversation_id = await queued(database)
    assert await take(database, 1) == conversation_id
    async with database.transaction() as session:
        assert not await hand_back(session, conversation_id, agent_id=2)
        assert await hand_back(session, conversation_id, agent_id=1)
    assert await owner_of(database, conversation_id) == (Owner.BOT, None)
    async with database.transaction() as session:
        row = await session.get(Agent, 1)
    assert row is not None and row.active == 0


async def test_racing_agents_claim_each_conversation_once(database: Database) -> None:
    conversations = [await queued(database) for _ in range(30)]
    for agent_id in range(1, 11):
        await agent(database, agent_id, capacity=10)

    async def agent_day(agent_id: int) -> list[str]:
        got: list[str] = []
        while (claimed := await take(database, agent_id)) is not None:
            got.append(claimed)
        return got

    async def dispatcher() -> list[str]:
        async with database.transaction() as session:
            return [a.conversation_id for a in await assign_waiting(session, limit=5)]

    results = await asyncio.gather(
        *(agent_day(i) for i in range(1, 11)), *(dispatcher() for _ in range(3))
    )
    claimed = [c for result in results for c in result]
    assert sorted(claimed) == sorted(conversations)
    async with database.transaction() as session:
        events = (
            await session.exec(
                select(ConversationEvent.conversation_id).where(
                    ConversationEvent.type == "conversation.assigned"
                )
            )
        ).all()
        agents = (await session.exec(select(Agent))).all()
    assert sorted(events) == sorted(conversations)
    assert sum(a.active for a in agents) == 30
