"""The gateway side of every channel: store first (deduped), then route.

Implements `connectors.GatewayPort`. A message is committed before the channel is
answered. Storing is a group commit (`GroupCommit`): the messages of every request waiting
at that moment are stored in one transaction (`conversations.intake`), which goes before
other writers waiting on SQLite; then each request is woken. Messages whose conversation
people own are routed as they are stored (the queue and the agent read them: nothing more
to do). The others wait for a bot turn: in the background for push channels, where one
worker prepares the next turn of every waiting conversation in one transaction (and routes
to people, in the same update, what waited behind a turn that handed its conversation
over), turns run side by side across conversations and one at a time within each, and
their results are committed together; inline for request/response channels. Messages
stored but never routed (a crash in between) are routed again at startup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlmodel import col, select

from connectors import Accepted, HistoryItem, InboundMessage, OutboundMessage
from conversations import (
    ChannelIdentity,
    Direction,
    Message,
    MessageStatus,
    channel_state,
    customers,
    intake,
    store,
)

from .db import Database
from .group_commit import GroupCommit
from .routing import Router, Turn

log = structlog.get_logger(__name__)
ROUTING_YIELD_MAX_S = 0.25
# Conversations prepared per routing step, longest waiting first: a step is one stretch of
# work on the event loop, and webhooks wait for it to end.
PREPARE_MAX_CONVERSATIONS = 32


class Inbound:
    def __init__(
        self,
        db: Database,
        router: Router,
        *,
        link_by: tuple[str, ...] = customers.KINDS,
        max_concurrent_turns: int,
    ) -> None:
        self._db = db
        self._router = router
        self._link_by = link_by
        self._cache = intake.IntakeCache()
        self._writer: GroupCommit[tuple[InboundMessage, bool], intake.Stored] = GroupCommit(
            db, blocking=self._store_batch, name="inbound-writer", urgent=True
        )
        self._backlog: dict[str, list[int]] = {}  # waiting for a bot turn, per conversation
        self._in_turn: set[str] = set()
        self._turn_slots = asyncio.Semaphore(max_concurrent_turns)
        self._route_wake = asyncio.Event()
        self._router_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._storing = 0  # requests whose messages are being stored right now
        self._intake_idle = asyncio.Event()
        self._intake_idle.set()

    async def _store(self, message: InboundMessage, *, handled: bool = False) -> intake.Stored:
        self._storing += 1
        self._intake_idle.clear()
        try:
            stored = await self._writer.submit((message, handled))
        finally:
            self._storing -= 1
            if not self._storing:
                self._intake_idle.set()
        if stored.duplicate:
            log.info("inbound.duplicate", channel=message.channel, message_id=stored.message_id)
        return stored

    def _store_batch(
        self, conn: Connection, jobs: Sequence[tuple[InboundMessage, bool]]
    ) -> tuple[list[intake.Stored], Callable[[], None]]:
        results, pending = intake.store_inbound(
            conn,
            jobs,
            is_sqlite=self._db.is_sqlite,
            cache=self._cache,
            arrival_status=self._router.arrival_status,
            link_kinds=self._link_by,
        )
        return results, pending.apply

    async def stop(self) -> None:
        """Store what is waiting, then stop the writers and the routing worker."""
        await self._writer.stop()
        if self._router_task is not None:
            self._router_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._router_task
        await self.drain()
        await self._router.stop()

    async def accept(self, message: InboundMessage) -> Accepted:
        stored = await self._store(message)
        if _to_route(stored):
            self._schedule(stored.message_id, stored.conversation_id)
        return Accepted(stored.message_id, stored.conversation_id, stored.duplicate)

    async def exchange(self, message: InboundMessage) -> tuple[Accepted, list[OutboundMessage]]:
        stored = await self._store(message)
        accepted = Accepted(stored.message_id, stored.conversation_id, stored.duplicate)
        if not _to_route(stored):
            return accepted, []
        replies = await self._router.route(stored.conversation_id, stored.message_id, push=False)
        return accepted, replies

    async def history(self, channel: str, address: str, after_id: int = 0) -> list[HistoryItem]:
        async with self._db.transaction() as session:
            rows = await store.history(session, channel, address, after_id)
        return [store.to_history_item(r) for r in rows]

    async def record(self, message: InboundMessage) -> Accepted:
        stored = await self._store(message, handled=True)
        return Accepted(stored.message_id, stored.conversation_id, stored.duplicate)

    async def last_inbound_at(self, channel: str, address: str) -> datetime | None:
        async with self._db.transaction() as session:
            return await channel_state.last_inbound_at(session, channel, address)

    async def set_opt_out(self, channel: str, address: str, opted_out: bool) -> None:
        async with self._db.transaction() as session:
            await channel_state.set_opt_out(session, channel, address, opted_out)

    async def is_opted_out(self, channel: str, address: str) -> bool:
        async with self._db.transaction() as session:
            return await channel_state.is_opted_out(session, channel, address)

    async def latest_inbound_metadata(self, channel: str, address: str) -> Mapping[str, Any]:
        query = (
            select(Message.data)
            .join(ChannelIdentity, col(Message.identity_id) == col(ChannelIdentity.id))
            .where(
                ChannelIdentity.channel == channel,
                ChannelIdentity.external_id == address,
                Message.direction == Direction.IN,
            )
            .order_by(col(Message.id).desc())
            .limit(1)
        )
        async with self._db.transaction() as session:
            data = (await session.exec(query)).first()
        metadata = data.get("metadata") if isinstance(data, dict) else None
        return metadata if isinstance(metadata, dict) else {}

    def _schedule(self, message_id: int, conversation_id: str) -> None:
        """Queue a message for routing. One worker prepares the next turn of every
        conversation in one transaction; turns run concurrently across conversations and
        one at a time within each."""
        self._backlog.setdefault(conversation_id, []).append(message_id)
        if self._router_task is None or self._router_task.done():
            self._router_task = asyncio.create_task(self._route_forever(), name="router")
        self._route_wake.set()

    async def _route_forever(self) -> None:
        while True:
            await self._route_wake.wait()
            self._route_wake.clear()
            await self._after_intake()
            ready: dict[str, list[int]] = {}
            for cid, mids in self._backlog.items():
                if mids and cid not in self._in_turn:
                    if len(ready) == PREPARE_MAX_CONVERSATIONS:
                        self._route_wake.set()  # the rest in the next step
                        break
                    ready[cid] = list(mids)
            if not ready:
                continue
            try:
                async with self._db.transaction() as session:
                    done, turns = await self._router.prepare(session, ready)
            except Exception:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # stopping: an error raised while unwinding must not hide it
                log.exception("inbound.prepare_failed", conversations=len(ready))
                await asyncio.sleep(1.0)  # still in the backlog: tried again
                self._route_wake.set()
                continue
            taken = done | {t.inbound.id for t in turns}
            for cid in ready:
                left = [m for m in self._backlog.get(cid, []) if m not in taken]
                if left:
                    self._backlog[cid] = left
                else:
                    self._backlog.pop(cid, None)
            for turn in turns:
                self._in_turn.add(turn.conversation.id)
                task = asyncio.create_task(self._take(turn), name=f"turn-{turn.inbound.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _after_intake(self) -> None:
        """Routing gives way to storing: a step waits until no request is storing its
        messages, or `ROUTING_YIELD_MAX_S` at most (so it keeps moving under a steady flood).
        Acknowledging fast is what providers judge a webhook by (slow answers are retried
        and, at Telegram and Meta, throttled); a bot turn starting a fraction of a second
        later is not noticed."""
        if self._storing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._intake_idle.wait(), ROUTING_YIELD_MAX_S)

    async def _take(self, turn: Turn) -> None:
        try:
            async with self._turn_slots:
                await self._after_intake()
                await self._router.take(turn)
        except Exception:  # left `received`: routed again at the next start
            log.exception("inbound.route_failed", message_id=turn.inbound.id)
        finally:
            self._in_turn.discard(turn.conversation.id)
            if self._backlog.get(turn.conversation.id):
                self._route_wake.set()

    async def recover(self) -> int:
        """Route, in order, the messages a previous process stored but did not route."""
        async with self._db.transaction() as session:
            rows = (
                await session.exec(
                    select(Message.id, Message.conversation_id)
                    .where(
                        Message.direction == Direction.IN,
                        Message.status == MessageStatus.RECEIVED,
                    )
                    .order_by(col(Message.id))
                )
            ).all()
        for message_id, conversation_id in rows:
            assert message_id is not None
            self._schedule(message_id, conversation_id)
        if rows:
            log.info("inbound.recovered", count=len(rows))
        return len(rows)

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


def _to_route(stored: intake.Stored) -> bool:
    return not stored.duplicate and stored.status == MessageStatus.RECEIVED
