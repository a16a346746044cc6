"""Conversations and agents for the handoff tests, made through the public APIs."""

from __future__ import annotations

import uuid

from connectors import InboundMessage
from conversations import store
from gateway.db import Database
from handoff import AgentState, Priority, hand_off, set_agent


async def new_conversation(db: Database, address: str | None = None, channel: str = "rest") -> str:
    address = address or uuid.uuid4().hex[:12]
    message = InboundMessage(
        channel=channel,
        channel_message_id=f"{address}:{uuid.uuid4().hex[:8]}",
        address=address,
        text="help",
    )
    async with db.transaction() as session:
        identity = await store.find_or_create_identity(session, channel, address)
        conversation = await store.open_conversation(session, identity)
        await store.add_inbound(session, conversation, message)
        return conversation.id


async def queued(
    db: Database,
    *,
    queue: str = "general",
    priority: int = Priority.NORMAL,
    address: str | None = None,
    language: str = "en",
) -> str:
    conversation_id = await new_conversation(db, address)
    async with db.transaction() as session:
        assert await hand_off(
            session,
            conversation_id,
            "customer_request",
            queue=queue,
            priority=priority,
            language=language,
        )
    return conversation_id


async def agent(
    db: Database,
    agent_id: int,
    *,
    skills: tuple[str, ...] = ("general",),
    capacity: int = 3,
    state: AgentState = AgentState.ONLINE,
    languages: tuple[str, ...] = ("en",),
) -> None:
    async with db.transaction() as session:
        await set_agent(
            session,
            agent_id,
            state=state,
            capacity=capacity,
            skills=skills,
            languages=languages,
            display_name=f"Agent {agent_id}",
        )
