"""Who gets which conversation: "take next", automatic assignment, transfer, resolve.

Safety across gateway processes comes from the database, never from in-process locks:
waiting entries are picked with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (two
claimers never wait on, or take, the same row), and every change of hands is a
conditional update whose row count is checked (`waiting → claimed`, `queued → agent`,
`active < capacity`). SQLite has one writer at a time, so the same statements are
serialised there (it ignores `FOR UPDATE`).

On PostgreSQL "take next" is one statement (`CLAIM_NEXT`): it locks the first waiting
entry the agent may serve together with its conversation (skipping rows another claimer
holds), reserves a seat under the agent's capacity (the agent's row lock serialises that
agent's claims), moves both rows, appends the assignment event and queues the "has joined"
notice. Each step feeds the next, so either all happen or none does; it is a whole change
by itself and needs no surrounding transaction. The agent's skills are read first, so the
waiting entries are walked in the order of `ix_queue_entry_next` and the walk stops at the
first one that fits: joining every waiting entry to the agent and sorting them cost
milliseconds of database time per claim once the queue held a few hundred.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import DateTime, Integer, bindparam, or_, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from conversations import Conversation, Owner, store
from conversations.models import utcnow

from .models import Agent, AgentState, EntryStatus, Outcome, QueueEntry
from .notices import JOINED_FALLBACK_NAME, JOINED_SUFFIX, announce
from .transitions import active_entry, close_entry


class ClaimLost(Exception):
    """A conditional update found the row changed: the attempt is rolled back."""


@dataclass(frozen=True)
class Assignment:
    conversation_id: str
    entry_id: int
    agent_id: int
    mode: str  # take_next | auto | sticky | transfer
    wait_s: float
    notice_id: int | None = None  # the queued "has joined" message, when one was asked for


def _waiting(agent: Agent | None = None) -> SelectOfScalar[QueueEntry]:
    query = select(QueueEntry).where(QueueEntry.status == EntryStatus.WAITING)
    if agent is not None:
        query = query.where(
            col(QueueEntry.queue).in_(agent.skill_list()),
            col(QueueEntry.language).in_(agent.language_list()),
            or_(
                col(QueueEntry.target_agent_id).is_(None),
                col(QueueEntry.target_agent_id) == agent.agent_id,
            ),
        )
    return query.order_by(
        col(QueueEntry.priority).desc(), col(QueueEntry.created_at), col(QueueEntry.id)
    )


async def _reserve(session: AsyncSession, agent_id: int) -> bool:
    """One more conversation for an online agent under capacity (one conditional update)."""
    result = await session.exec(
        update(Agent)
        .where(
            col(Agent.agent_id) == agent_id,
            col(Agent.state) == AgentState.ONLINE,
            col(Agent.active) < col(Agent.capacity),
        )
        .values(active=col(Agent.active) + 1, last_assigned_at=utcnow())
    )
    return result.rowcount == 1


async def _give(session: AsyncSession, entry: QueueEntry, agent_id: int, mode: str) -> Assignment:
    """Entry `waiting → claimed` and conversation `queued → agent`, or `ClaimLost`."""
    now = utcnow()
    mode = "transfer" if entry.transferred else mode
    claimed = await session.exec(
        update(QueueEntry)
        .where(col(QueueEntry.id) == entry.id, col(QueueEntry.status) == EntryStatus.WAITING)
        .values(status=EntryStatus.CLAIMED, agent_id=agent_id, claimed_at=now)
    )
    if claimed.rowcount != 1:
        raise ClaimLost(f"entry {entry.id} is no longer waiting")
    moved = await session.exec(
        update(Conversation)
        .where(
            col(Conversation.id) == entry.conversation_id,
            col(Conversation.owner) == Owner.QUEUED,
        )
        .values(owner=Owner.AGENT, agent_id=agent_id, updated_at=now)
    )
    if moved.rowcount != 1:
        raise ClaimLost(f"conversation {entry.conversation_id} is no longer queued")
    wait_s = (now - store.as_utc(entry.created_at)).total_seconds()
    await store.append_event(
        session,
        entry.conversation_id,
        "conversation.assigned",
        agent_id=agent_id,
        queue=entry.queue,
        mode=mode,
        wait_s=wait_s,
    )
    assert entry.id is not None
    return Assignment(entry.conversation_id, entry.id, agent_id, mode, wait_s)


async def _attempt(
    session: AsyncSession,
    entry: QueueEntry,
    agent_id: int,
    mode: str,
    announce_to_customer: bool = False,
) -> Assignment | None:
    try:
        async with session.begin_nested():
            if not await _reserve(session, agent_id):
                raise ClaimLost(f"agent {agent_id} is not available")
            assignment = await _give(session, entry, agent_id, mode)
    except ClaimLost:
        return None
    if announce_to_customer:
        notice_id = await announce(session, assignment.conversation_id, agent_id)
        assignment = dataclasses.replace(assignment, notice_id=notice_id)
    return assignment


CLAIM_NEXT = text(
    """
