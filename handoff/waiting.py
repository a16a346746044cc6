"""What a waiting customer is told: their place in the queue and an estimated wait."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import ConversationEvent
from conversations.models import utcnow

from .models import Agent, AgentState, EntryStatus, QueueEntry


async def places(
    session: AsyncSession, due_before: datetime, limit: int = 500
) -> list[tuple[QueueEntry, int]]:
    """Waiting entries to tell, with their place in their queue (1 is next: higher priority,
    then earlier), in one query: those never told, and those whose place changed since
    they were last told before `due_before`. The places are ranked over every waiting
    entry; `limit` bounds one round, and the next round goes on where it stopped (the
    entries told meanwhile are no longer due)."""
    place = (
        func.rank()
        .over(
            partition_by=col(QueueEntry.queue),
            order_by=(col(QueueEntry.priority).desc(), col(QueueEntry.created_at)),
        )
        .label("place")
    )
    ranked = (
        select(col(QueueEntry.id).label("entry_id"), place)
        .where(QueueEntry.status == EntryStatus.WAITING)
        .subquery()
    )
    rows = await session.exec(
        select(QueueEntry, ranked.c.place)
        .join(ranked, ranked.c.entry_id == col(QueueEntry.id))
        .where(
            or_(
                col(QueueEntry.position_told).is_(None),
                and_(
                    col(QueueEntry.position_told) != ranked.c.place,
                    or_(
                        col(QueueEntry.told_at).is_(None),
                        col(QueueEntry.told_at) <= due_before,
                    ),
                ),
            )
        )
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
