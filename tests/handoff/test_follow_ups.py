"""Follow-ups outside business hours: the customer is told, a follow-up is created, an
agent answers it from the console, and the answer goes out by email (real SMTP, through
the outbox) when the customer's address is known, otherwise on their channel; the
follow-up is closed with who answered and when. Hostile requests change nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from conversations import Conversation, Customer, Message
from gateway.db import Database
from handoff import FollowUp
from tests.handoff.conftest import Console, MakeConsole, Staff
from tests.handoff.mail import email_settings, mail, outbound_texts, send_mail, wait_for_event
from tests.mail_servers import CapturingRelay

API = "/console/api"
CLOSED = "mon 00:00-00:00"  # never open


async def follow_ups(staff: Staff, status: str = "open") -> list[dict[str, Any]]:
    async with staff.http.get(f"{API}/follow-ups", params={"status": status}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["follow_ups"]


async def open_follow_ups(staff: Staff, count: int, timeout_s: float = 20.0) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(items := await follow_ups(staff)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(items)} of {count} follow-ups")
        await asyncio.sleep(0.1)
    return items


async def answer(staff: Staff, follow_up_id: object, text: str) -> tuple[int, Any]:
    async with staff.http.post(
        f"{API}/follow-ups/{follow_up_id}/answer", json={"text": text}, headers=staff.headers()
    ) as r:
        return r.status, await r.json(content_type=None)


async def closed_console(make_console: MakeConsole, relay: CapturingRelay) -> tuple[Console, int]:
    settings = email_settings(relay, HANDOFF_HOURS=CLOSED, HANDOFF_INTERVAL_S=0.2)
    return await make_console(**settings), int(settings["EMAIL_LISTEN_PORT"])  # type: ignore[call-overload]


async def web_chat_customer(
    console: Console, text: str
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    session = uuid.uuid4().hex
    ws = await console.anonymous.ws_connect("/webchat/ws")
    await ws.send_json({"type": "hello", "session": session})
    await ws.send_json({"type": "message", "client_id": uuid.uuid4().hex, "text": text})
    return ws, session


async def frames_until(ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
    while True:
        frame = await ws.receive_json(timeout=20)
        if frame.get("type") == "message" and frame["message"].get("text") == text:
            return


async def test_an_email_customer_gets_the_answer_by_email_in_their_thread(
    make_console: MakeConsole, database: Database, smtp_relay: CapturingRelay
) -> None:
    console, port = await closed_console(make_console, smtp_relay)
    customer = "ann@example.org"
    await send_mail(port, customer, mail(customer, "Can someone call me?", "<ask@example.org>"))
    alice = await console.log_in("alice")
    [item] = await open_follow_ups(alice, 1)
    assert item["email"] == customer and item["customer_wrote"] == ["Can someone call me?"]
    told = [m.get_content() for m in await smtp_relay.wait_for(2)]
    assert any("away right now" in body and "by email" in body for body in told)

    status, body = await answer(alice, item["id"], "We will call you at 10 tomorrow.")
    assert (status, body["channel"]) == (200, "email")
    sent = (await smtp_relay.wait_for(3))[-1]
    assert sent["To"] == customer and sent["In-Reply-To"] == "<ask@example.org>"
    assert "We will call you at 10 tomorrow." in sent.get_content()
    assert await follow_ups(alice) == []
    [done] = await follow_ups(alice, "answered")
    assert (
        done["answered_by"] == "Alice" and done["answered_at"] and done["answer_channel"] == "email"
    )
    assert done["delivery"] in ("sending", "sent")
    [event] = await wait_for_event(database, "follow_up.answered")
    assert event.data["agent_id"] == console.users["alice"]


async def test_a_web_chat_customer_with_a_known_address_is_answered_by_email(
    make_console: MakeConsole, database: Database, smtp_relay: CapturingRelay
) -> None:
    console, _ = await closed_console(make_console, smtp_relay)
    ws, _session = await web_chat_customer(console, "Please get back to me")
    alice = await console.log_in("alice")
    [item] = await open_follow_ups(alice, 1)
    assert item["email"] is None
    async with database.transaction() as session:  # learned since, say, from an order
        await session.exec(update(Customer).values(email="bo@example.org"))
    assert [f["email"] for f in await follow_ups(alice)] == ["bo@example.org"]
    status, body = await answer(alice, item["id"], "Your parcel left today.")
    assert (status, body["channel"]) == (200, "email")
    sent = (await smtp_relay.wait_for(1))[-1]
    assert sent["To"] == "bo@example.org" and "Your parcel left today." in sent.get_content()
    async with database.transaction() as session:
        conversations = (await session.exec(select(Conversation.channel))).all()
        customers = (await session.exec(select(Customer.id))).all()
    assert sorted(conversations) == ["email", "webchat"] and len(customers) == 1
    await ws.close()


async def test_without_an_address_the_answer_goes_on_the_customers_channel(
    make_console: MakeConsole, database: Database, smtp_relay: CapturingRelay
) -> None:
    console, _ = await closed_console(make_console, smtp_relay)
    ws, _session = await web_chat_customer(console, "hello <b>anyone</b>?")
    alice = await console.log_in("alice")
    [item] = await open_follow_ups(alice, 1)
    assert item["email"] is None and item["channel"] == "webchat"
    assert item["customer_wrote"] == ["hello <b>anyone</b>?"]  # as typed, never as markup
    markup = "Thanks! <script>alert(1)</script> See you."
    status, body = await answer(alice, item["id"], markup)
    assert (status, body["channel"]) == (200, "webchat")
    await frames_until(ws, markup)  # pushed to the open chat, as text
    assert smtp_relay.messages == []
    await ws.close()


async def test_a_follow_up_is_answered_once_when_two_agents_race(
    make_console: MakeConsole, database: Database, smtp_relay: CapturingRelay
) -> None:
    console, port = await closed_console(make_console, smtp_relay)
    await send_mail(port, "cy@example.org", mail("cy@example.org", "help"))
    alice, bob = await console.log_in("alice"), await console.log_in("bob")
    [item] = await open_follow_ups(alice, 1)
    results = await asyncio.gather(
        answer(alice, item["id"], "from alice"), answer(bob, item["id"], "from bob")
    )
    assert sorted(status for status, _ in results) == [200, 409]
    await asyncio.sleep(0.5)
    async with database.transaction() as session:
        answers = (
            await session.exec(select(Message.text).where(col(Message.sender) == "agent"))
        ).all()
        row = (await session.exec(select(FollowUp))).one()
    assert len(answers) == 1 and row.answer_message_id is not None
    assert row.answered_by in (console.users["alice"], console.users["bob"])


async def test_hostile_requests_are_refused_and_change_nothing(
    make_console: MakeConsole, database: Database, smtp_relay: CapturingRelay
) -> None:
    console, port = await closed_console(make_console, smtp_relay)
    await send_mail(port, "dee@example.org", mail("dee@example.org", "help"))
    alice, cora = await console.log_in("alice"), await console.log_in("cora")
    [item] = await open_follow_ups(alice, 1)
    path = f"{API}/follow-ups/{item['id']}/answer"
    async with console.anonymous.get(f"{API}/follow-ups") as r:
        assert r.status == 401
    async with console.anonymous.post(path, json={"text": "x"}) as r:
        assert r.status == 401
    async with cora.http.post(path, json={"text": "x"}, headers=cora.headers()) as r:
        assert r.status == 403  # content staff are not agents
    async with cora.http.get(f"{API}/follow-ups") as r:
        assert r.status == 403
    async with alice.http.post(path, json={"text": "x"}) as r:
        assert r.status == 403  # no CSRF token
    async with alice.http.post(path, json={"text": "x"}, headers={"X-CSRF-Token": "forged"}) as r:
        assert r.status == 403
    for bad in ({"text": ""}, {"text": "   "}, {"text": 5}, {"text": "x" * 4001}, {}, [1]):
        async with alice.http.post(path, json=bad, headers=alice.headers()) as r:
            assert r.status == 400, bad
    async with alice.http.post(
        path, data=b"{not json", headers={**alice.headers(), "Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    async with alice.http.post(path, data=b"x" * 100_000, headers=alice.headers()) as r:
        assert r.status == 413
    for bad_id in ("0", "-1", "abc", "99999999999999999999", "1e3", "%C2%B2", "2147483648"):
        status, _ = await answer(alice, bad_id, "x")
        assert status == 404, bad_id
    async with alice.http.get(f"{API}/follow-ups", params={"status": "<script>"}) as r:
        assert r.status == 400
    assert [f["id"] for f in await follow_ups(alice)] == [item["id"]]  # still open
    assert await follow_ups(alice, "answered") == []
    async with database.transaction() as session:
        agent_messages = (
            await session.exec(select(Message.id).where(col(Message.sender) == "agent"))
        ).all()
    assert agent_messages == []


@pytest.mark.parametrize("hours", ["always"])
async def test_inside_business_hours_no_follow_up_is_made(
    make_console: MakeConsole, database: Database, smtp_relay: CapturingRelay, hours: str
) -> None:
    settings = email_settings(smtp_relay, HANDOFF_HOURS=hours, HANDOFF_INTERVAL_S=0.2)
    console = await make_console(**settings)
    port = int(settings["EMAIL_LISTEN_PORT"])  # type: ignore[call-overload]
    await send_mail(port, "eve@example.org", mail("eve@example.org", "help"))
    await wait_for_event(database, "queue.position_told")
    alice = await console.log_in("alice")
    assert await follow_ups(alice) == []
    async with database.transaction() as session:
        conversation_id = (await session.exec(select(Conversation.id))).one()
    assert any("in the queue" in t for t in await outbound_texts(database, conversation_id))