WITH able AS MATERIALIZED (
    SELECT string_to_array(skills, ',') AS skills, string_to_array(languages, ',') AS languages
    FROM handoff_agent
    WHERE agent_id = :agent_id AND state = 'online' AND active < capacity
), pick AS MATERIALIZED (
    SELECT q.id, q.conversation_id, q.queue, q.transferred, q.created_at
    FROM queue_entry q
    JOIN conversation c ON c.id = q.conversation_id
    WHERE q.status = 'waiting' AND c.owner = 'queued'
      AND q.queue = ANY (CAST((SELECT skills FROM able) AS text[]))
      AND q.language = ANY (CAST((SELECT languages FROM able) AS text[]))
      AND (q.target_agent_id IS NULL OR q.target_agent_id = :agent_id)
      AND (CAST(:entry_id AS integer) IS NULL OR q.id = :entry_id)
    ORDER BY q.priority DESC, q.created_at, q.id
    LIMIT 1
    FOR UPDATE OF q, c SKIP LOCKED
), reserved AS (
    UPDATE handoff_agent SET active = active + 1, last_assigned_at = :now
    WHERE agent_id = :agent_id AND state = 'online' AND active < capacity
      AND EXISTS (SELECT 1 FROM pick)
    RETURNING display_name
), claimed AS (
    UPDATE queue_entry q SET status = 'claimed', agent_id = :agent_id, claimed_at = :now
    FROM pick, reserved
    WHERE q.id = pick.id
    RETURNING q.id, q.conversation_id, q.queue, reserved.display_name,
        CASE WHEN pick.transferred THEN 'transfer' ELSE CAST(:mode AS varchar) END AS mode,
        CAST(EXTRACT(EPOCH FROM (:now - pick.created_at)) AS float8) AS wait_s
), moved AS (
    UPDATE conversation c SET owner = 'agent', agent_id = :agent_id, updated_at = :now
    FROM claimed
    WHERE c.id = claimed.conversation_id
    RETURNING c.id, c.identity_id
), assigned AS (
    INSERT INTO conversation_event (conversation_id, type, data, created_at)
    SELECT conversation_id, 'conversation.assigned',
        json_build_object('agent_id', :agent_id, 'queue', queue, 'mode', mode, 'wait_s', wait_s),
        :now
    FROM claimed
), target AS (
    SELECT moved.id AS conversation_id, coalesce(
        (SELECT m.identity_id FROM message m
         WHERE m.conversation_id = moved.id AND m.direction = 'in'
         ORDER BY m.id DESC LIMIT 1),
        moved.identity_id) AS identity_id
    FROM moved
    WHERE :announce
), notice AS (
    INSERT INTO message (conversation_id, identity_id, direction, sender, channel, text, data,
        status, attempts, created_at)
    SELECT target.conversation_id, target.identity_id, 'out', 'system', i.channel,
        coalesce(nullif(claimed.display_name, ''), :fallback_name) || :joined_suffix,
        CAST(:notice_data AS json), 'pending', 0, :now
    FROM target
    JOIN claimed ON claimed.conversation_id = target.conversation_id
    JOIN channel_identity i ON i.id = target.identity_id
    RETURNING id
)
SELECT claimed.id, claimed.conversation_id, claimed.mode, claimed.wait_s,
    (SELECT id FROM notice) AS notice_id
