"""FAQ content as stored: entries, their phrasings, every saved version, unanswered questions.

An entry's editable content lives on `faq_entry` (plus its `faq_phrasing` rows); every save
appends a `faq_entry_version` row holding the full content as JSON, so history and restore
never depend on the current row. What customers are answered from is the version numbered
`published_version`: editing a published entry changes nothing live until it is published
again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), **kwargs))


class EntryStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class UnansweredStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class FaqEntryRecord(SQLModel, table=True):
    __tablename__ = "faq_entry"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True, index=True)
    topic: str = Field(max_length=80, index=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(sa_column=Column(Text, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    links: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    buttons: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    locale: str = Field(default="en", max_length=16, index=True)
    status: str = Field(default=EntryStatus.DRAFT, max_length=16, index=True)
    version: int = Field(default=1)
    published_version: int | None = Field(default=None)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    updated_by: str = Field(max_length=150)


class FaqPhrasing(SQLModel, table=True):
    """An alternative way customers ask an entry's question (the canonical one is not here)."""

    __tablename__ = "faq_phrasing"
    __table_args__ = (UniqueConstraint("entry_id", "position", name="uq_phrasing_position"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="faq_entry.id", index=True)
    position: int
    text: str = Field(sa_column=Column(Text, nullable=False))


class FaqEntryVersion(SQLModel, table=True):
    """One saved state of an entry: who, when, what action, and the full content."""

    __tablename__ = "faq_entry_version"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_entry_version"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="faq_entry.id", index=True)
    version: int
    action: str = Field(max_length=32)  # created, edited, imported, restored, ...
    author: str = Field(max_length=150)
    created_at: datetime = _ts(nullable=False)
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class UnansweredQuestion(SQLModel, table=True):
    """A customer question that ended in not-found or clarify, until content staff act on it."""

    __tablename__ = "faq_unanswered"
    __table_args__ = (Index("ix_faq_unanswered_status_time", "status", "asked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    decision: str = Field(max_length=16)
    score: float = 0.0
    best_entry: str | None = Field(default=None, max_length=80)
    conversation_id: str | None = Field(default=None, max_length=64)
    asked_at: datetime = _ts(nullable=False)
    status: str = Field(default=UnansweredStatus.OPEN, max_length=16)
    resolved_entry: str | None = Field(default=None, max_length=80)
    resolved_by: str | None = Field(default=None, max_length=150)
    resolved_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
