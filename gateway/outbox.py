"""Outbound delivery. Replies are committed as `pending` rows together with the turn that
produced them; the router then delivers them at once, and a sweeper retries what failed
and what a crash left behind. A claim (`pending → sending`) is one conditional update, so
two senders never send the same row."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from sqlalchemy import update
from sqlmodel import col, select

from connectors import ChannelAdapter, PermanentDeliveryError, RetryableDeliveryError
from conversations import ChannelIdentity, Conversation, Message, MessageStatus, store
from conversations.models import Direction, utcnow

from .db import Database

log = structlog.get_logger(__name__)


class Outbox:
    def __init__(
        self,
        db: Database,
        adapters: dict[str, ChannelAdapter],
        *,
        max_attempts: int = 6,
        sweep_interval_s: float = 1.0,
        orphan_after_s: float = 10.0,
    ) -> None:
        self._db = db
        self._adapters = adapters
        self.max_attempts = max_attempts
        self._sweep_interval = sweep_interval_s
        self._orphan_after = timedelta(seconds=orphan_after_s)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Rows a previous process claimed but never finished go back to pending."""
        async with self._db.transaction() as session:
            await session.exec(
                update(Message)
                .where(col(Message.status) == MessageStatus.SENDING)
                .values(status=MessageStatus.PENDING)
            )
        self._task = asyncio.create_task(self._sweep_forever(), name="outbox-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def deliver(self, message_ids: list[int]) -> None:
        """Send these rows in order, each once."""
        if not message_ids:
            return
        async with self._db.transaction() as session:
            result = await session.exec(
                update(Message)
                .where(
                    col(Message.id).in_(message_ids), col(Message.status) == MessageStatus.PENDING
                )
                .values(status=MessageStatus.SENDING)
                .returning(col(Message.id))
            )
            claimed = set(result.scalars().all())
            if not claimed:
                return
            rows = (
                await session.exec(
                    select(Message, ChannelIdentity.external_id)
                    .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
                    .join(ChannelIdentity, col(Conversation.identity_id) == col(ChannelIdentity.id))
                    .where(col(Message.id).in_(claimed))
                    .order_by(col(Message.id))
                )
            ).all()
        for row, address in rows:
            await self._send_one(row, address)

    async def _send_one(self, row: Message, address: str) -> None:
        adapter = self._adapters.get(row.channel)
        values: dict[str, object]
        try:
            if adapter is None:
                raise PermanentDeliveryError(f"channel '{row.channel}' is not enabled")
            provider_id = await adapter.send(address, store.to_outbound(row))
        except RetryableDeliveryError as exc:
            attempts = row.attempts + 1
            if attempts >= self.max_attempts:
                values = {"status": MessageStatus.FAILED, "attempts": attempts, "error": str(exc)}
            else:
                delay = exc.retry_after if exc.retry_after is not None else min(2**attempts, 60)
                values = {
                    "status": MessageStatus.PENDING,
                    "attempts": attempts,
                    "error": str(exc),
                    "next_attempt_at": utcnow() + timedelta(seconds=delay),
                }
            log.warning("outbox.retry", message_id=row.id, attempts=attempts, error=str(exc))
        except Exception as exc:  # a broken adapter must not stop the outbox
            values = {
                "status": MessageStatus.FAILED,
                "attempts": row.attempts + 1,
                "error": str(exc),
            }
            log.warning("outbox.failed", message_id=row.id, channel=row.channel, error=str(exc))
        else:
            values = {
                "status": MessageStatus.SENT,
                "attempts": row.attempts + 1,
                "provider_message_id": provider_id,
                "sent_at": utcnow(),
                "error": None,
            }
        async with self._db.transaction() as session:
            await session.exec(update(Message).where(col(Message.id) == row.id).values(**values))

    async def sweep(self) -> int:
        """Deliver rows whose retry is due, and rows orphaned by a crash before delivery."""
        now = utcnow()
        async with self._db.transaction() as session:
            due = (
                await session.exec(
                    select(Message.id)
                    .where(
                        Message.direction == Direction.OUT,
                        Message.status == MessageStatus.PENDING,
                        (col(Message.next_attempt_at) <= now)
                        | (
                            col(Message.next_attempt_at).is_(None)
                            & (col(Message.created_at) <= now - self._orphan_after)
                        ),
                    )
                    .order_by(col(Message.id))
                    .limit(500)
                )
            ).all()
        ids = [i for i in due if i is not None]
        await self.deliver(ids)
        return len(ids)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("outbox.sweep_failed")
            await asyncio.sleep(self._sweep_interval)
