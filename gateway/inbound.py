"""The gateway side of every channel: store first (deduped), then route.

Implements `connectors.GatewayPort`. A message is committed before the channel is
answered; routing runs in a background task for push channels and inline for
request/response channels. Messages stored but never routed (a crash in between) are
routed again at startup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import Accepted, HistoryItem, InboundMessage, OutboundMessage
from conversations import (
    ChannelIdentity,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    channel_state,
    store,
)

from .db import Database
from .routing import Router

log = structlog.get_logger(__name__)


class Inbound:
    def __init__(self, db: Database, router: Router) -> None:
        self._db = db
        self._router = router
        self._tasks: set[asyncio.Task[object]] = set()

    async def _store(self, message: InboundMessage, *, handled: bool = False) -> Accepted:
        async with self._db.transaction() as session:
            identity = await store.find_or_create_identity(
                session, message.channel, message.address
            )
            conversation = await store.open_conversation(session, identity)
            row, duplicate = await store.add_inbound(session, conversation, message)
            if not duplicate:
                await _remember_contact(session, identity.customer_id, message)
                if handled:  # answered by the channel itself: never routed, even after a crash
                    row.status = MessageStatus.PROCESSED
                    session.add(row)
        assert row.id is not None
        if duplicate:
            log.info("inbound.duplicate", channel=message.channel, message_id=row.id)
        return Accepted(row.id, row.conversation_id, duplicate)

    async def accept(self, message: InboundMessage) -> Accepted:
        accepted = await self._store(message)
        if not accepted.duplicate:
            self._spawn(accepted)
        return accepted

    async def exchange(self, message: InboundMessage) -> tuple[Accepted, list[OutboundMessage]]:
        accepted = await self._store(message)
        if accepted.duplicate:
            return accepted, []
        replies = await self._router.route(
            accepted.conversation_id, accepted.message_id, push=False
        )
        return accepted, replies

    async def history(self, channel: str, address: str, after_id: int = 0) -> list[HistoryItem]:
        async with self._db.transaction() as session:
            rows = await store.history(session, channel, address, after_id)
        return [store.to_history_item(r) for r in rows]

    async def record(self, message: InboundMessage) -> Accepted:
        return await self._store(message, handled=True)

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
            .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
            .join(ChannelIdentity, col(Conversation.identity_id) == col(ChannelIdentity.id))
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

    def _spawn(self, accepted: Accepted) -> None:
        task = asyncio.create_task(self._route(accepted), name=f"route-{accepted.message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _route(self, accepted: Accepted) -> None:
        try:
            await self._router.route(accepted.conversation_id, accepted.message_id, push=True)
        except Exception:
            log.exception("inbound.route_failed", message_id=accepted.message_id)

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
            self._spawn(Accepted(message_id, conversation_id, duplicate=False))
        if rows:
            log.info("inbound.recovered", count=len(rows))
        return len(rows)

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


async def _remember_contact(
    session: AsyncSession, customer_id: int, message: InboundMessage
) -> None:
    """Channels that verify a phone number or email put it in the metadata."""
    meta = message.metadata
    phone, email, name = (meta.get(k) for k in ("verified_phone", "verified_email", "display_name"))
    if not any(isinstance(v, str) and v for v in (phone, email, name)):
        return
    await channel_state.remember_contact(
        session,
        customer_id,
        phone=phone if isinstance(phone, str) else None,
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
    )
