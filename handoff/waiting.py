"""What a waiting customer is told: their place in the queue and an estimated wait."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import ConversationEvent
from conversations.models import utcnow

from .models import Agent, AgentState, EntryStatus, QueueEntry


async def position(session: AsyncSession, entry: QueueEntry) -> int:
    """1 for the next to be served in the entry's queue (higher priority, then earlier)."""
    ahead = await session.exec(
        select(func.count())
        .select_from(QueueEntry)
        .where(
            QueueEntry.status == EntryStatus.WAITING,
            QueueEntry.queue == entry.queue,
            col(QueueEntry.id) != entry.id,
            or_(
                col(QueueEntry.priority) > entry.priority,
                (col(QueueEntry.priority) == entry.priority)
                & (col(QueueEntry.created_at) < entry.created_at),
            ),
        )
    )
    return int(ahead.one()) + 1


async def average_handle_s(session: AsyncSession, queue: str, default_s: float) -> float:
    """Mean handle time of the queue's last 50 resolved conversations (a week at most)."""
    rows = (
        await session.exec(
            select(ConversationEvent.data)
            .where(
                ConversationEvent.type == "conversation.resolved",
                col(ConversationEvent.created_at) >= utcnow() - timedelta(days=7),
            )
            .order_by(col(ConversationEvent.id).desc())
            .limit(200)
        )
    ).all()
    handles = [
        float(d["handle_s"])
        for d in rows
        if isinstance(d, dict) and d.get("queue") == queue and d.get("handle_s") is not None
    ][:50]
    return sum(handles) / len(handles) if handles else default_s


async def estimate_wait_s(
    session: AsyncSession, entry: QueueEntry, place: int, default_handle_s: float
) -> float:
    """Place in line times the mean handle time, over the online agents' seats for the skill."""
    agents = (await session.exec(select(Agent).where(Agent.state == AgentState.ONLINE))).all()
    seats = sum(a.capacity for a in agents if entry.queue in a.skill_list())
    handle = await average_handle_s(session, entry.queue, default_handle_s)
    return place * handle / max(seats, 1)


def wait_text(place: int, wait_s: float) -> str:
    minutes = max(1, math.ceil(wait_s / 60))
    unit = "minute" if minutes == 1 else "minutes"
    ahead = "You are next in the queue" if place == 1 else f"You are number {place} in the queue"
    return f"{ahead}. The estimated wait is about {minutes} {unit}."