FROM claimed
"""
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("entry_id", type_=Integer),
    fallback_name=JOINED_FALLBACK_NAME,
    joined_suffix=JOINED_SUFFIX,
    notice_data=json.dumps({"buttons": [], "image": None, "custom": None}),
)


async def _claim(
    session: AsyncSession,
    agent_id: int,
    *,
    entry_id: int | None = None,
    mode: str = "take_next",
    announce_to_customer: bool = False,
) -> Assignment | None:
    """PostgreSQL: `CLAIM_NEXT` for the agent, on one given entry or the first they may take."""
    params = {
        "agent_id": agent_id,
        "entry_id": entry_id,
        "mode": mode,
        "now": utcnow(),
        "announce": announce_to_customer,
    }
    row = (await session.execute(CLAIM_NEXT, params)).first()
    if row is None:
        return None
    return Assignment(row.conversation_id, row.id, agent_id, row.mode, row.wait_s, row.notice_id)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def take_next(
    session: AsyncSession, agent_id: int, *, announce_to_customer: bool = False
) -> Assignment | None:
    """The agent's manual "take next": the first waiting entry the agent may serve (highest
    priority, then longest wait). None when nothing waits or the agent is at capacity.

    With `announce_to_customer` the customer's "has joined" notice is queued in the same
    change (its id in `Assignment.notice_id`)."""
    if _is_postgres(session):
        return await _claim(session, agent_id, announce_to_customer=announce_to_customer)
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.state != AgentState.ONLINE or agent.active >= agent.capacity:
        return None
    query = _waiting(agent).limit(1).with_for_update(skip_locked=True, of=QueueEntry)
    entry = (await session.exec(query)).first()
    if entry is None:
        return None
    return await _attempt(session, entry, agent_id, "take_next", announce_to_customer)


async def last_agent_of(session: AsyncSession, customer_id: int | None) -> int | None:
    """The agent who last served this customer (for sticky routing)."""
    if customer_id is None:
        return None
    query = (
        select(QueueEntry.agent_id)
        .where(QueueEntry.customer_id == customer_id, col(QueueEntry.agent_id).is_not(None))
        .order_by(col(QueueEntry.claimed_at).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


def _candidates(entry: QueueEntry, agents: Sequence[Agent], sticky: int | None) -> list[Agent]:
    """Agents who may take the entry, best first: its target, the customer's last agent,
    then the fewest open conversations and the longest idle."""
    able = [
        a
        for a in agents
        if entry.queue in a.skill_list()
        and entry.language in a.language_list()
        and a.active < a.capacity
        and (entry.target_agent_id is None or entry.target_agent_id == a.agent_id)
    ]

    def rank(a: Agent) -> tuple[int, int, float]:
        idle = store.as_utc(a.last_assigned_at).timestamp() if a.last_assigned_at else 0.0
        return (0 if a.agent_id == sticky else 1, a.active, idle)

    return sorted(able, key=rank)


async def assign_waiting(
    session: AsyncSession, limit: int = 50, *, announce_to_customer: bool = False
) -> list[Assignment]:
    """Automatic assignment of waiting entries to online agents with free capacity.

    On PostgreSQL the waiting entries are read without locks and each assignment is one
    `CLAIM_NEXT` on that entry, so a round never holds entries that "take next" then
    could not see; on SQLite the round is one serialised transaction."""
    agents = list(
        (
            await session.exec(
                select(Agent).where(
                    Agent.state == AgentState.ONLINE, col(Agent.active) < col(Agent.capacity)
                )
            )
        ).all()
    )
    if not agents:
        return []
    postgres = _is_postgres(session)
    query = _waiting().limit(limit)
    if not postgres:
        query = query.with_for_update(skip_locked=True, of=QueueEntry)
    entries = (await session.exec(query)).all()
    done: list[Assignment] = []
    for entry in entries:
        sticky = await last_agent_of(session, entry.customer_id)
        for agent in _candidates(entry, agents, sticky):
            mode = "sticky" if agent.agent_id == sticky else "auto"
            if postgres:
                assignment = await _claim(
                    session,
                    agent.agent_id,
                    entry_id=entry.id,
                    mode=mode,
                    announce_to_customer=announce_to_customer,
                )
            else:
                assignment = await _attempt(
                    session, entry, agent.agent_id, mode, announce_to_customer
                )
            if assignment is not None:
                await session.refresh(agent)  # its load, for ranking the rest of the round
                done.append(assignment)
                break
    return done


async def _owned(session: AsyncSession, conversation_id: str, agent_id: int) -> QueueEntry | None:
    entry = await active_entry(session, conversation_id)
    if entry is None or entry.status != EntryStatus.CLAIMED or entry.agent_id != agent_id:
        return None
    return entry


async def transfer(
    session: AsyncSession,
    conversation_id: str,
    agent_id: int,
    *,
    queue: str | None = None,
    to_agent_id: int | None = None,
    note: str | None = None,
) -> bool:
    """The owning agent passes the conversation to another queue or agent, with a note.
    It waits again (with its original priority and arrival time) until taken."""
    entry = await _owned(session, conversation_id, agent_id)
    if entry is None:
        return False
    if not await _release(session, conversation_id, agent_id, Owner.QUEUED):
        return False
    if not await close_entry(session, entry, Outcome.TRANSFERRED):
        return False
    await session.flush()
    session.add(
        QueueEntry(
            conversation_id=conversation_id,
            customer_id=entry.customer_id,
            queue=queue or entry.queue,
            language=entry.language,
            channel=entry.channel,
            reason=entry.reason,
            note=note,
            priority=entry.priority,
            target_agent_id=to_agent_id,
            transferred=True,
            created_at=entry.created_at,
        )
    )
    await store.append_event(
        session,
        conversation_id,
        "conversation.transferred",
        from_agent_id=agent_id,
        queue=queue or entry.queue,
        to_agent_id=to_agent_id,
        note=note,
    )
    return True


async def _release(
    session: AsyncSession, conversation_id: str, agent_id: int, owner: Owner
) -> bool:
    """The agent's ownership passes to `owner`, only while that agent still owns it."""
    moved = await session.exec(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.owner) == Owner.AGENT,
            col(Conversation.agent_id) == agent_id,
        )
        .values(owner=owner, agent_id=None, updated_at=utcnow())
    )
    return moved.rowcount == 1


