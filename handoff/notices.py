"""What the customer is told by the handoff itself, queued on their channel in the caller's
transaction (the outbox delivers it)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import OutboundMessage
from conversations import Conversation, Sender, store

from .models import Agent

JOINED_FALLBACK_NAME = "A member of our team"
JOINED_SUFFIX = " has joined the conversation."


def joined_text(display_name: str | None) -> str:
    return (display_name or JOINED_FALLBACK_NAME) + JOINED_SUFFIX


async def say(
    session: AsyncSession, conversation_id: str, text: str, sender: str = Sender.SYSTEM
) -> int:
    """Queue one message to the customer on their channel (delivered by the outbox)."""
    conversation = await session.get(Conversation, conversation_id)
    assert conversation is not None
    row = await store.add_outbound(
        session, conversation, OutboundMessage(text=text, sender=sender), sender=sender
    )
    assert row.id is not None
    return row.id


async def announce(session: AsyncSession, conversation_id: str, agent_id: int) -> int:
    agent = await session.get(Agent, agent_id)
    return await say(session, conversation_id, joined_text(agent.display_name if agent else None))
