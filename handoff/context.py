"""The context package an agent sees on opening a conversation: the transcript with the
bot's reading of each customer message (intent and confidence, from Rasa's tracker), the
slots, the customer's profile and history, why the bot handed over, a short summary, the
sentiment over the conversation and FAQ answers suggested for the last question."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import Conversation, Direction, customers, store
from knowledge import KnowledgeBase

from .models import QueueEntry
from .profile import is_vip
from .sentiment import sentiment

log = structlog.get_logger(__name__)

SLOT_NAMES = ("order_number", "order_id", "identity_verified", "email", "name")


@dataclass
class Reading:
    """Rasa's understanding of one customer message."""

    text: str
    intent: str | None
    confidence: float | None


@dataclass
class ContextPackage:
    conversation_id: str
    channel: str
    owner: str
    agent_id: int | None
    reason: str | None
    queue: str | None
    language: str
    transcript: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    slots: dict[str, Any]
    profile: dict[str, Any]
    summary: str
    sentiment: dict[str, Any]
    suggestions: list[dict[str, Any]]
    tracker_available: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    # The person's addresses a reply can go to, and the default: where they last wrote.
    reply_to: list[dict[str, Any]] = field(default_factory=list)
    reply_default: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def read_tracker(
    http: aiohttp.ClientSession, rasa_url: str, conversation_id: str
) -> dict[str, Any] | None:
    """Rasa's tracker over its HTTP API (`rasa run --enable-api`); None when unavailable."""
    try:
        async with http.get(
            f"{rasa_url.rstrip('/')}/conversations/{conversation_id}/tracker",
            timeout=aiohttp.ClientTimeout(total=5),
        ) as response:
            if response.status != 200:
                return None
            tracker = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.info("handoff.tracker_unavailable", conversation=conversation_id, error=str(exc))
        return None
    return tracker if isinstance(tracker, dict) else None


def readings(tracker: dict[str, Any] | None) -> list[Reading]:
    out: list[Reading] = []
    for event in (tracker or {}).get("events") or []:
        if not isinstance(event, dict) or event.get("event") != "user":
            continue
        parse = event.get("parse_data") or {}
        intent = parse.get("intent") or {}
        confidence = intent.get("confidence")
        out.append(
            Reading(
                text=str(event.get("text") or ""),
                intent=intent.get("name"),
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
            )
        )
    return out


def _slots(tracker: dict[str, Any] | None) -> dict[str, Any]:
    slots = (tracker or {}).get("slots") or {}
    return {
        k: v for k, v in slots.items() if v is not None and (k in SLOT_NAMES or k.endswith("_id"))
    }


def summarise(customer_texts: list[str], reason: str | None, faq_questions: list[str]) -> str:
    """What the customer wants, in one line: their longest own words (not button payloads),
    what the knowledge base could not answer, and why the bot handed over."""
    words = [t for t in customer_texts if t and not t.startswith("/")]
    parts = []
    if words:
        main = max(words[-5:], key=len)
        parts.append(f"Customer wrote: “{main[:200]}”")
    if faq_questions:
        parts.append(f"Not answered by the FAQ: “{faq_questions[-1][:120]}”")
    if reason:
        parts.append(f"Handed over: {reason.replace('_', ' ')}")
    return ". ".join(parts) or "No messages yet"


