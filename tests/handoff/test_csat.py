"""The CSAT question after a resolution on a text-only channel: email shows the buttons as
numbered options, and a typed "5 - great" is the score while the question is the bot's
latest turn; afterwards a number is an ordinary message."""

from __future__ import annotations

import pytest

from gateway.db import Database
from handoff.csat import CSAT_PAYLOADS, CSAT_QUESTION, CSAT_THANKS, read_csat
from tests.handoff.conftest import MakeConsole
from tests.handoff.mail import email_settings, mail, send_mail, wait_for_event
from tests.mail_servers import CapturingRelay

OFFERED = CSAT_PAYLOADS | {"/greet"}


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("4", 4),
        ("5 - great", 5),
        ("5 \u2013 great", 5),
        (" 3. it was ok", 3),
        ("4/5", 4),
        ("1!", 1),
        ("2 thanks", 2),
        ("45", None),
        ("4.5", None),
        ("0", None),
        ("6", None),
        ("10", None),
        ("five", None),
        ("I'd say 4", None),
        ("", None),
    ],
)
def test_typed_answers_while_the_question_is_open(text: str, score: int | None) -> None:
    assert read_csat(None, text, OFFERED) == score


def test_nothing_is_a_score_unless_the_question_is_the_latest_turn() -> None:
    assert read_csat(None, "4", {"/greet"}) is None
    assert read_csat('/csat{"score":4}', None, {"/greet"}) is None  # a forged payload
    assert read_csat('/csat{"score":4}', None, OFFERED) == 4
    assert read_csat('/csat{"score":9}', None, OFFERED) is None
    assert read_csat(None, "5" + " " * 10_000, OFFERED) == 5  # long input is cut, not parsed


async def test_a_number_typed_by_email_answers_the_csat_question(
    make_console: MakeConsole, database: Database, smtp_relay: CapturingRelay
) -> None:
    settings = email_settings(smtp_relay)
    console = await make_console(**settings)
    port = int(settings["EMAIL_LISTEN_PORT"])  # type: ignore[call-overload]
    customer = "ann@example.org"
    await send_mail(port, customer, mail(customer, "I need a person please", "<q1@example.org>"))
    await smtp_relay.wait_for(1)  # Rasa is down: the customer is told a person will follow up
    alice = await console.log_in("alice")
    headers = alice.headers()
    async with alice.http.post("/console/api/state", json={"state": "online"}, headers=headers):
        pass
    async with alice.http.post("/console/api/take-next", json={}, headers=headers) as r:
        conversation_id = (await r.json())["conversation_id"]
    assert conversation_id
    async with alice.http.post(
        f"/console/api/conversations/{conversation_id}/resolve",
        json={"disposition": "solved"},
        headers=headers,
    ) as r:
        assert r.status == 200
    question = (await smtp_relay.wait_for(3))[-1]  # the joined notice, then the question
    body = question.get_content()
    assert CSAT_QUESTION in body
    assert all(f"{n}. {n}" in body for n in range(1, 6))  # the buttons as numbered options

    await send_mail(port, customer, mail(customer, "5 - great, thanks", "<q2@example.org>"))
    events = await wait_for_event(database, "csat.received")
    assert [e.data["score"] for e in events] == [5]
    assert CSAT_THANKS in (await smtp_relay.wait_for(4))[-1].get_content()

    # The thanks is now the latest turn: a number is an ordinary message (to Rasa, which is
    # down, so the customer is queued again), not a second score.
    await send_mail(port, customer, mail(customer, "4", "<q3@example.org>"))
    await smtp_relay.wait_for(5)
    assert len(await wait_for_event(database, "csat.received")) == 1
    assert len(await wait_for_event(database, "conversation.handed_off", 2)) == 2