async def resolve(
    session: AsyncSession, conversation_id: str, agent_id: int, disposition: str
) -> bool:
    """The owning agent closes the handoff with a disposition; the conversation goes back
    to the bot (the console then asks the customer the CSAT question)."""
    entry = await _owned(session, conversation_id, agent_id)
    if entry is None:
        return False
    if not await _release(session, conversation_id, agent_id, Owner.BOT):
        return False
    if not await close_entry(session, entry, Outcome.RESOLVED, disposition):
        return False
    handle_s = (utcnow() - store.as_utc(entry.claimed_at or entry.created_at)).total_seconds()
    await store.append_event(
        session,
        conversation_id,
        "conversation.resolved",
        agent_id=agent_id,
        disposition=disposition,
        queue=entry.queue,
        handle_s=handle_s,
    )
    return True


async def set_agent(
    session: AsyncSession,
    agent_id: int,
    *,
    display_name: str | None = None,
    state: AgentState | None = None,
    capacity: int | None = None,
    skills: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
) -> Agent:
    """Create or change an agent's routing state."""
    agent = await session.get(Agent, agent_id)
    if agent is None:
        agent = Agent(agent_id=agent_id)
    if display_name is not None:
        agent.display_name = display_name
    if state is not None:
        agent.state = AgentState(state)
    if capacity is not None:
        if capacity < 0 or capacity > 50:
            raise ValueError("capacity must be between 0 and 50")
        agent.capacity = capacity
    if skills is not None:
        agent.skills = ",".join(s.strip() for s in skills if s.strip())
    if languages is not None:
        agent.languages = ",".join(s.strip() for s in languages if s.strip())
    agent.updated_at = utcnow()
    session.add(agent)
    await session.flush()
    return agent
