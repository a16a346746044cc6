"""Where each stored customer message goes: to Rasa while the bot owns the conversation,
to the handoff queue while people do. The one place that decides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy import Table, update
from sqlmodel import col, select
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
from conversations.models import status_still
from handoff import HandoffReason, hand_off
from handoff.csat import CSAT_THANKS, could_be_csat, read_csat
from handoff.triggers import HANDED_OFF_TEXT, TriggerPolicy

from .db import Database
from .group_commit import GroupCommit
from .outbox import Outbox
from .payloads import guard, offered_payloads
from .rasa_client import RasaClient, RasaUnavailable

log = structlog.get_logger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[attr-defined]

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


@dataclass(frozen=True, slots=True)
class Turn:
    """A customer message the bot is to answer, with what answering it needs."""

    conversation: Conversation
    inbound: Message
    identity: ChannelIdentity
    offered: frozenset[str]


@dataclass(frozen=True, slots=True)
class TurnResult:
    turn: Turn
    replies: list[OutboundMessage]
    sender: str
    handoff_reason: str | None = None
    csat: int | None = None
    push: bool = True


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
        # Small batches: SQLite's webhook writer waits for at most one of them.
        self._results: GroupCommit[TurnResult, list[Message]] = GroupCommit(
            db, _commit_results, name="turn-results", max_batch=8
        )

    @staticmethod
    def arrival_status(owner: str) -> str:
        """The status a customer's message is stored with. While people own the
        conversation it is routed by being stored: the queue and the agent read it from
        the transcript, and it must never reach Rasa."""
        return MessageStatus.RECEIVED if owner == Owner.BOT else MessageStatus.PROCESSED

    async def prepare(
        self, session: AsyncSession, waiting: dict[str, list[int]]
    ) -> tuple[set[int], list[Turn]]:
        """For messages waiting to be routed, per conversation and in order: route to people
        (one conditional update) those whose conversation people own, and return the turn
        the bot takes next in each conversation it owns. Returns the ids that need nothing
        more (routed to people, routed already, gone) and the turns."""
        ids = [m for mids in waiting.values() for m in mids]
        if not ids:
            return set(), []
        m, c = MESSAGES.c, CONVERSATIONS.c
        # A scalar subquery, read for each message found by id (an EXISTS became a join
        # that PostgreSQL could begin at the conversations, all of them on a burst).
        owned_by_people = (
            select(c.owner).where(c.id == m.conversation_id).scalar_subquery() != Owner.BOT.value
        )
        result = await session.exec(
            update(MESSAGES)
            .where(
                m.id.in_(ids),
                status_still(m.status, MessageStatus.RECEIVED.value),
                owned_by_people,
            )
            .values(status=MessageStatus.PROCESSED.value)
            .returning(m.id)
        )
        settled = set(result.scalars().all())
        if settled:
            log.info("routing.to_people", messages=len(settled))
        firsts = [next((i for i in mids if i not in settled), None) for mids in waiting.values()]
        wanted = [i for i in firsts if i is not None]
        rows = (
            await session.exec(
                select(Message, Conversation, ChannelIdentity)
                .join(Conversation, col(Message.conversation_id) == col(Conversation.id))
                .join(ChannelIdentity, col(Message.identity_id) == col(ChannelIdentity.id))
                .where(col(Message.id).in_(wanted))
            )
        ).all()
        found = {
            inbound.id: (inbound, conversation, identity)
            for inbound, conversation, identity in rows
        }
        done, turns = set(settled), []
        for message_id in wanted:
            if message_id not in found:
                done.add(message_id)  # gone
                continue
            inbound, conversation, identity = found[message_id]
            if inbound.status != MessageStatus.RECEIVED or conversation.owner != Owner.BOT:
                done.add(message_id)  # routed already (a recovery racing a live turn)
                continue
            said = inbound.payload or inbound.text or ""
            offered: frozenset[str] = frozenset()
            # only then can `guard` change it, or `read_csat` read a typed score
            if said.lstrip().startswith("/") or could_be_csat(inbound.text):
                offered = await offered_payloads(session, conversation.id, message_id)
            turns.append(Turn(conversation, inbound, identity, offered))
        return done, turns

    async def route(
        self, conversation_id: str, message_id: int, *, push: bool
    ) -> list[OutboundMessage]:
        """Run one turn now. With `push` the replies go out through the outbox; without it
        (request/response channels) they are returned and recorded as sent."""
        async with self._locks.hold(conversation_id):
            async with self._db.transaction() as session:
                _, turns = await self.prepare(session, {conversation_id: [message_id]})
            if not turns:
                return []
            rows = await self._answer(turns[0], push=push)
        return [store.to_outbound(r) for r in rows]

    async def take(self, turn: Turn) -> None:
        """Run a prepared turn and deliver its replies (the background path)."""
        async with self._locks.hold(turn.conversation.id):
            await self._answer(turn, push=True)

    async def stop(self) -> None:
        await self._results.stop()

    async def _answer(self, turn: Turn, *, push: bool) -> list[Message]:
        inbound = turn.inbound
        typing_to = (self._adapters.get(turn.identity.channel), turn.identity.external_id)
        score = read_csat(inbound.payload, inbound.text, turn.offered)
        trigger = self._triggers.before_bot(inbound.text) if self._triggers else None
        if score is not None:  # the answer to the satisfaction question after a handoff
            thanks = OutboundMessage(text=CSAT_THANKS, sender=Sender.SYSTEM)
            result = TurnResult(turn, [thanks], Sender.SYSTEM, csat=score, push=push)
        elif trigger is None:
            text = guard(inbound.payload or inbound.text or "", turn.offered)
            result = await self._ask_bot(turn, text, typing_to if push else None, push)
        else:  # the customer's words call for a person: Rasa never sees them
            log.info("routing.handoff_trigger", conversation=turn.conversation.id, **vars(trigger))
            notice = OutboundMessage(text=HANDED_OFF_TEXT, sender=Sender.SYSTEM)
            result = TurnResult(turn, [notice], Sender.SYSTEM, trigger.reason, push=push)
        rows = await self._results.submit(result)
        if push:
            await self._outbox.deliver([r.id for r in rows if r.id is not None])
        return rows

    async def _ask_bot(
        self,
        turn: Turn,
        text: str,
        typing_to: tuple[ChannelAdapter | None, str] | None,
        push: bool,
    ) -> TurnResult:
        adapter, address = typing_to if typing_to else (None, "")
        conversation, inbound = turn.conversation, turn.inbound
        if adapter is not None:
            await _typing(adapter, address, True)
        try:
            replies = await self._rasa.send(
                conversation.id,
                text,
                {"channel": inbound.channel, "message_id": inbound.id},
            )
            return TurnResult(turn, replies, Sender.BOT, push=push)
        except RasaUnavailable as exc:
            log.warning("routing.rasa_unavailable", conversation=conversation.id, error=str(exc))
            unavailable = OutboundMessage(text=BOT_UNAVAILABLE_TEXT, sender=Sender.SYSTEM)
            return TurnResult(
                turn, [unavailable], Sender.SYSTEM, HandoffReason.BOT_UNAVAILABLE, push=push
            )
        finally:
            if adapter is not None:
                await _typing(adapter, address, False)


async def _commit_results(
    session: AsyncSession, results: Sequence[TurnResult]
) -> tuple[list[list[Message]], None]:
    """The replies, events and handoffs of finished turns, and their messages marked routed.
    Conversations are changed in id order, the order the intake locks them in."""
    stored: dict[int, list[Message]] = {}
    with session.no_autoflush:  # one insert per table at the end, not one per turn
        for index, r in sorted(enumerate(results), key=lambda pair: pair[1].turn.conversation.id):
            await _commit_result(session, r, index, stored)
    await session.flush()
    await session.exec(
        update(MESSAGES)
        .where(MESSAGES.c.id.in_([r.turn.inbound.id for r in results]))
        .values(status=MessageStatus.PROCESSED.value)
    )
    return [stored[i] for i in range(len(results))], None


async def _commit_result(
    session: AsyncSession, r: TurnResult, index: int, stored: dict[int, list[Message]]
) -> None:
    conversation = r.turn.conversation
    status = MessageStatus.PENDING if r.push else MessageStatus.SENT
    stored[index] = [
        await store.add_outbound(
            session,
            conversation,
            reply,
            sender=r.sender,
            status=status,
            to=r.turn.identity,
            flush=False,
        )
        for reply in r.replies
    ]
    if r.csat is not None:
        await store.append_event(session, conversation.id, "csat.received", score=r.csat)
    if r.handoff_reason is not None:
        await hand_off(session, conversation.id, r.handoff_reason)


async def _typing(adapter: ChannelAdapter, address: str, active: bool) -> None:
    try:
        await adapter.typing(address, active)
    except Exception as exc:  # a typing indicator is cosmetic
        log.info("routing.typing_failed", error=str(exc))
