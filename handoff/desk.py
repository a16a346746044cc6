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
from .changes import QUEUE, Changes
from .hours import BusinessHours
from .models import EntryStatus, FollowUp, QueueEntry
from .notices import say
from .transitions import abandon
from .waiting import per_seat_handle_s, places, wait_text

log = structlog.get_logger(__name__)
MIN_GAP_S = 0.25  # rounds woken by changes start at most this often

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
    """`transaction` and, for the assignment round, `autocommit` (`Database.autocommit`:
    on PostgreSQL each assignment is then its own one-statement change). With `changes`
    and automatic assignment on, a round also starts soon after the queue changed (a
    customer queued, an agent freed a seat), not only every `interval_s`."""

    def __init__(
        self,
        transaction: Transaction,
        deliver: Deliver,
        config: DeskConfig,
        *,
        autocommit: Transaction | None = None,
        changes: Changes | None = None,
    ) -> None:
        self._transaction = transaction
        self._autocommit = autocommit or transaction
        self._deliver = deliver
        self.config = config
        self._changes = changes
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._ticking = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="handoff-desk")

    async def stop(self) -> None:
        """A round under way finishes first (cancelling it mid-transaction would leave its
        connection to be cleaned up after the engine is gone); a waiting desk stops at once."""
        if self._task is None:
            return
        self._stopping = True
        if not self._ticking:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run_forever(self) -> None:
        subscription = (
            self._changes.subscribe(lambda topic: topic == QUEUE)
            if self._changes is not None and self.config.auto_assign
            else None
        )
        loop = asyncio.get_running_loop()
        full_round_at = loop.time()
        try:
            while not self._stopping:
                began = loop.time()
                full = began >= full_round_at
                if full:
                    full_round_at = began + self.config.interval_s
                self._ticking = True
                try:
                    await self.tick(periodic=full)
                except Exception:
                    log.exception("handoff.desk_failed")
                finally:
                    self._ticking = False
                if self._stopping:
                    return
                if subscription is None:
                    await asyncio.sleep(self.config.interval_s)
                    continue
                await subscription.wait(max(0.0, full_round_at - loop.time()))
                gap = min(self.config.interval_s, MIN_GAP_S)
                await asyncio.sleep(max(0.0, gap - (loop.time() - began)))
        finally:
            if subscription is not None:
                subscription.close()

    async def tick(self, *, periodic: bool = True) -> None:
        """One round: abandon, assign, tell. Public so tests can drive it step by step.
        Rounds woken by a queue change only assign; abandonment and place notices keep
        the periodic rhythm."""
        outgoing: list[int] = []
        if periodic:
            await self.abandon_silent()
        if self.config.auto_assign:
            async with self._autocommit() as session:
                for assignment in await assign_waiting(session, announce_to_customer=True):
                    if assignment.notice_id is not None:
                        outgoing.append(assignment.notice_id)
                    log.info(
                        "handoff.assigned",
                        conversation=assignment.conversation_id,
                        agent=assignment.agent_id,
                        mode=assignment.mode,
                    )
        if periodic and self.config.tell_place:
            outgoing += await self.tell_waiting()
        await self._deliver(outgoing)

    async def tell_waiting(self) -> list[int]:
        """Places come from one query; only customers whose first notice is due, or whose
        place changed and whose last notice is old enough, are told, one short
        transaction each, so claims are never held up behind this round."""
        now = utcnow()
        due_before = now - timedelta(seconds=self.config.update_every_s)
        async with self._transaction() as session:
            todo = await places(session, due_before)
            per_place = (
                await per_seat_handle_s(
                    session, {e.queue for e, _ in todo}, self.config.default_handle_s
                )
                if todo
                else {}
            )
        outgoing: list[int] = []
        for entry, place in todo:
            async with self._transaction() as session:
                message_id = await self._tell(session, entry, place, place * per_place[entry.queue])
            if message_id is not None:
                outgoing.append(message_id)
        return outgoing

    async def _tell(
        self, session: AsyncSession, entry: QueueEntry, place: int, wait_s: float
    ) -> int | None:
        first = entry.position_told is None
        told = await session.exec(
            update(QueueEntry)
            .where(
                col(QueueEntry.id) == entry.id,
                col(QueueEntry.status) == EntryStatus.WAITING,
                col(QueueEntry.position_told).is_(None)
                if first
                else col(QueueEntry.position_told) == entry.position_told,
            )
            .values(position_told=place, told_at=utcnow())
        )
        if told.rowcount != 1:
            return None  # taken meanwhile, or another process told this customer
        if first and not self.config.hours.is_open(utcnow()):
            return await self._follow_up(session, entry)
        await store.append_event(
            session,
            entry.conversation_id,
            "queue.position_told",
            position=place,
            estimate_s=round(wait_s),
        )
        return await say(session, entry.conversation_id, wait_text(place, wait_s))

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
