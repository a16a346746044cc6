"""Named ownership transitions. Each is a few conditional updates plus an event row, in the
caller's transaction; a transition whose precondition no longer holds changes nothing.

Other packages hand a conversation to people with `hand_off(session, conversation_id,
reason, queue=..., priority=...)`; the gateway's dispatcher then assigns it to an agent.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import Conversation, Owner, store
from conversations.models import utcnow

from .models import Agent, EntryStatus, Outcome, Priority, QueueEntry


class HandoffReason(StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    NOT_UNDERSTOOD = "not_understood"
    KNOWLEDGE_NOT_FOUND = "knowledge_not_found"
    BOT_UNAVAILABLE = "bot_unavailable"
    REFUND = "refund"
    COMPLAINT = "complaint"
    NEGATIVE_SENTIMENT = "negative_sentiment"
    SENSITIVE_WORDS = "sensitive_words"
    VIP_REQUEST = "vip_request"


async def _move(
    session: AsyncSession,
    conversation_id: str,
    expected: Owner,
    new: Owner,
    agent_id: int | None = None,
    expected_agent: int | None = None,
) -> bool:
    query = update(Conversation).where(
        col(Conversation.id) == conversation_id, col(Conversation.owner) == expected
    )
    if expected_agent is not None:
        query = query.where(col(Conversation.agent_id) == expected_agent)
    result = await session.exec(query.values(owner=new, agent_id=agent_id, updated_at=utcnow()))
    return result.rowcount == 1


async def hand_off(
    session: AsyncSession,
    conversation_id: str,
    reason: str,
    *,
    queue: str = "general",
    note: str | None = None,
    priority: int = Priority.NORMAL,
    language: str = "en",
    target_agent_id: int | None = None,
) -> bool:
    """Bot → queue. False when the bot did not own the conversation (already handed off).

    `queue` is the skill an agent needs (orders, refunds, general…); a higher `priority`
    is served first (`Priority.VIP`), then the longest wait.
    """
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or not await _move(session, conversation_id, Owner.BOT, Owner.QUEUED):
        return False
    session.add(
        QueueEntry(
            conversation_id=conversation_id,
            customer_id=conversation.customer_id,
            queue=queue,
            language=language,
            channel=conversation.channel,
            reason=reason,
            note=note,
            priority=priority,
            target_agent_id=target_agent_id,
        )
    )
    await store.append_event(
        session,
        conversation_id,
        "conversation.handed_off",
        reason=reason,
        queue=queue,
        priority=priority,
    )
    return True


async def active_entry(session: AsyncSession, conversation_id: str) -> QueueEntry | None:
    query = select(QueueEntry).where(
        QueueEntry.conversation_id == conversation_id, QueueEntry.status != EntryStatus.CLOSED
    )
    return (await session.exec(query)).first()


async def close_entry(
    session: AsyncSession,
    entry: QueueEntry,
    outcome: Outcome,
    disposition: str | None = None,
) -> bool:
    """Close an active entry once; release the agent's capacity if it was claimed."""
    status, agent_id = entry.status, entry.agent_id  # the update below refreshes `entry`
    result = await session.exec(
        update(QueueEntry)
        .where(col(QueueEntry.id) == entry.id, col(QueueEntry.status) == status)
        .values(
            status=EntryStatus.CLOSED, outcome=outcome, disposition=disposition, closed_at=utcnow()
        )
    )
    if result.rowcount != 1:
        return False
    if status == EntryStatus.CLAIMED and agent_id is not None:
        await session.exec(
            update(Agent)
            .where(col(Agent.agent_id) == agent_id, col(Agent.active) > 0)
            .values(active=col(Agent.active) - 1)
        )
    return True


async def hand_back(
    session: AsyncSession, conversation_id: str, *, agent_id: int | None = None
) -> bool:
    """Queue or agent → bot. With `agent_id`, only that agent's conversation moves."""
    if agent_id is None:
        moved = await _move(session, conversation_id, Owner.QUEUED, Owner.BOT)
    else:
        moved = await _move(
            session, conversation_id, Owner.AGENT, Owner.BOT, expected_agent=agent_id
        )
    if not moved:
        return False
    entry = await active_entry(session, conversation_id)
    if entry is not None:
        await close_entry(session, entry, Outcome.HANDED_BACK)
    await store.append_event(
        session, conversation_id, "conversation.handed_back", agent_id=agent_id
    )
    return True


async def abandon(session: AsyncSession, conversation_id: str) -> bool:
    """The customer left before an agent picked the conversation up."""
    entry = await active_entry(session, conversation_id)
    if entry is None or entry.status != EntryStatus.WAITING:
        return False
    if not await _move(session, conversation_id, Owner.QUEUED, Owner.BOT):
        return False
    await close_entry(session, entry, Outcome.ABANDONED)
    waited = (utcnow() - store.as_utc(entry.created_at)).total_seconds()
    await store.append_event(
        session, conversation_id, "conversation.abandoned", queue=entry.queue, wait_s=waited
    )
    return True
