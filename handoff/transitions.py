"""Named ownership transitions. Each is one conditional update plus an event row, in the
caller's transaction; a transition whose precondition no longer holds changes nothing."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import Conversation, Owner, store
from conversations.models import utcnow

from .models import QueueEntry


class HandoffReason(StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    NOT_UNDERSTOOD = "not_understood"
    KNOWLEDGE_NOT_FOUND = "knowledge_not_found"
    BOT_UNAVAILABLE = "bot_unavailable"


async def _move(session: AsyncSession, conversation_id: str, expected: Owner, new: Owner) -> bool:
    result = await session.exec(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.owner) == expected)
        .values(owner=new, agent_id=None, updated_at=utcnow())
    )
    return result.rowcount == 1


async def hand_off(
    session: AsyncSession,
    conversation_id: str,
    reason: str,
    *,
    queue: str = "general",
    note: str | None = None,
) -> bool:
    """Bot → queue. False when the bot did not own the conversation (already handed off)."""
    if not await _move(session, conversation_id, Owner.BOT, Owner.QUEUED):
        return False
    session.add(QueueEntry(conversation_id=conversation_id, queue=queue, reason=reason, note=note))
    await store.append_event(
        session, conversation_id, "conversation.handed_off", reason=reason, queue=queue
    )
    return True


async def hand_back(session: AsyncSession, conversation_id: str) -> bool:
    """Queue → bot (an agent's hand-back arrives with the console)."""
    if not await _move(session, conversation_id, Owner.QUEUED, Owner.BOT):
        return False
    await session.exec(
        update(QueueEntry)
        .where(
            col(QueueEntry.conversation_id) == conversation_id, col(QueueEntry.status) == "waiting"
        )
        .values(status="closed")
    )
    await store.append_event(session, conversation_id, "conversation.handed_back")
    return True