async def build_context(
    session: AsyncSession,
    conversation: Conversation,
    *,
    tracker: dict[str, Any] | None,
    knowledge: KnowledgeBase | None,
    shop_side: dict[str, Any] | None = None,
) -> ContextPackage:
    """`shop_side` is `profile.shop_profile(...)`, read before (outside the transaction)."""
    messages = await store.conversation_messages(session, conversation.id)
    events = await store.events(session, conversation.id)
    entries = (
        await session.exec(
            select(QueueEntry)
            .where(QueueEntry.conversation_id == conversation.id)
            .order_by(col(QueueEntry.id))
        )
    ).all()
    entry = entries[-1] if entries else None
    read = readings(tracker)
    by_text: dict[str, list[Reading]] = {}
    for r in read:
        by_text.setdefault(r.text, []).append(r)

    transcript: list[dict[str, Any]] = []
    customer_texts: list[str] = []
    scores: list[float] = []
    for m in messages:
        item: dict[str, Any] = {
            "id": m.id,
            "direction": m.direction,
            "sender": m.sender,
            "channel": m.channel,
            "text": m.text,
            "status": m.status,
            "created_at": store.as_utc(m.created_at).isoformat(),
        }
        if m.direction == Direction.IN:
            said = m.payload or m.text or ""
            customer_texts.append(m.text or "")
            match = by_text.get(said) or by_text.get(m.text or "")
            if match:
                reading = match.pop(0)
                item["intent"], item["confidence"] = reading.intent, reading.confidence
            if m.text and not m.text.startswith("/"):
                item["sentiment"] = round(sentiment(m.text), 3)
                scores.append(item["sentiment"])
        transcript.append(item)

    notes = [
        {
            "agent": e.data.get("agent"),
            "text": e.data.get("text"),
            "at": store.as_utc(e.created_at).isoformat(),
        }
        for e in events
        if e.type == "note.added"
    ]
    faq_unanswered = [
        str(e.data.get("question"))
        for e in events
        if e.type in ("faq.not_found", "faq.clarify") and e.data.get("question")
    ]
    profile = await customer_profile(session, conversation, shop_side)
    addresses, default = await customers.reply_options(session, conversation)
    last_question = next((t for t in reversed(customer_texts) if t and not t.startswith("/")), "")
    suggestions: list[dict[str, Any]] = []
    if knowledge is not None and last_question:
        answer = await asyncio.to_thread(knowledge.ask, last_question, 3)
        suggestions = [
            {
                "id": m.entry.id,
                "question": m.entry.question,
                "answer": m.entry.answer,
                "score": round(m.score, 3),
            }
            for m in answer.matches
        ]
    return ContextPackage(
        conversation_id=conversation.id,
        channel=conversation.channel,
        owner=conversation.owner,
        agent_id=conversation.agent_id,
        reason=entry.reason if entry else None,
        queue=entry.queue if entry else None,
        language=entry.language if entry else "en",
        transcript=transcript,
        notes=notes,
        slots=_slots(tracker),
        profile=profile,
        summary=summarise(customer_texts, entry.reason if entry else None, faq_unanswered),
        sentiment={
            "average": round(sum(scores) / len(scores), 3) if scores else None,
            "last": scores[-1] if scores else None,
            "trend": round(scores[-1] - scores[0], 3) if len(scores) > 1 else 0.0,
        },
        suggestions=suggestions,
        tracker_available=tracker is not None,
        events=[{"type": e.type, "at": store.as_utc(e.created_at).isoformat()} for e in events],
        reply_to=[
            {"identity_id": i.id, "channel": i.channel, "address": i.external_id} for i in addresses
        ],
        reply_default=default.id,
    )


async def customer_profile(
    session: AsyncSession, conversation: Conversation, shop_side: dict[str, Any] | None = None
) -> dict[str, Any]:
    customer = await customers.survivor(session, conversation.customer_id)
    identities = await customers.group_identities(session, conversation.customer_id)
    past = (
        await session.exec(
            select(QueueEntry)
            .where(
                QueueEntry.customer_id == conversation.customer_id,
                QueueEntry.conversation_id != conversation.id,
            )
            .order_by(col(QueueEntry.id).desc())
            .limit(10)
        )
    ).all()
    conversations = (
        await session.exec(
            select(Conversation.id, Conversation.status, Conversation.created_at)
            .where(
                Conversation.customer_id == conversation.customer_id,
                Conversation.id != conversation.id,
            )
            .order_by(col(Conversation.created_at).desc())
            .limit(10)
        )
    ).all()
    outcomes = {p.conversation_id: p.disposition or p.outcome for p in past}
    shop_side = shop_side or {"linked": False, "tier": "standard", "shop_available": True}
    return {
        "customer_id": conversation.customer_id,
        "name": customer.display_name if customer else None,
        "email": customer.email if customer else None,
        "vip": is_vip(shop_side),
        "shop": shop_side,
        "channels": sorted({i.channel for i in identities}),
        "channel": conversation.channel,
        "past_conversations": [
            {
                "id": cid,
                "status": status,
                "started": store.as_utc(created).isoformat(),
                "outcome": outcomes.get(cid, "bot"),
            }
            for cid, status, created in conversations
        ],
    }
