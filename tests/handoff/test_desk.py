"""The desk's rounds: assignment announced, place and wait told once and again when they
change, silent customers abandoned, follow-ups outside business hours."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from conversations import Conversation, ConversationEvent, Message, Owner, store
from conversations.models import utcnow
from gateway.db import Database
from handoff import FollowUp, QueueEntry, resolve, take_next
from handoff.desk import Desk, DeskConfig
from handoff.hours import BusinessHours
from handoff.waiting import places
from tests.handoff.helpers import agent, queued


class Sent:
    def __init__(self) -> None:
        self.ids: list[int] = []

    async def __call__(self, ids: list[int]) -> None:
        self.ids += ids


def desk(db: Database, sent: Sent, **config: object) -> Desk:
    values: dict[str, object] = {"auto_assign": False, "update_every_s": 0.0}
    values.update(config)
    return Desk(db.transaction, sent, DeskConfig(**values))  # type: ignore[arg-type]


async def texts(db: Database, conversation_id: str) -> list[str]:
    async with db.transaction() as session:
        rows = await store.conversation_messages(session, conversation_id)
    return [r.text or "" for r in rows if r.direction == "out"]


async def test_waiting_customers_hear_their_place_and_its_changes(database: Database) -> None:
    first, second, third = [await queued(database) for _ in range(3)]
    sent = Sent()
    await desk(database, sent).tick()
    assert await texts(database, first) == [
        "You are next in the queue. The estimated wait is about 5 minutes."
    ]
    assert (await texts(database, third))[0].startswith("You are number 3 in the queue.")
    assert len(sent.ids) == 3
    await desk(database, sent).tick()
    assert len(sent.ids) == 3  # nothing changed: nothing said
    await agent(database, 1, capacity=1)
    async with database.transaction() as session:
        assert (await take_next(session, 1)) is not None
    await desk(database, sent).tick()
    assert (await texts(database, second))[-1].startswith("You are next in the queue.")
    assert (await texts(database, third))[-1].startswith("You are number 2 in the queue.")
    assert len(await texts(database, first)) == 1


async def test_place_notices_can_be_turned_off(database: Database) -> None:
    waiting = await queued(database)
    sent = Sent()
    await desk(database, sent, tell_place=False).tick()
    assert await texts(database, waiting) == []
    assert sent.ids == []


async def test_estimate_uses_recent_handle_times_and_online_seats(database: Database) -> None:
    await agent(database, 1, capacity=2)
    served = await queued(database)
    async with database.transaction() as session:
        await take_next(session, 1)
        assert await resolve(session, served, 1, "solved")
    waiting = [await queued(database) for _ in range(4)]
    await desk(database, Sent(), default_handle_s=600.0).tick()
    # handle time ~0 s from the one resolved conversation: every estimate is the 1-minute floor
    assert (await texts(database, waiting[3]))[0] == (
        "You are number 4 in the queue. The estimated wait is about 1 minute."
    )


async def test_automatic_assignment_tells_the_customer_who_joined(database: Database) -> None:
    await agent(database, 7)
    conversation_id = await queued(database)
    sent = Sent()
    await desk(database, sent, auto_assign=True).tick()
    assert await texts(database, conversation_id) == ["Agent 7 has joined the conversation."]
    async with database.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
    assert conversation is not None and (conversation.owner, conversation.agent_id) == ("agent", 7)


async def test_silent_waiting_customers_are_recorded_as_abandoned(database: Database) -> None:
    conversation_id = await queued(database)
    await desk(database, Sent(), abandon_after_s=3600).tick()
    async with database.transaction() as session:
        assert (await session.get(Conversation, conversation_id)).owner == Owner.QUEUED  # type: ignore[union-attr]
    await desk(database, Sent(), abandon_after_s=0).tick()
    async with database.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        entry = (await session.exec(select(QueueEntry))).one()
        events = (
            await session.exec(select(ConversationEvent.type).order_by(col(ConversationEvent.id)))
        ).all()
    assert conversation is not None and conversation.owner == Owner.BOT
    assert (entry.status, entry.outcome) == ("closed", "abandoned")
    assert events[-1] == "conversation.abandoned"


async def test_outside_business_hours_a_follow_up_is_created(database: Database) -> None:
    closed = BusinessHours(frozenset(), time(9), time(17), ZoneInfo("UTC"))
    conversation_id = await queued(database)
    await desk(database, Sent(), hours=closed).tick()
    async with database.transaction() as session:
        follow_ups = (await session.exec(select(FollowUp))).all()
        outgoing = (await session.exec(select(Message).where(Message.direction == "out"))).all()
    assert [(f.conversation_id, f.email, f.status) for f in follow_ups] == [
        (conversation_id, None, "open")
    ]
    assert outgoing[0].text is not None and "away right now" in outgoing[0].text


def test_business_hours_parse_and_check() -> None:
    from datetime import UTC, datetime

    hours = BusinessHours.parse("mon-fri 09:00-17:00", "Europe/London")
    assert hours.is_open(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # Monday
    assert not hours.is_open(datetime(2026, 11, 23, 18, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 11, 22, 10, 0, tzinfo=UTC))  # Sunday
    assert BusinessHours.parse("always").is_open(datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    for bad in ("weekdays", "mon-fri 9-5", "mon-xyz 09:00-17:00"):
        try:
            BusinessHours.parse(bad)
        except ValueError as exc:
            assert "business hours" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


async def test_a_queue_longer_than_one_round_is_told_over_the_next_rounds(
    database: Database,
) -> None:
    waiting = [await queued(database) for _ in range(5)]
    now = utcnow()
    seen: list[tuple[str, int]] = []
    for _ in range(3):
        async with database.transaction() as session:
            batch = await places(session, due_before=now, limit=2)
            for entry, place in batch:
                entry.position_told, entry.told_at = place, now
                session.add(entry)
        seen += [(e.conversation_id, p) for e, p in batch]
    # places are ranked over the whole queue, not over one round's entries
    assert seen == [(c, n) for n, c in enumerate(waiting, start=1)]
    async with database.transaction() as session:
        assert await places(session, due_before=now, limit=2) == []
    # the first leaves: the others' places changed, but they were told just now
    await agent(database, 1, capacity=1)
    async with database.transaction() as session:
        assert (await take_next(session, 1)) is not None
        assert await places(session, due_before=now - timedelta(seconds=1)) == []
        due = await places(session, due_before=now + timedelta(seconds=1))
    assert [(e.conversation_id, p) for e, p in due] == [
        (c, n) for n, c in enumerate(waiting[1:], start=1)
    ]
