"""Service metrics computed from the stored conversation events (nothing kept on the side),
and their CSV export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import asdict, dataclass

__all__ = ["FCR_WINDOW", "Metrics", "asdict", "compute", "daily", "to_csv"]
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import Conversation, ConversationEvent, Customer, store

FCR_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Metrics:
    since: str
    until: str
    conversations: int
    handoffs: int
    answered: int
    abandoned: int
    service_level: float | None  # answered within the threshold / (answered + abandoned)
    service_level_threshold_s: float
    average_speed_of_answer_s: float | None
    abandonment_rate: float | None
    resolved: int
    average_handle_time_s: float | None
    first_contact_resolution: float | None
    csat_average: float | None
    csat_responses: int
    containment: float | None  # conversations that never reached a person


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


async def compute(
    session: AsyncSession, since: datetime, until: datetime, threshold_s: float
) -> Metrics:
    rows = (
        await session.exec(
            # the person: a customer merged across channels counts as the one it joined
            select(ConversationEvent, func.coalesce(Customer.merged_into_id, Customer.id))
            .join(Conversation, col(Conversation.id) == col(ConversationEvent.conversation_id))
            .join(Customer, col(Customer.id) == col(Conversation.customer_id))
            .where(
                col(ConversationEvent.created_at) >= since,
                col(ConversationEvent.created_at) < until + FCR_WINDOW,
            )
            .order_by(col(ConversationEvent.id))
        )
    ).all()
    in_period = [(e, c) for e, c in rows if store.as_utc(e.created_at) < until]
    by_type: defaultdict[str, list[ConversationEvent]] = defaultdict(list)
    for event, _ in in_period:
        by_type[event.type].append(event)

    started = {e.conversation_id for e in by_type["conversation.started"]}
    handed = {e.conversation_id for e in by_type["conversation.handed_off"]}
    waits = [
        float(e.data.get("wait_s", 0.0))
        for e in by_type["conversation.assigned"]
        if e.data.get("mode") != "transfer"
    ]
    abandoned = len(by_type["conversation.abandoned"])
    within = sum(1 for w in waits if w <= threshold_s)
    handles = [float(e.data.get("handle_s", 0.0)) for e in by_type["conversation.resolved"]]
    scores = [
        float(e.data["score"])
        for e in by_type["csat.received"]
        if isinstance(e.data.get("score"), int | float)
    ]

    # First-contact resolution: no new handoff on the same queue by the same person
    # within 7 days of a resolution.
    later: defaultdict[tuple[int, str], list[datetime]] = defaultdict(list)
    for event, customer_id in rows:
        if event.type == "conversation.handed_off":
            later[(customer_id, str(event.data.get("queue")))].append(
                store.as_utc(event.created_at)
            )
    customer_of = {e.conversation_id: c for e, c in in_period}
    first_contact = 0
    for event in by_type["conversation.resolved"]:
        at = store.as_utc(event.created_at)
        key = (customer_of[event.conversation_id], str(event.data.get("queue")))
        if not any(at < t <= at + FCR_WINDOW for t in later[key]):
            first_contact += 1

    return Metrics(
        since=since.isoformat(),
        until=until.isoformat(),
        conversations=len(started),
        handoffs=len(handed),
        answered=len(waits),
        abandoned=abandoned,
        service_level=_ratio(within, len(waits) + abandoned),
        service_level_threshold_s=threshold_s,
        average_speed_of_answer_s=_mean(waits),
        abandonment_rate=_ratio(abandoned, len(by_type["conversation.handed_off"])),
        resolved=len(handles),
        average_handle_time_s=_mean(handles),
        first_contact_resolution=_ratio(first_contact, len(handles)),
        csat_average=_mean(scores),
        csat_responses=len(scores),
        containment=_ratio(len(started - handed), len(started)),
    )


async def daily(
    session: AsyncSession, since: datetime, until: datetime, threshold_s: float
) -> list[Metrics]:
    """One row per calendar day (UTC); the first and last may be partial."""
    days: list[Metrics] = []
    start = since
    while start < until:
        midnight = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        end = min(midnight + timedelta(days=1), until)
        days.append(await compute(session, start, end, threshold_s))
        start = end
    return days


def to_csv(rows: list[Metrics]) -> str:
    out = io.StringIO()
    fields = list(Metrics.__dataclass_fields__)
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(row).items()})
    return out.getvalue()
