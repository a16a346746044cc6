"""What a waiting customer is told: their place in the queue and an estimated wait."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import ConversationEvent
from conversations.models import utcnow

from .models import Agent, AgentState, EntryStatus, QueueEntry


async def places(session: AsyncSession, limit: int = 500) -> list[tuple[QueueEntry, int]]:
    """Every waiting entry with its place in its queue (1 is next: higher priority, then
    earlier), in one query."""
    place = (
        func.rank()
        .over(
            partition_by=col(QueueEntry.queue),
            order_by=(col(QueueEntry.priority).desc(), col(QueueEntry.created_at)),
        )
        .label("place")
    )
    rows = await session.exec(
        select(QueueEntry, place)
        .where(QueueEntry.status == EntryStatus.WAITING)
        .order_by(col(QueueEntry.id))
        .limit(limit)
    )
    return [(entry, int(n)) for entry, n in rows.all()]


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


async def per_seat_handle_s(
    session: AsyncSession, queues: set[str], default_handle_s: float
) -> dict[str, float]:
    """For each queue, the mean handle time over the online agents' seats for its skill:
    a customer at place N waits about N times this."""
    agents = (await session.exec(select(Agent).where(Agent.state == AgentState.ONLINE))).all()
    out: dict[str, float] = {}
    for queue in queues:
        seats = sum(a.capacity for a in agents if queue in a.skill_list())
        out[queue] = await average_handle_s(session, queue, default_handle_s) / max(seats, 1)
    return out


def wait_text(place: int, wait_s: float) -> str:
    minutes = max(1, math.ceil(wait_s / 60))
    unit = "minute" if minutes == 1 else "minutes"
    ahead = "You are next in the queue" if place == 1 else f"You are number {place} in the queue"
    return f"{ahead}. The estimated wait is about {minutes} {unit}."
