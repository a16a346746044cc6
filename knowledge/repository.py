"""Reads and writes of FAQ content inside the caller's transaction.

Every function takes the session of one transaction (`async with db.transaction() as s:`), so
an import, a publish or turning unanswered questions into an entry commits whole or not at all.
Each change to an entry appends a version row with the full content; restore is a new version
equal to an old one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .content import (
    ContentError,
    FaqEntry,
    Link,
    QuickReply,
    entry_to_dict,
    load_entries,
    parse_entry,
)
from .models import (
    EntryStatus,
    FaqEntryRecord,
    FaqEntryVersion,
    FaqPhrasing,
    UnansweredQuestion,
    UnansweredStatus,
    utcnow,
)

SEED_AUTHOR = "seed"
MAX_UNANSWERED_CHARS = 1000


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The entry changed since the editor loaded it (or the id is taken)."""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry's current (possibly unpublished) content and its state."""

    entry: FaqEntry
    status: EntryStatus
    version: int
    published_version: int | None
    updated_at: datetime
    updated_by: str

    @property
    def has_unpublished_changes(self) -> bool:
        return self.status == EntryStatus.PUBLISHED and self.published_version != self.version


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _content(entry: FaqEntry, status: EntryStatus) -> dict[str, Any]:
    return {**entry_to_dict(entry), "status": status.value}


def entry_from_content(content: dict[str, Any], version: int) -> FaqEntry:
    return replace(parse_entry(content, f"version {version}"), version=version)


async def _record(session: AsyncSession, slug: str, *, lock: bool = False) -> FaqEntryRecord:
    query = select(FaqEntryRecord).where(FaqEntryRecord.slug == slug)
    if lock:
        query = query.with_for_update()
    record = (await session.execute(query)).scalar_one_or_none()
    if record is None:
        raise NotFound(f"no FAQ entry '{slug}'")
    return record


async def _phrasings(session: AsyncSession, entry_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        select(FaqPhrasing.entry_id, FaqPhrasing.text)
        .where(FaqPhrasing.entry_id.in_(entry_ids))  # type: ignore[attr-defined]
        .order_by(FaqPhrasing.entry_id, FaqPhrasing.position)
    )
    found: dict[int, list[str]] = {}
    for entry_id, text in rows:
        found.setdefault(entry_id, []).append(text)
    return found


def _stored(record: FaqEntryRecord, phrasings: list[str]) -> StoredEntry:
    entry = FaqEntry(
        id=record.slug,
        topic=record.topic,
        question=record.question,
        answer=record.answer,
        phrasings=tuple(phrasings),
        tags=tuple(record.tags),
        locale=record.locale,
        links=tuple(Link(x["title"], x["url"]) for x in record.links),
        buttons=tuple(QuickReply(b["title"], b["payload"]) for b in record.buttons),
        version=record.version,
    )
    return StoredEntry(
        entry,
        EntryStatus(record.status),
        record.version,
        record.published_version,
        record.updated_at,
        record.updated_by,
    )


async def count_entries(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(FaqEntryRecord))).scalar())


