"""Which `/intent{...}` payloads reach Rasa as payloads.

Rasa reads a message that starts with `/` as an intent with entities, skipping the NLU model,
so a customer could type `/inform{"refund_item":"all"}` or any intent the bot never offered.
Only the payloads of buttons in the bot's latest turn, and a few harmless intents without
entities, pass; anything else reaches Rasa as plain text, without its leading slashes.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import Message
from conversations.models import Direction

HARMLESS_INTENTS = frozenset(
    {"greet", "goodbye", "thanks", "affirm", "deny", "help", "human_handoff", "stop", "faq"}
    | {"nlu_fallback", "out_of_scope"}
)


def guard(text: str, offered: frozenset[str]) -> str:
    stripped = text.strip()
    if not stripped.startswith("/"):
        return text
    if stripped in offered or stripped[1:] in HARMLESS_INTENTS:
        return stripped
    return stripped.lstrip("/").strip()


async def offered_payloads(
    session: AsyncSession, conversation_id: str, message_id: int
) -> frozenset[str]:
    """The button payloads of the bot's messages between the customer's previous message and
    this one."""
    previous_inbound = (
        select(func.max(Message.id))
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.IN,
            col(Message.id) < message_id,
        )
        .scalar_subquery()
    )
    query = select(Message).where(
        Message.conversation_id == conversation_id,
        Message.direction == Direction.OUT,
        col(Message.id) < message_id,
        col(Message.id) > func.coalesce(previous_inbound, 0),
    )
    payloads: set[str] = set()
    for row in (await session.exec(query)).all():
        for button in row.data.get("buttons") or ():
            if isinstance(button, dict) and isinstance(button.get("payload"), str):
                payloads.add(button["payload"].strip())
    return frozenset(payloads)
