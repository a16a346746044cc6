"""The console's API over real HTTP: roles, CSRF, bad input, and an agent's whole flow
(take, read the context, reply, note, transfer, resolve, hand back) with its metrics."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import col, select

from conversations import Conversation, ConversationEvent, Message, Owner
from gateway.db import Database
from handoff import QueueEntry
from tests.handoff.conftest import Console, Staff
from tests.handoff.helpers import queued

API = "/console/api"


async def status_of(staff: Staff, method: str, path: str, **kwargs: object) -> int:
    async with staff.http.request(method, path, **kwargs) as response:  # type: ignore[arg-type]
        return response.status


async def online(staff: Staff) -> None:
    async with staff.http.post(
        f"{API}/state", json={"state": "online"}, headers=staff.headers()
    ) as r:
        assert r.status == 200, await r.text()


async def take(staff: Staff) -> str | None:
    async with staff.http.post(f"{API}/take-next", json={}, headers=staff.headers()) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["conversation_id"]


async def counts(db: Database) -> tuple[int, int]:
    async with db.transaction() as session:
        messages = len((await session.exec(select(Message.id))).all())
        events = len((await session.exec(select(ConversationEvent.id))).all())
    return messages, events


async def test_anonymous_and_wrong_roles_are_refused(console: Console) -> None:
    anon = console.anonymous
    async with anon.get("/console", headers={"Accept": "text/html"}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/login?next=/console")
    for method, path in (
        ("GET", f"{API}/queue"),
        ("POST", f"{API}/take-next"),
        ("GET", f"{API}/metrics.csv"),
    ):
        async with anon.request(method, path) as r:
            assert r.status == 401
            assert (await r.json())["error"]
    async with anon.get("/console/ws") as r:
        assert r.status == 401
    cora = await console.log_in("cora")  # content staff
    assert await status_of(cora, "GET", f"{API}/queue") == 403
    assert await status_of(cora, "GET", "/console") == 403
    alice = await console.log_in("alice")
    assert await status_of(alice, "GET", f"{API}/supervisor") == 403
    assert await status_of(alice, "GET", f"{API}/metrics.csv") == 403
    assert await status_of(alice, "GET", "/console/supervisor/ws") == 403
    sam = await console.log_in("sam")
    assert await status_of(sam, "GET", f"{API}/supervisor") == 200
    assert await status_of(sam, "POST", f"{API}/take-next", json={}, headers=sam.headers()) == 403


async def test_unsafe_requests_need_the_csrf_token(console: Console, database: Database) -> None:
    await queued(database)
    alice = await console.log_in("alice")
    await online(alice)
    assert await status_of(alice, "POST", f"{API}/take-next", json={}) == 403
    forged = {"X-CSRF-Token": "x" * len(alice.csrf)}
    assert await status_of(alice, "POST", f"{API}/take-next", json={}, headers=forged) == 403
    async with database.transaction() as session:
        conversation = (await session.exec(select(Conversation))).one()
    assert conversation.owner == Owner.QUEUED  # nothing was taken


async def test_an_agents_flow_end_to_end(console: Console, database: Database) -> None:
    vip = await queued(database, priority=10)
    alice, bob, sam = [await console.log_in(n) for n in ("alice", "bob", "sam")]
    await online(alice)
    await online(bob)
    assert await take(alice) == vip
    assert await take(alice) is None

    async with alice.http.get(f"{API}/conversations/{vip}") as r:
        assert r.status == 200
        context = await r.json()
    assert context["reason"] == "customer_request" and context["owner"] == "agent"
    assert context["transcript"][0]["text"] == "help"
    assert context["profile"]["channel"] == "rest"
    assert "Customer wrote" in context["summary"]
    assert context["tracker_available"] is False  # Rasa is not running in this test
    assert await status_of(bob, "GET", f"{API}/conversations/{vip}") == 404  # not bob's

    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    async with alice.http.post(
        f"{API}/conversations/{vip}/reply", json={"text": hostile}, headers=alice.headers()
    ) as r:
        assert r.status == 200
    async with alice.http.post(
        f"{API}/conversations/{vip}/note",
        json={"text": "asked twice already"},
        headers=alice.headers(),
    ) as r:
        assert r.status == 200
    async with alice.http.get(f"{API}/conversations/{vip}") as r:
        context = await r.json()
    assert (
        context["transcript"][-1]["text"] == hostile
        and context["transcript"][-1]["sender"] == "agent"
    )
    assert context["notes"] == [
        {"agent": "Alice", "text": "asked twice already", "at": context["notes"][0]["at"]}
    ]

    async with alice.http.post(
        f"{API}/conversations/{vip}/transfer",
        json={"agent_id": console.users["bob"], "note": "refund over the limit"},
        headers=alice.headers(),
    ) as r:
        assert r.status == 200, await r.text()
    assert await take(bob) == vip
    async with bob.http.post(
        f"{API}/conversations/{vip}/resolve", json={"disposition": "solved"}, headers=bob.headers()
    ) as r:
        assert r.status == 200
    async with database.transaction() as session:
        texts = (
            await session.exec(
                select(Message.text).where(Message.conversation_id == vip).order_by(col(Message.id))
            )
        ).all()
        conversation = await session.get(Conversation, vip)
    assert texts[-1] == "How did we do today? Choose from 1 (poor) to 5 (great)."
    assert conversation is not None and conversation.owner == Owner.BOT

    async with sam.http.get(f"{API}/metrics") as r:
        figures = await r.json()
    assert figures["handoffs"] == 1 and figures["resolved"] == 1 and figures["answered"] == 1
    assert figures["service_level"] == 1.0 and figures["first_contact_resolution"] == 1.0
    async with sam.http.get(f"{API}/metrics.csv") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert sum(int(row["resolved"]) for row in rows) == 1
    async with sam.http.get(f"{API}/supervisor") as r:
        overview = await r.json()
    assert {a["display_name"]: a["state"] for a in overview["agents"]} == {
        "Alice": "online",
        "Bob": "online",
    }


async def test_hand_back_returns_the_conversation_to_the_bot(
    console: Console, database: Database
) -> None:
    conversation_id = await queued(database)
    alice = await console.log_in("alice")
    await online(alice)
    assert await take(alice) == conversation_id
    async with alice.http.post(
        f"{API}/conversations/{conversation_id}/hand-back", headers=alice.headers()
    ) as r:
        assert r.status == 200
    async with alice.http.post(
        f"{API}/conversations/{conversation_id}/hand-back", headers=alice.headers()
    ) as r:
        assert r.status == 404  # no longer hers
    async with database.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        entry = (await session.exec(select(QueueEntry))).one()
    assert conversation is not None and conversation.owner == Owner.BOT
    assert entry.outcome == "handed_back"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("reply", b"{not json", 400),
        ("reply", b"[1, 2]", 400),
        ("reply", b'{"text": ""}', 400),
        ("reply", b'{"text": 42}', 400),
        ("reply", ('{"text": "' + "x" * 5000 + '"}').encode(), 400),
        ("note", b'{"text": "   "}', 400),
        ("resolve", b'{"disposition": "<script>"}', 400),
        ("transfer", b"{}", 400),
        ("transfer", b'{"agent_id": "1; DROP TABLE"}', 400),
        ("transfer", b'{"agent_id": 999999}', 400),
        ("reply", b"x" * 70_000, 413),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    console: Console, database: Database, path: str, body: bytes, status: int
) -> None:
    conversation_id = await queued(database)
    alice = await console.log_in("alice")
    await online(alice)
    assert await take(alice) == conversation_id
    before = await counts(database)
    headers = {**alice.headers(), "Content-Type": "application/json"}
    async with alice.http.post(
        f"{API}/conversations/{conversation_id}/{path}", data=body, headers=headers
    ) as r:
        assert r.status == status
        assert "error" in await r.json()
    assert await counts(database) == before


async def test_unknown_and_forged_conversation_ids(console: Console, database: Database) -> None:
    alice = await console.log_in("alice")
    await online(alice)
    for forged in ("nope", "../../etc/passwd", "x" * 500, "%3Cscript%3E"):
        assert await status_of(alice, "GET", f"{API}/conversations/{forged}") == 404
        assert (
            await status_of(
                alice,
                "POST",
                f"{API}/conversations/{forged}/reply",
                json={"text": "hi"},
                headers=alice.headers(),
            )
            == 404
        )
    assert (
        await status_of(
            alice, "POST", f"{API}/state", json={"state": "asleep"}, headers=alice.headers()
        )
        == 400
    )
    assert (
        await status_of(
            alice, "POST", f"{API}/state", json={"capacity": 10_000}, headers=alice.headers()
        )
        == 400
    )
    assert await status_of(alice, "GET", f"{API}/canned?q=" + "q" * 600) == 400
    async with alice.http.get(f"{API}/canned", params={"q": "how long does shipping take"}) as r:
        assert r.status == 200 and (await r.json())["answers"]


async def test_the_live_socket_shows_the_queue_and_new_customer_messages(
    console: Console, database: Database
) -> None:
    alice = await console.log_in("alice")
    await online(alice)
    conversation_id = await queued(database)
    async with alice.http.ws_connect("/console/ws") as ws:
        frame = await ws.receive_json(timeout=5)
        assert frame["type"] == "queue"
        assert [e["conversation_id"] for e in frame["waiting"]] == [conversation_id]
        assert await take(alice) == conversation_id
        await ws.send_json({"watch": conversation_id})
        await ws.send_str("not json")
        while True:
            frame = await ws.receive_json(timeout=5)
            if frame.get("type") == "error":
                continue
            if frame.get("watched"):
                break
        assert [e["conversation_id"] for e in frame["mine"]] == [conversation_id]
        assert frame["watched"]["messages"][0]["text"] == "help"


async def test_the_live_socket_refuses_oversized_and_odd_frames(console: Console) -> None:
    alice = await console.log_in("alice")
    async with alice.http.ws_connect("/console/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "queue"
        await ws.send_json({"watch": ["not", "an", "id"]})  # ignored
        await ws.send_json({"watch": "0" * 100})  # unknown: nothing watched
        await ws.send_str("x" * 10_000)
        while (message := await ws.receive(timeout=5)).type.name == "TEXT":
            assert "watched" not in message.json() or message.json()["watched"] is None
        assert message.type.name in ("CLOSE", "CLOSED", "CLOSING")
    async with alice.http.get(f"{API}/queue") as r:
        assert r.status == 200  # the gateway carries on
