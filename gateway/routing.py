"""Where each stored customer message goes: to Rasa while the bot owns the conversation,
to the handoff queue while people do. The one place that decides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from connectors import ChannelAdapter, OutboundMessage
from conversations import (
    ChannelIdentity,
    Conversation,
    Message,
    MessageStatus,
    Owner,
    Sender,
    store,
)
from handoff import HandoffReason, hand_off
from handoff.csat import CSAT_THANKS, read_csat
from handoff.triggers import HANDED_OFF_TEXT, TriggerPolicy

from .db import Database
from .outbox import Outbox
from .payloads import guard, offered_payloads
from .rasa_client import RasaClient, RasaUnavailable

log = structlog.get_logger(__name__)

BOT_UNAVAILABLE_TEXT = (
    "Sorry, our assistant is not available right now. Your message is saved and a member "
    "of our team will follow up here as soon as possible."
)


class ConversationLocks:
    """Turns of one conversation run one after another inside this process."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Router:
    def __init__(
        self,
        db: Database,
        rasa: RasaClient,
        adapters: dict[str, ChannelAdapter],
        outbox: Outbox,
        triggers: TriggerPolicy | None = None,
    ) -> None:
        self._db = db
        self._triggers = triggers
        self._rasa = rasa
        self._adapters = adapters
        self._outbox = outbox
        self._locks = ConversationLocks()

    async def route(
        self, conversation_id: str, message_id: int, *, push: bool
    ) -> list[OutboundMessage]:
        """Run one turn. With `push` the replies go out through the outbox; without it
        (request/response channels) they are returned and recorded as sent."""
        async with self._locks.hold(conversation_id):
            async with self._db.transaction() as session:
                conversation = await store.get_conversation(session, conversation_id)
                inbound = await session.get(Message, message_id)
                identity = (
                    await session.get(ChannelIdentity, conversation.identity_id)
                    if conversation
                    else None
                )
                offered = await offered_payloads(session, conversation_id, message_id)
            if conversation is None or inbound is None or identity is None:
                return []
            address = identity.external_id
            if inbound.status != MessageStatus.RECEIVED:
                return []  # routed already (a recovery racing a live turn)
            if conversation.owner != Owner.BOT:
                log.info(
                    "routing.to_people", conversation=conversation_id, owner=conversation.owner
                )
                async with self._db.transaction() as session:
                    await _mark_processed(session, message_id)
                return []
            typing_to = (self._adapters.get(conversation.channel), address) if push else None
            score = read_csat(inbound.payload, inbound.text, offered)
            trigger = self._triggers.before_bot(inbound.text) if self._triggers else None
            if score is not None:  # the answer to the satisfaction question after a handoff
                replies = [OutboundMessage(text=CSAT_THANKS, sender=Sender.SYSTEM)]
                sender, handoff_reason = Sender.SYSTEM, None
            elif trigger is None:
                text = guard(inbound.payload or inbound.text or "", offered)
                replies, sender, handoff_reason = await self._ask_bot(
                    conversation, inbound, text, typing_to
                )
            else:  # the customer's words call for a person: Rasa never sees them
                log.info("routing.handoff_trigger", conversation=conversation_id, **vars(trigger))
                replies = [OutboundMessage(text=HANDED_OFF_TEXT, sender=Sender.SYSTEM)]
                sender, handoff_reason = Sender.SYSTEM, trigger.reason
            status = MessageStatus.PENDING if push else MessageStatus.SENT
            async with self._db.transaction() as session:
                rows = [
                    await store.add_outbound(session, conversation, r, sender=sender, status=status)
                    for r in replies
                ]
                if score is not None:
                    await store.append_event(session, conversation_id, "csat.received", score=score)
                if handoff_reason is not None:
                    await hand_off(session, conversation_id, handoff_reason)
                await _mark_processed(session, message_id)
            if push:
                await self._outbox.deliver([r.id for r in rows if r.id is not None])
            return [store.to_outbound(r) for r in rows]

    async def _ask_bot(
        self,
        conversation: Conversation,
        inbound: Message,
        text: str,
        typing_to: tuple[ChannelAdapter | None, str] | None,
    ) -> tuple[list[OutboundMessage], str, str | None]:
        adapter, address = typing_to if typing_to else (None, "")
        if adapter is not None:
            await _typing(adapter, address, True)
        try:
            replies = await self._rasa.send(
                conversation.id,
                text,
                {"channel": conversation.channel, "message_id": inbound.id},
            )
            return replies, Sender.BOT, None
        except RasaUnavailable as exc:
            log.warning("routing.rasa_unavailable", conversation=conversation.id, error=str(exc))
            unavailable = OutboundMessage(text=BOT_UNAVAILABLE_TEXT, sender=Sender.SYSTEM)
            return [unavailable], Sender.SYSTEM, HandoffReason.BOT_UNAVAILABLE
        finally:
            if adapter is not None:
                await _typing(adapter, address, False)


async def _mark_processed(session: AsyncSession, message_id: int) -> None:
    await session.exec(
        update(Message).where(col(Message.id) == message_id).values(status=MessageStatus.PROCESSED)
    )


async def _typing(adapter: ChannelAdapter, address: str, active: bool) -> None:
    try:
        await adapter.typing(address, active)
    except Exception as exc:  # a typing indicator is cosmetic
        log.info("routing.typing_failed", error=str(exc))
