"""The records every part of the system shares: who wrote, where, and what was said."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Index, Text, UniqueConstraint, func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def status_still(column: Any, status: str) -> ColumnElement[bool]:
    """`column = status` for rows already picked by id, written so no index on the status
    can serve it: PostgreSQL otherwise reads every row in that status whenever its
    statistics say the status is rare, which is wrong during a burst (thousands of
    messages waiting), and each statement of the burst then scans them all."""
    return func.coalesce(column, "") == status


def new_conversation_id() -> str:
    return uuid.uuid4().hex


def _ts(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), **kwargs))


class Owner(StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"


class ConversationStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Sender(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    RECEIVED = "received"  # inbound, stored, not yet routed
    PROCESSED = "processed"  # inbound, routed to the bot or to people
    PENDING = "pending"  # outbound, waiting in the outbox
    SENDING = "sending"  # outbound, claimed by a sender
    SENT = "sent"  # outbound, handed to the channel
    FAILED = "failed"  # outbound, given up


class Customer(SQLModel, table=True):
    """A person. Customers found to be the same person are merged: the newer one points at
    the older one (`merged_into_id`, never a chain); their identities stay as they are."""

    id: int | None = Field(default=None, primary_key=True)
    merged_into_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=32, index=True)
    created_at: datetime = _ts(nullable=False)


class ChannelIdentity(SQLModel, table=True):
    """A customer's address on one channel; unique per channel."""

    __tablename__ = "channel_identity"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    created_at: datetime = _ts(nullable=False)


class Conversation(SQLModel, table=True):
    """Owned by exactly one of: the bot, the queue, one agent (`agent_id` set only then).

    `identity_id` and `channel` are where it started; each message records its own
    identity, since a conversation with people gathers the customer's messages from every
    linked channel (see `conversations.intake`).
    """

    __table_args__ = (
        CheckConstraint(
            "(owner = 'agent' AND agent_id IS NOT NULL) OR (owner <> 'agent' AND agent_id IS NULL)",
            name="ck_conversation_owner_agent",
        ),
        Index(
            "uq_conversation_open_identity",
            "identity_id",
            unique=True,
            sqlite_where=Column("status") == "open",
            postgresql_where=Column("status") == "open",
        ),
    )

    id: str = Field(default_factory=new_conversation_id, primary_key=True, max_length=32)
    identity_id: int = Field(foreign_key="channel_identity.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    channel: str = Field(max_length=32)
    owner: str = Field(default=Owner.BOT, max_length=16, index=True)
    agent_id: int | None = Field(default=None)
    status: str = Field(default=ConversationStatus.OPEN, max_length=16)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Message(SQLModel, table=True):
    """`identity_id` is the address it came from (inbound) or goes to (outbound)."""

    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id", name="uq_message_channel_id"),
        Index("ix_message_outbox", "direction", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=32)
    identity_id: int = Field(foreign_key="channel_identity.id", index=True)
    direction: str = Field(max_length=8)
    sender: str = Field(max_length=16)
    channel: str = Field(max_length=32)
    channel_message_id: str | None = Field(default=None, max_length=300)
    text: str | None = Field(default=None, sa_column=Column(Text))
    payload: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16)
    attempts: int = Field(default=0)
    provider_message_id: str | None = Field(default=None, max_length=300)
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _ts(nullable=False)
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )


class ConversationEvent(SQLModel, table=True):
    """Append-only history of what happened to a conversation (`noun.past_tense` types)."""

    __tablename__ = "conversation_event"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=32)
    type: str = Field(max_length=64, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
