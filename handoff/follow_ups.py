"""Answering follow-ups: the handoffs that came outside business hours.

An agent's answer goes out by email when the customer's address is known and the email
channel is enabled (on the customer's email conversation, made if they never wrote by
email), otherwise on the conversation's own channel. Either way it is an outbox row, so
it survives a restart and is retried like any reply. A follow-up is answered once: the
first agent's conditional update wins, a second answer changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import OutboundMessage
from conversations import (
    ChannelIdentity,
    Conversation,
    Customer,
    Direction,
    Message,
    Sender,
    store,
)
from conversations.customers import survivor
from conversations.models import utcnow

from .models import FollowUp, FollowUpStatus

EMAIL_CHANNEL = "email"


class FollowUpGone(Exception):
    """No such follow-up."""


class AlreadyAnswered(Exception):
    """Another agent answered it first."""


@dataclass(frozen=True)
class Answer:
    follow_up_id: int
    channel: str
    message_id: int


async def email_address(session: AsyncSession, follow_up: FollowUp) -> str | None:
    """The address captured with the follow-up, or one the customer's record gained since (the
    record of the person, when the customer was merged across channels)."""
    if follow_up.email:
        return follow_up.email.strip().lower()
    conversation = await session.get(Conversation, follow_up.conversation_id)
    if conversation is None:
        return None
    for customer in (
        await survivor(session, conversation.customer_id),
        await session.get(Customer, conversation.customer_id),
    ):
        if customer is not None and customer.email:
            return customer.email.strip().lower()
    return None


async def email_conversation(session: AsyncSession, customer_id: int, address: str) -> Conversation:
    """The customer's open email conversation with `address`, started if needed. An
    address already known as someone's email identity is used as it is."""
    identity = await store.find_identity(session, EMAIL_CHANNEL, address)
    if identity is None:
        try:
            async with session.begin_nested():
                identity = ChannelIdentity(
                    customer_id=customer_id, channel=EMAIL_CHANNEL, external_id=address
                )
                session.add(identity)
                await session.flush()
        except IntegrityError:
            identity = await store.find_identity(session, EMAIL_CHANNEL, address)
            if identity is None:
                raise
    return await store.open_conversation(session, identity)


async def answer(
    session: AsyncSession,
    follow_up_id: int,
    *,
    agent_id: int,
    agent_name: str,
    text: str,
    email_enabled: bool,
) -> Answer:
    """Close the follow-up as answered by this agent and queue the answer to the customer."""
    follow_up = await session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise FollowUpGone(follow_up_id)
    now = utcnow()
    claimed = await session.exec(
        update(FollowUp)
        .where(col(FollowUp.id) == follow_up_id, col(FollowUp.status) == FollowUpStatus.OPEN)
        .values(
            status=FollowUpStatus.ANSWERED,
            answered_by=agent_id,
            answered_by_name=agent_name,
            answered_at=now,
        )
    )
    if claimed.rowcount != 1:
        raise AlreadyAnswered(follow_up_id)
    conversation = await session.get(Conversation, follow_up.conversation_id)
    assert conversation is not None
    address = await email_address(session, follow_up) if email_enabled else None
    target = conversation
    if address is not None and conversation.channel != EMAIL_CHANNEL:
        target = await email_conversation(session, conversation.customer_id, address)
    row = await store.add_outbound(
        session,
        target,
        OutboundMessage(text=text, sender=Sender.AGENT),
        sender=Sender.AGENT,
        extra={"agent_id": agent_id, "agent": agent_name, "follow_up_id": follow_up_id},
    )
    assert row.id is not None
    await session.exec(
        update(FollowUp)
        .where(col(FollowUp.id) == follow_up_id)
        .values(answer_channel=target.channel, answer_message_id=row.id)
    )
    await store.append_event(
        session,
        conversation.id,
        "follow_up.answered",
        follow_up_id=follow_up_id,
        agent_id=agent_id,
        channel=target.channel,
        message_id=row.id,
    )
    return Answer(follow_up_id, target.channel, row.id)


async def listing(
    session: AsyncSession, status: FollowUpStatus, limit: int = 100
) -> list[dict[str, Any]]:
    """Follow-ups with what the customer wrote (their last five messages)."""
    order = col(FollowUp.id) if status == FollowUpStatus.OPEN else col(FollowUp.id).desc()
    rows = (
        await session.exec(
            select(FollowUp, Conversation, Customer)
            .join(Conversation, col(Conversation.id) == col(FollowUp.conversation_id))
            .join(Customer, col(Customer.id) == col(Conversation.customer_id))
            .where(FollowUp.status == status)
            .order_by(order)
            .limit(limit)
        )
    ).all()
    delivery: dict[int, str] = {}
    answer_ids = [f.answer_message_id for f, _, _ in rows if f.answer_message_id is not None]
    if answer_ids:
        delivery = {
            i: s
            for i, s in (
                await session.exec(
                    select(Message.id, Message.status).where(col(Message.id).in_(answer_ids))
                )
            ).all()
            if i is not None
        }
    out = []
    for follow_up, conversation, customer in rows:
        said = (
            await session.exec(
                select(Message.text)
                .where(
                    Message.conversation_id == conversation.id,
                    Message.direction == Direction.IN,
                )
                .order_by(col(Message.id).desc())
                .limit(5)
            )
        ).all()
        address = follow_up.email or customer.email or await email_address(session, follow_up)
        out.append(
            {
                "id": follow_up.id,
                "conversation_id": conversation.id,
                "channel": conversation.channel,
                "customer": customer.display_name,
                "email": address,
                "reason": follow_up.reason,
                "status": follow_up.status,
                "created_at": store.as_utc(follow_up.created_at).isoformat(),
                "customer_wrote": [t for t in reversed(said) if t],
                "answered_by": follow_up.answered_by_name,
                "answered_at": store.as_utc(follow_up.answered_at).isoformat()
                if follow_up.answered_at
                else None,
                "answer_channel": follow_up.answer_channel,
                "delivery": delivery.get(follow_up.answer_message_id or 0),
            }
        )
    return out
