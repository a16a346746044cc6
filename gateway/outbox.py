"""Outbound delivery. Replies are committed as `pending` rows together with the turn that
produced them; the router then delivers them at once, and a sweeper retries what failed
and what a crash left behind. A claim (`pending → sending`) is one conditional update, so
two senders never send the same row. Claims and results of concurrent deliveries are
committed together (`GroupCommit`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy import Connection, Table, bindparam, update
from sqlmodel import col, select

from connectors import ChannelAdapter, PermanentDeliveryError, RetryableDeliveryError
from conversations import ChannelIdentity, Message, MessageStatus, store
from conversations.models import Direction, status_still, utcnow

from .db import Database
from .group_commit import GroupCommit

log = structlog.get_logger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]


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
        self._claims: GroupCommit[list[int], list[tuple[Message, str]]] = GroupCommit(
            db, blocking=_claim, name="outbox-claims"
        )
        self._records: GroupCommit[tuple[int, dict[str, object]], None] = GroupCommit(
            db, blocking=_record, name="outbox-results"
        )

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
        await self._claims.stop()
        await self._records.stop()

    async def deliver(self, message_ids: list[int]) -> None:
        """Send these rows, each once: in order to each recipient, recipients side by side.

        Claims and results of concurrent deliveries are committed together (group commit);
        each send still waits for its result to be committed before the next one."""
        if not message_ids:
            return
        claimed = await self._claims.submit(list(message_ids))
        recipients: dict[tuple[str, str], list[tuple[Message, str]]] = {}
        for row, address in claimed:
            recipients.setdefault((row.channel, address), []).append((row, address))
        await asyncio.gather(*(self._send_in_order(rows) for rows in recipients.values()))

    async def _send_in_order(self, rows: list[tuple[Message, str]]) -> None:
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
        assert row.id is not None
        await self._records.submit((row.id, values))

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


IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[attr-defined]
_CLAIM = (
    update(MESSAGES)
    .where(
        MESSAGES.c.id.in_(bindparam("ids", expanding=True)),
        status_still(MESSAGES.c.status, MessageStatus.PENDING.value),
    )
    .values(status=MessageStatus.SENDING.value)
    .returning(MESSAGES.c.id)
)
_CLAIMED = (
    select(*MESSAGES.c, IDENTITIES.c.external_id)
    .join_from(MESSAGES, IDENTITIES, MESSAGES.c.identity_id == IDENTITIES.c.id)
    .where(MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
)
_RESULT_FIELDS = (
    "status",
    "attempts",
    "error",
    "provider_message_id",
    "sent_at",
    "next_attempt_at",
)
_RECORD = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("row_id"))
    .values({f: bindparam(f"new_{f}") for f in _RESULT_FIELDS})
)


def _claim(
    conn: Connection, jobs: Sequence[list[int]]
) -> tuple[list[list[tuple[Message, str]]], None]:
    """`pending → sending` for the rows of every job, and each claimed row (with its
    recipient's address) handed to the first job that asked for it."""
    ids = sorted({i for job in jobs for i in job})
    claimed = sorted(conn.execute(_CLAIM, {"ids": ids}).scalars())
    found: dict[int, tuple[Message, str]] = {}
    if claimed:
        for row in conn.execute(_CLAIMED, {"ids": claimed}).mappings():
            values = dict(row)
            address = values.pop("external_id")
            found[values["id"]] = (Message(**values), address)
    handed: list[list[tuple[Message, str]]] = []
    for job in jobs:
        handed.append([found.pop(i) for i in sorted(set(job)) if i in found])
    return handed, None


def _record(
    conn: Connection, jobs: Sequence[tuple[int, dict[str, object]]]
) -> tuple[list[None], None]:
    """What sending did to each row, one statement for all."""
    conn.execute(
        _RECORD,
        [
            {"row_id": row_id, **{f"new_{f}": values.get(f) for f in _RESULT_FIELDS}}
            for row_id, values in jobs
        ],
    )
    return [None] * len(jobs), None
