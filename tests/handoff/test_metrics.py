"""Metrics from stored events: service level, speed of answer, abandonment, handle time,
first-contact resolution, CSAT, containment; the CSV export; CSAT answers parsed strictly."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from conversations import Conversation, ConversationEvent, customers, store
from conversations.models import utcnow
from gateway.db import Database
from handoff import abandon, hand_off, resolve, take_next
from handoff.csat import csat_buttons, parse_csat
from handoff.metrics import compute, daily, to_csv
from tests.handoff.helpers import agent, new_conversation, queued


async def test_figures_from_events(database: Database) -> None:
    await agent(database, 1, capacity=5)
    fast = await queued(database, address="ann")
    slow = await queued(database, address="ben")
    gone = await queued(database, address="cat")
    await new_conversation(database, address="dan")  # the bot alone: contained
    async with database.transaction() as session:
        assert await take_next(session, 1) is not None
        # Ben waited 30 s: rewrite his assignment's recorded wait as the clock would have.
        assert await take_next(session, 1) is not None
    async with database.transaction() as session:
        await session.exec(
            update(ConversationEvent)
            .where(
                col(ConversationEvent.conversation_id) == slow,
                col(ConversationEvent.type) == "conversation.assigned",
            )
            .values(data={"agent_id": 1, "queue": "general", "mode": "take_next", "wait_s": 30.0})
        )
        assert await abandon(session, gone)
        assert await resolve(session, fast, 1, "solved")
        assert await resolve(session, slow, 1, "solved")
        await store.append_event(session, fast, "csat.received", score=5)
        await store.append_event(session, slow, "csat.received", score=2)
    # Ben is back on the same topic (his conversation stays open after a resolution).
    async with database.transaction() as session:
        assert await hand_off(session, slow, "customer_request")

    now = utcnow()
    async with database.transaction() as session:
        figures = await compute(session, now - timedelta(hours=1), now + timedelta(seconds=1), 20.0)
    assert (figures.conversations, figures.handoffs) == (4, 3)  # conversations handed off
    assert (figures.answered, figures.abandoned, figures.resolved) == (2, 1, 2)
    assert figures.service_level == pytest.approx(1 / 3, abs=1e-3)  # 1 within 20 s of 3
    assert (
        figures.average_speed_of_answer_s is not None
        and 15 <= figures.average_speed_of_answer_s <= 16
    )
    assert figures.abandonment_rate == 0.25  # 1 of 4 handoffs
    assert figures.first_contact_resolution == 0.5  # Ben came back
    assert (figures.csat_average, figures.csat_responses) == (3.5, 2)
    assert figures.containment == 0.25  # only Dan's conversation stayed with the bot

    async with database.transaction() as session:
        days = await daily(session, now - timedelta(days=2), now + timedelta(seconds=1), 20.0)
    rows = list(csv.DictReader(io.StringIO(to_csv(days))))
    assert len(rows) in (3, 4)  # calendar days, partial at both ends
    assert sum(int(r["handoffs"]) for r in rows) == 3
    assert rows[0]["service_level"] == ""  # no data that day: empty, not zero


async def test_a_person_merged_across_channels_is_one_contact(database: Database) -> None:
    """Resolved by email, back the next minute on Telegram: once the two customer records are
    one person, the first contact was not resolved."""
    await agent(database, 1, capacity=5)
    by_mail = await queued(database, address="eve@example.org")
    async with database.transaction() as session:
        assert await take_next(session, 1) is not None
        assert await resolve(session, by_mail, 1, "solved")
    by_chat = await new_conversation(database, address="77001", channel="telegram")
    async with database.transaction() as session:
        assert await hand_off(session, by_chat, "customer_request")
        ids = {
            (await session.get(Conversation, c)).customer_id  # type: ignore[union-attr]
            for c in (by_mail, by_chat)
        }
    now = utcnow()
    period = (now - timedelta(hours=1), now + timedelta(seconds=1), 20.0)
    async with database.transaction() as session:
        assert (await compute(session, *period)).first_contact_resolution == 1.0
    await database.run_blocking(
        lambda conn: customers.merge(conn, ids, is_sqlite=database.is_sqlite)
    )
    async with database.transaction() as session:
        assert (await compute(session, *period)).first_contact_resolution == 0.0


@pytest.mark.parametrize(
    ("payload", "score"),
    [
        ('/csat{"score":4}', 4),
        ('/csat{"score":0}', None),
        ('/csat{"score":6}', None),
        ('/csat{"score":true}', None),
        ('/csat{"score":"5"}', None),
        ("/csat{not json", None),
        ("/csat[1]", None),
        ('/csat{"score":' + "9" * 50 + "}", None),
        ("5", None),
        (None, None),
    ],
)
def test_csat_answers_are_parsed_strictly(payload: str | None, score: int | None) -> None:
    assert parse_csat(payload) == score


def test_csat_buttons_round_trip() -> None:
    assert [parse_csat(b.payload) for b in csat_buttons()] == [1, 2, 3, 4, 5]
