"""The handoff's background work in each gateway process: assign waiting conversations,
tell waiting customers their place and estimated wait (and when that changes), record
customers who left before pickup, and open follow-ups outside business hours.

Every step is a conditional update, so two gateway processes running it side by side
assign, tell and abandon each entry once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import (
    ChannelIdentity,
    Conversation,
    Customer,
    Direction,
    Message,
    store,
)
from conversations.models import utcnow

from .assignment import assign_waiting
from .hours import BusinessHours
from .models import EntryStatus, FollowUp, QueueEntry
from .notices import announce, say
from .transitions import abandon
from .waiting import estimate_wait_s, position, wait_text

log = structlog.get_logger(__name__)

Transaction = Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]
Deliver = Callable[[list[int]], Awaitable[None]]

CLOSED_TEXT = (
    "Our team is away right now. We have saved your conversation and will answer as soon as "
    "we are back{email}."
)


@dataclass(frozen=True)
class DeskConfig:
    auto_assign: bool = True
    interval_s: float = 1.0
    update_every_s: float = 60.0
    abandon_after_s: float = 900.0
    default_handle_s: float = 300.0
    tell_place: bool = True
    hours: BusinessHours = field(default_factory=lambda: BusinessHours.parse("always"))


class Desk:
    def __init__(self, transaction: Transaction, deliver: Deliver, config: DeskConfig) -> None:
        self._transaction = transaction
        self._deliver = deliver
        self.config = config
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="handoff-desk")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("handoff.desk_failed")
            await asyncio.sleep(self.config.interval_s)

    async def tick(self) -> None:
        """One round: abandon, assign, tell. Public so tests can drive it step by step."""
        outgoing: list[int] = []
        await self.abandon_silent()
        if self.config.auto_assign:
            async with self._transaction() as session:
                for assignment in await assign_waiting(session):
                    outgoing.append(
                        await announce(session, assignment.conversation_id, assignment.agent_id)
                    )
                    log.info(
                        "handoff.assigned",
                        conversation=assignment.conversation_id,
                        agent=assignment.agent_id,
                        mode=assignment.mode,
                    )
        if self.config.tell_place:
            outgoing += await self.tell_waiting()
        await self._deliver(outgoing)

    async def tell_waiting(self) -> list[int]:
        """One short transaction per entry, so claims are never held up behind this round."""
        async with self._transaction() as session:
            ids = (
                await session.exec(
                    select(QueueEntry.id)
                    .where(QueueEntry.status == EntryStatus.WAITING)
                    .order_by(col(QueueEntry.id))
                    .limit(500)
                )
            ).all()
        outgoing: list[int] = []
        for entry_id in ids:
            async with self._transaction() as session:
                message_id = await self._tell(session, entry_id)
            if message_id is not None:
                outgoing.append(message_id)
        return outgoing

    async def _tell(self, session: AsyncSession, entry_id: int | None) -> int | None:
        now = utcnow()
        entry = await session.get(QueueEntry, entry_id)
        if entry is None or entry.status != EntryStatus.WAITING:
            return None
        place = await position(session, entry)
        first = entry.position_told is None
        due = entry.told_at is None or store.as_utc(entry.told_at) <= now - timedelta(
            seconds=self.config.update_every_s
        )
        if not first and (place == entry.position_told or not due):
            return None
        told = await session.exec(
            update(QueueEntry)
            .where(
                col(QueueEntry.id) == entry.id,
                col(QueueEntry.status) == EntryStatus.WAITING,
                col(QueueEntry.position_told).is_(None)
                if first
                else col(QueueEntry.position_told) == entry.position_told,
            )
            .values(position_told=place, told_at=now)
        )
        if told.rowcount != 1:
            return None  # taken meanwhile, or another process told this customer
        if first and not self.config.hours.is_open(now):
            return await self._follow_up(session, entry)
        wait = await estimate_wait_s(session, entry, place, self.config.default_handle_s)
        await store.append_event(
            session,
            entry.conversation_id,
            "queue.position_told",
            position=place,
            estimate_s=round(wait),
        )
        return await say(session, entry.conversation_id, wait_text(place, wait))

    async def _follow_up(self, session: AsyncSession, entry: QueueEntry) -> int:
        customer = await session.get(Customer, entry.customer_id) if entry.customer_id else None
        email = customer.email if customer else None
        if email is None:
            conversation = await session.get(Conversation, entry.conversation_id)
            identity = (
                await session.get(ChannelIdentity, conversation.identity_id)
                if conversation
                else None
            )
            if identity is not None and identity.channel == "email":
                email = identity.external_id
        session.add(
            FollowUp(conversation_id=entry.conversation_id, email=email, reason=entry.reason)
        )
        await store.append_event(
            session, entry.conversation_id, "follow_up.created", email_known=email is not None
        )
        suffix = " by email" if email else ""
        return await say(session, entry.conversation_id, CLOSED_TEXT.format(email=suffix))

    async def abandon_silent(self) -> int:
        """Waiting entries whose customer has been silent for `abandon_after_s` are closed."""
        cutoff = utcnow() - timedelta(seconds=self.config.abandon_after_s)
        last_in = (
            select(func.max(Message.created_at))
            .where(
                Message.conversation_id == QueueEntry.conversation_id,
                Message.direction == Direction.IN,
            )
            .scalar_subquery()
        )
        async with self._transaction() as session:
            stale = (
                await session.exec(
                    select(QueueEntry.conversation_id).where(
                        QueueEntry.status == EntryStatus.WAITING,
                        col(QueueEntry.created_at) < cutoff,
                        or_(last_in.is_(None), last_in < cutoff),
                    )
                )
            ).all()
            count = 0
            for conversation_id in stale:
                count += int(await abandon(session, conversation_id))
        if count:
            log.info("handoff.abandoned", count=count)
        return count
