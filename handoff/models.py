"""The queue record a handoff creates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel

from conversations.models import utcnow


class QueueEntry(SQLModel, table=True):
    __tablename__ = "queue_entry"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True, max_length=32)
    queue: str = Field(default="general", max_length=64)
    reason: str = Field(max_length=64)
    note: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(default="waiting", max_length=16, index=True)  # waiting | claimed | closed
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
