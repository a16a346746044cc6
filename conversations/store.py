"""Reads and writes of conversation records. Every function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors.envelope import Button, HistoryItem, InboundMessage, OutboundMessage

from .models import (
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    MessageStatus,
    Sender,
    utcnow,
)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def find_identity(
    session: AsyncSession, channel: str, address: str
) -> ChannelIdentity | None:
    query = select(ChannelIdentity).where(
        ChannelIdentity.channel == channel, ChannelIdentity.external_id == address
    )
    return (await session.exec(query)).first()


async def find_or_create_identity(
    session: AsyncSession, channel: str, address: str
) -> ChannelIdentity:
    """Tolerates the race where two messages from a new address arrive at once."""
    identity = await find_identity(session, channel, address)
    if identity is not None:
        return identity
    try:
        async with session.begin_nested():
            customer = Customer()
            session.add(customer)
            await session.flush()
            identity = ChannelIdentity(
                customer_id=customer.id, channel=channel, external_id=address
            )
            session.add(identity)
    except IntegrityError:
        identity = await find_identity(session, channel, address)
        if identity is None:
            raise
    return identity


async def current_conversation(
    session: AsyncSession, identity: ChannelIdentity
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.identity_id == identity.id, Conversation.status == ConversationStatus.OPEN
    )
    return (await session.exec(query)).first()


async def open_conversation(session: AsyncSession, identity: ChannelIdentity) -> Conversation:
    """The identity's open conversation, started if there is none (one open per identity)."""
    conversation = await current_conversation(session, identity)
    if conversation is not None:
        return conversation
    try:
        async with session.begin_nested():
            assert identity.id is not None
            conversation = Conversation(
                identity_id=identity.id, customer_id=identity.customer_id, channel=identity.channel
            )
            session.add(conversation)
            await session.flush()
            await append_event(session, conversation.id, "conversation.started")
    except IntegrityError:
        conversation = await current_conversation(session, identity)
        if conversation is None:
            raise
    return conversation


async def get_conversation(session: AsyncSession, conversation_id: str) -> Conversation | None:
    return await session.get(Conversation, conversation_id)


async def find_message(
    session: AsyncSession, channel: str, channel_message_id: str
) -> Message | None:
    query = select(Message).where(
        Message.channel == channel, Message.channel_message_id == channel_message_id
    )
    return (await session.exec(query)).first()


def _attachments_json(message: InboundMessage) -> list[dict[str, Any]]:
    return [
        {"kind": a.kind, "url": a.url, "name": a.name, "mime_type": a.mime_type, "size": a.size}
        for a in message.attachments
    ]


async def add_inbound(
    session: AsyncSession, conversation: Conversation, message: InboundMessage
) -> tuple[Message, bool]:
    """Store a customer's message once; a replay returns the stored row and `True`."""
    existing = await find_message(session, message.channel, message.channel_message_id)
    if existing is not None:
        return existing, True
    row = Message(
        conversation_id=conversation.id,
        identity_id=conversation.identity_id,
        direction=Direction.IN,
        sender=Sender.CUSTOMER,
        channel=message.channel,
        channel_message_id=message.channel_message_id,
        text=message.text,
        payload=message.payload,
        data={"attachments": _attachments_json(message), "metadata": dict(message.metadata)},
        status=MessageStatus.RECEIVED,
        created_at=message.received_at,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        existing = await find_message(session, message.channel, message.channel_message_id)
        if existing is None:
            raise
        return existing, True
    conversation.updated_at = utcnow()
    session.add(conversation)
    return row, False


async def reply_target(session: AsyncSession, conversation: Conversation) -> ChannelIdentity:
    """Where replies go unless someone picks another address: the identity the customer
    last wrote from in this conversation (it may have joined from another channel)."""
    query = (
        select(ChannelIdentity)
        .join(Message, col(Message.identity_id) == col(ChannelIdentity.id))
        .where(Message.conversation_id == conversation.id, Message.direction == Direction.IN)
        .order_by(col(Message.id).desc())
        .limit(1)
    )
    identity = (await session.exec(query)).first()
    if identity is None:
        identity = await session.get(ChannelIdentity, conversation.identity_id)
    assert identity is not None
    return identity


async def add_outbound(
    session: AsyncSession,
    conversation: Conversation,
    message: OutboundMessage,
    *,
    sender: str = Sender.BOT,
    status: str = MessageStatus.PENDING,
    extra: dict[str, Any] | None = None,
    to: ChannelIdentity | None = None,
    flush: bool = True,
) -> Message:
    """A reply in the conversation, sent to `to` or else where the customer last wrote.

    Without `flush` the row gets its id at the caller's next flush (many rows, one insert)."""
    if to is None:
        to = await reply_target(session, conversation)
    assert to.id is not None
    data: dict[str, Any] = {
        "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
        "image": message.image,
        "custom": dict(message.custom) if message.custom is not None else None,
    }
    if extra:
        data.update(extra)
    row = Message(
        conversation_id=conversation.id,
        identity_id=to.id,
        direction=Direction.OUT,
        sender=sender,
        channel=to.channel,
        text=message.text,
        data=data,
        status=status,
        sent_at=utcnow() if status == MessageStatus.SENT else None,
    )
    session.add(row)
    if flush:
        await session.flush()
    return row


def _buttons(row: Message) -> tuple[Button, ...]:
    return tuple(
        Button(str(b.get("title", "")), str(b.get("payload", "")))
        for b in row.data.get("buttons") or ()
        if isinstance(b, dict)
    )


def to_outbound(row: Message) -> OutboundMessage:
    return OutboundMessage(
        text=row.text,
        buttons=_buttons(row),
        image=row.data.get("image"),
        custom=row.data.get("custom"),
        message_id=row.id,
        sender=row.sender,
        created_at=as_utc(row.created_at),
    )


def to_history_item(row: Message) -> HistoryItem:
    assert row.id is not None
    return HistoryItem(
        id=row.id,
        direction=row.direction,
        sender=row.sender,
        text=row.text,
        buttons=_buttons(row) if row.direction == Direction.OUT else (),
        image=row.data.get("image"),
        created_at=as_utc(row.created_at),
    )


async def history(
    session: AsyncSession, channel: str, address: str, after_id: int = 0, limit: int = 200
) -> Sequence[Message]:
    """The latest messages from and to the address, over all its conversations, oldest
    first (messages the customer wrote on another channel are not shown here)."""
    query = (
        select(Message)
        .join(ChannelIdentity, col(Message.identity_id) == col(ChannelIdentity.id))
        .where(
            ChannelIdentity.channel == channel,
            ChannelIdentity.external_id == address,
            col(Message.id) > after_id,
        )
        .order_by(col(Message.id).desc())
        .limit(limit)
    )
    rows = list((await session.exec(query)).all())
    rows.reverse()
    return rows


async def conversation_messages(session: AsyncSession, conversation_id: str) -> Sequence[Message]:
    query = (
        select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.id))
    )
    return (await session.exec(query)).all()


async def append_event(
    session: AsyncSession, conversation_id: str, event_type: str, **data: Any
) -> ConversationEvent:
    event = ConversationEvent(conversation_id=conversation_id, type=event_type, data=data)
    session.add(event)
    return event


async def events(session: AsyncSession, conversation_id: str) -> Sequence[ConversationEvent]:
    query = (
        select(ConversationEvent)
        .where(ConversationEvent.conversation_id == conversation_id)
        .order_by(col(ConversationEvent.id))
    )
    return (await session.exec(query)).all()
