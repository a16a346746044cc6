"""The handoff's records: queue entries, agents' routing state, follow-ups."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from conversations.models import utcnow


class EntryStatus(StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    CLOSED = "closed"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    HANDED_BACK = "handed_back"
    TRANSFERRED = "transferred"
    ABANDONED = "abandoned"


class AgentState(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Priority:
    NORMAL = 0
    VIP = 10


def _when(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class QueueEntry(SQLModel, table=True):
    """One wait in a queue and, once claimed, one agent's ownership of the conversation.

    At most one entry per conversation is active (waiting or claimed).
    """

    __tablename__ = "queue_entry"
    __table_args__ = (
        Index(
            "uq_queue_entry_active",
            "conversation_id",
            unique=True,
            sqlite_where=Column("status") != "closed",
            postgresql_where=Column("status") != "closed",
        ),
        Index("ix_queue_entry_pick", "status", "queue", "priority", "created_at"),
        # The waiting entries in the order they are taken: "take next" walks this and
        # stops at the first entry the agent may serve, whatever the queue's length.
        Index(
            "ix_queue_entry_next",
            Column("priority").desc(),
            "created_at",
            "id",
            sqlite_where=Column("status") == "waiting",
            postgresql_where=Column("status") == "waiting",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=32)
    customer_id: int | None = Field(default=None, index=True)
    queue: str = Field(default="general", max_length=64)
    language: str = Field(default="en", max_length=16)
    channel: str = Field(default="", max_length=32)
    reason: str = Field(max_length=64)
    note: str | None = Field(default=None, sa_column=Column(Text))
    priority: int = Field(default=Priority.NORMAL)
    target_agent_id: int | None = Field(default=None)
    transferred: bool = Field(default=False)  # a wait after a transfer, not a new handoff
    status: str = Field(default=EntryStatus.WAITING, max_length=16, index=True)
    agent_id: int | None = Field(default=None, index=True)
    outcome: str | None = Field(default=None, max_length=16)
    disposition: str | None = Field(default=None, max_length=64)
    position_told: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    claimed_at: datetime | None = _when()
    closed_at: datetime | None = _when()
    told_at: datetime | None = _when()


class Agent(SQLModel, table=True):
    """An agent's routing state. `agent_id` is the staff user's id; `active` counts the
    conversations the agent owns and only moves by conditional updates."""

    __tablename__ = "handoff_agent"
    __table_args__ = (CheckConstraint("active >= 0", name="ck_handoff_agent_active"),)

    agent_id: int = Field(primary_key=True)
    display_name: str = Field(default="", max_length=200)
    state: str = Field(default=AgentState.OFFLINE, max_length=16)
    capacity: int = Field(default=3)
    active: int = Field(default=0)
    skills: str = Field(default="general", max_length=500)  # queues, comma-separated
    languages: str = Field(default="en", max_length=200)
    last_assigned_at: datetime | None = _when()
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )

    def skill_list(self) -> list[str]:
        return [s.strip() for s in self.skills.split(",") if s.strip()]

    def language_list(self) -> list[str]:
        return [s.strip() for s in self.languages.split(",") if s.strip()]


class FollowUpStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class FollowUp(SQLModel, table=True):
    """A handoff outside business hours: answered later by an agent, by email when an
    address is known, otherwise on the customer's channel. Answered once: who, when, and
    the outbox row that carries the answer."""

    __tablename__ = "handoff_follow_up"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=32)
    email: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=64)
    status: str = Field(default=FollowUpStatus.OPEN, max_length=16, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    answered_by: int | None = Field(default=None)
    answered_by_name: str | None = Field(default=None, max_length=200)
    answered_at: datetime | None = _when()
    answer_channel: str | None = Field(default=None, max_length=32)
    answer_message_id: int | None = Field(default=None)