async def get_entry(session: AsyncSession, slug: str) -> StoredEntry:
    record = await _record(session, slug)
    assert record.id is not None
    return _stored(record, (await _phrasings(session, [record.id])).get(record.id, []))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_entries(
    session: AsyncSession,
    *,
    search: str | None = None,
    status: EntryStatus | None = None,
    topic: str | None = None,
    locale: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[StoredEntry]:
    query = select(FaqEntryRecord)
    if search and search.strip():
        pattern = _like(search.strip().lower())
        in_phrasings = select(FaqPhrasing.entry_id).where(
            func.lower(FaqPhrasing.text).like(pattern, escape="\\")
        )
        query = query.where(
            or_(
                func.lower(FaqEntryRecord.slug).like(pattern, escape="\\"),
                func.lower(FaqEntryRecord.question).like(pattern, escape="\\"),
                func.lower(FaqEntryRecord.answer).like(pattern, escape="\\"),
                FaqEntryRecord.id.in_(in_phrasings),  # type: ignore[union-attr]
            )
        )
    if status is not None:
        query = query.where(FaqEntryRecord.status == status.value)
    if topic:
        query = query.where(FaqEntryRecord.topic == topic)
    if locale:
        query = query.where(FaqEntryRecord.locale == locale)
    query = query.order_by(FaqEntryRecord.topic, FaqEntryRecord.slug).limit(limit).offset(offset)
    records = list((await session.execute(query)).scalars())
    phrasings = await _phrasings(session, [r.id for r in records if r.id is not None])
    return [_stored(r, phrasings.get(r.id or 0, [])) for r in records]


async def topics(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(FaqEntryRecord.topic).distinct().order_by("topic"))
    return [t for (t,) in rows]


async def _write(
    session: AsyncSession,
    record: FaqEntryRecord,
    entry: FaqEntry,
    author: str,
    action: str,
) -> FaqEntryRecord:
    """Sets the record's content, replaces its phrasings, appends the version row."""
    record.topic = entry.topic
    record.question = entry.question
    record.answer = entry.answer
    record.tags = list(entry.tags)
    record.links = [{"title": x.title, "url": x.url} for x in entry.links]
    record.buttons = [{"title": b.title, "payload": b.payload} for b in entry.buttons]
    record.locale = entry.locale
    record.updated_at = utcnow()
    record.updated_by = author
    session.add(record)
    await session.flush()
    assert record.id is not None
    await session.execute(delete(FaqPhrasing).where(FaqPhrasing.entry_id == record.id))  # type: ignore[arg-type]
    session.add_all(
        FaqPhrasing(entry_id=record.id, position=i, text=text)
        for i, text in enumerate(entry.phrasings)
    )
    session.add(
        FaqEntryVersion(
            entry_id=record.id,
            version=record.version,
            action=action,
            author=author,
            content=_content(entry, EntryStatus(record.status)),
        )
    )
    await session.flush()
    return record


async def create_entry(
    session: AsyncSession,
    entry: FaqEntry,
    author: str,
    *,
    status: EntryStatus = EntryStatus.DRAFT,
    action: str = "created",
) -> StoredEntry:
    taken = await session.execute(select(FaqEntryRecord.id).where(FaqEntryRecord.slug == entry.id))
    if taken.first() is not None:
        raise Conflict(f"an entry with id '{entry.id}' exists")
    record = FaqEntryRecord(
        slug=entry.id,
        topic=entry.topic,
        question=entry.question,
        answer=entry.answer,
        status=status.value,
        version=1,
        published_version=1 if status == EntryStatus.PUBLISHED else None,
        updated_by=author,
    )
    await _write(session, record, entry, author, action)
    return await get_entry(session, entry.id)


async def save_entry(
    session: AsyncSession,
    entry: FaqEntry,
    author: str,
    *,
    expected_version: int | None = None,
    action: str = "edited",
) -> StoredEntry:
    """A new version of an existing entry; live content changes only when it is published."""
    record = await _record(session, entry.id, lock=True)
    if expected_version is not None and record.version != expected_version:
        raise Conflict(
            f"'{entry.id}' was changed by {record.updated_by} (version {record.version}) "
            f"after you opened version {expected_version}"
        )
    record.version += 1
    await _write(session, record, entry, author, action)
    return await get_entry(session, entry.id)


async def _set_status(
    session: AsyncSession, slug: str, status: EntryStatus, author: str, action: str
) -> StoredEntry:
    record = await _record(session, slug, lock=True)
    current = await get_entry(session, slug)
    record.status = status.value
    record.version += 1
    record.published_version = record.version if status == EntryStatus.PUBLISHED else None
    await _write(session, record, current.entry, author, action)
    return await get_entry(session, slug)


async def publish(session: AsyncSession, slug: str, author: str) -> StoredEntry:
    return await _set_status(session, slug, EntryStatus.PUBLISHED, author, "published")


async def unpublish(session: AsyncSession, slug: str, author: str) -> StoredEntry:
    return await _set_status(session, slug, EntryStatus.DRAFT, author, "unpublished")


async def archive(session: AsyncSession, slug: str, author: str) -> StoredEntry:
    return await _set_status(session, slug, EntryStatus.ARCHIVED, author, "archived")


async def history(session: AsyncSession, slug: str) -> list[FaqEntryVersion]:
    record = await _record(session, slug)
    rows = await session.execute(
        select(FaqEntryVersion)
        .where(FaqEntryVersion.entry_id == record.id)
        .order_by(FaqEntryVersion.version.desc())  # type: ignore[attr-defined]
    )
    return list(rows.scalars())


async def get_version(session: AsyncSession, slug: str, version: int) -> FaqEntryVersion:
    record = await _record(session, slug)
    row = await session.execute(
        select(FaqEntryVersion).where(
            FaqEntryVersion.entry_id == record.id, FaqEntryVersion.version == version
        )
    )
    found = row.scalar_one_or_none()
    if found is None:
        raise NotFound(f"'{slug}' has no version {version}")
    return found


async def restore(session: AsyncSession, slug: str, version: int, author: str) -> StoredEntry:
    """A new version whose content equals `version`'s (the status is left as it is)."""
    old = await get_version(session, slug, version)
    entry = entry_from_content(old.content, version)
    return await save_entry(session, entry, author, action=f"restored v{version}")


async def published_entries(session: AsyncSession) -> list[FaqEntry]:
    """What customers are answered from: each published entry at its published version."""
    rows = await session.execute(
        select(FaqEntryVersion.content, FaqEntryVersion.version)
        .join(
            FaqEntryRecord,
            and_(
                FaqEntryVersion.entry_id == FaqEntryRecord.id,
                FaqEntryVersion.version == FaqEntryRecord.published_version,
            ),
        )
        .where(FaqEntryRecord.status == EntryStatus.PUBLISHED.value)
        .order_by(FaqEntryRecord.slug)
    )
    return [entry_from_content(content, version) for content, version in rows]


async def content_revision(session: AsyncSession) -> int:
    """Grows with every change to any entry (each one appends a version row); a cheap way
    for a running process to notice content published elsewhere."""
    row = await session.execute(select(func.coalesce(func.max(FaqEntryVersion.id), 0)))
    return int(row.scalar_one())


async def import_entries(
    session: AsyncSession,
    entries: Sequence[tuple[FaqEntry, EntryStatus | None]],
    author: str,
    *,
    default_status: EntryStatus = EntryStatus.DRAFT,
) -> ImportResult:
    """Creates new entries and saves changed ones; an entry whose content and status are
    unchanged gets no new version. A status from the file wins over `default_status` for new
    entries and is applied to existing ones."""
    created = updated = unchanged = 0
    for entry, status in entries:
        try:
            current = await get_entry(session, entry.id)
        except NotFound:
            await create_entry(
                session, entry, author, status=status or default_status, action="imported"
            )
            created += 1
            continue
        wanted = status or current.status
        same = entry_to_dict(current.entry) == entry_to_dict(entry)
        if same and wanted == current.status and not current.has_unpublished_changes:
            unchanged += 1
            continue
        if not same:
            await save_entry(session, entry, author, action="imported")
        await _set_status(session, entry.id, wanted, author, "imported")
        updated += 1
    return ImportResult(created, updated, unchanged)


async def seed_if_empty(session: AsyncSession, path: Path) -> int:
    """Imports the seed file, published, into an empty content store; returns entries added."""
    if await count_entries(session) > 0:
        return 0
    entries = load_entries(path)
    await import_entries(
        session,
        [(e, EntryStatus.PUBLISHED) for e in entries],
        SEED_AUTHOR,
        default_status=EntryStatus.PUBLISHED,
    )
    return len(entries)


# ------------------------------------------------------------------ unanswered questions


async def record_unanswered(
    session: AsyncSession,
    question: str,
    decision: str,
    score: float,
    *,
    best_entry: str | None = None,
    conversation_id: str | None = None,
) -> None:
    question = " ".join(question.split())[:MAX_UNANSWERED_CHARS]
    if not question:
        return
    session.add(
        UnansweredQuestion(
            question=question,
            decision=decision,
            score=float(score),
            best_entry=best_entry,
            conversation_id=conversation_id,
        )
    )
    await session.flush()


async def open_unanswered(session: AsyncSession, limit: int = 2000) -> list[UnansweredQuestion]:
    """Open questions, newest first."""
    rows = await session.execute(
        select(UnansweredQuestion)
        .where(UnansweredQuestion.status == UnansweredStatus.OPEN.value)
        .order_by(UnansweredQuestion.asked_at.desc(), UnansweredQuestion.id.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    return list(rows.scalars())


async def _claim_unanswered(
    session: AsyncSession, ids: Sequence[int], slug: str, author: str
) -> list[UnansweredQuestion]:
    """Marks the questions resolved; every one must still be open (no double handling)."""
    if not ids:
        raise ContentError("no questions selected")
    rows = await session.execute(
        select(UnansweredQuestion)
        .where(UnansweredQuestion.id.in_(list(ids)))  # type: ignore[union-attr]
        .with_for_update()
    )
    found = list(rows.scalars())
    if len(found) != len(set(ids)) or any(q.status != UnansweredStatus.OPEN for q in found):
        raise Conflict("some of these questions were already handled or do not exist")
    for question in found:
        question.status = UnansweredStatus.RESOLVED.value
        question.resolved_entry = slug
        question.resolved_by = author
        question.resolved_at = utcnow()
        session.add(question)
    found.sort(key=lambda q: (q.asked_at, q.id or 0), reverse=True)
    return found


def same_question_key(text: str) -> str:
    """Questions that differ only in case, spacing or punctuation are the same question."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def _merge_phrasings(entry: FaqEntry, questions: Sequence[str]) -> tuple[str, ...]:
    seen = {same_question_key(p) for p in entry.all_phrasings}
    added = []
    for question in questions:
        if same_question_key(question) not in seen:
            seen.add(same_question_key(question))
            added.append(question)
    return (*entry.phrasings, *added)


async def add_as_phrasings(
    session: AsyncSession, ids: Sequence[int], slug: str, author: str
) -> StoredEntry:
    """The questions become phrasings of an existing entry (a new, unpublished version)."""
    current = await get_entry(session, slug)
    questions = await _claim_unanswered(session, ids, slug, author)
    phrasings = _merge_phrasings(current.entry, [q.question for q in questions])
    entry = parse_entry(entry_to_dict(replace(current.entry, phrasings=phrasings)), "phrasings")
    return await save_entry(session, entry, author, action="phrasings added")


async def entry_from_unanswered(
    session: AsyncSession, ids: Sequence[int], entry: FaqEntry, author: str
) -> StoredEntry:
    """A new draft entry; the questions become its phrasings."""
    created = await create_entry(session, entry, author)
    questions = await _claim_unanswered(session, ids, entry.id, author)
    phrasings = _merge_phrasings(created.entry, [q.question for q in questions])
    updated = parse_entry(entry_to_dict(replace(created.entry, phrasings=phrasings)), "phrasings")
    if phrasings != created.entry.phrasings:
        return await save_entry(session, updated, author, action="phrasings added")
    return created


async def dismiss_unanswered(session: AsyncSession, ids: Sequence[int], author: str) -> int:
    """Closes questions that need no entry (spam, out of scope)."""
    return len(await _claim_unanswered(session, ids, "", author))
