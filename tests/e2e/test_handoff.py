"""Handoff with the real Rasa server and the gateway process: while people own the
conversation the customer's messages never reach Rasa; the agent sees Rasa's reading of
each message; after the hand-back Rasa answers again. Triggers hand over without Rasa."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
from sqlmodel import select

from gateway.db import Database
from gateway.rasa_process import RasaProcess
from handoff import hand_back
from handoff.models import EntryStatus, QueueEntry
from handoff.triggers import HANDED_OFF_TEXT
from tests.accounts_helpers import create_staff, login
from tests.harness import GatewayProcess

from .conftest import query, response_texts, rest

PASSWORD = "e2e agent password"


async def tracker_texts(rasa: RasaProcess, conversation_id: str) -> list[str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{rasa.url}/conversations/{conversation_id}/tracker") as response:
            tracker = await response.json()
    return [e.get("text") for e in tracker["events"] if e.get("event") == "user"]


def conversation_of(gateway: GatewayProcess, customer: str) -> tuple[str, str]:
    rows = query(
        gateway,
        "SELECT c.id, c.owner FROM conversation c JOIN channel_identity i ON i.id = c.identity_id "
        "WHERE i.external_id = ? AND c.status = 'open'",
        customer,
    )
    assert len(rows) == 1
    return rows[0]


async def agent_takes(
    http: aiohttp.ClientSession, csrf: str, conversation_id: str
) -> dict[str, Any]:
    """Online, then take the conversation (the desk may have assigned it already)."""
    headers = {"X-CSRF-Token": csrf}
    async with http.post("/console/api/state", json={"state": "online"}, headers=headers) as r:
        assert r.status == 200
    for _ in range(50):
        async with http.post("/console/api/take-next", json={}, headers=headers) as r:
            taken = (await r.json())["conversation_id"]
        async with http.get("/console/api/queue") as r:
            mine = [e["conversation_id"] for e in (await r.json())["mine"]]
        if taken == conversation_id or conversation_id in mine:
            async with http.get(f"/console/api/conversations/{conversation_id}") as r:
                assert r.status == 200
                return await r.json()
        await asyncio.sleep(0.2)
    raise AssertionError("the conversation was never assigned")


async def test_during_handoff_rasa_hears_nothing_and_resumes_after_hand_back(
    gateway: GatewayProcess, rasa: RasaProcess
) -> None:
    customer = uuid.uuid4().hex[:16]
    assert [r["text"] for r in await rest(gateway, customer, "I want to talk to a human")] == [
        HANDED_OFF_TEXT
    ]
    conversation_id, owner = conversation_of(gateway, customer)
    assert owner == "queued"
    for text in ("hello? are you there", "my order 1234 never arrived"):
        assert await rest(gateway, customer, text) == []
    heard = await tracker_texts(rasa, conversation_id)
    assert "I want to talk to a human" in heard
    assert "hello? are you there" not in heard and "my order 1234 never arrived" not in heard

    db = Database(gateway.env["DATABASE_URL"].replace("sqlite:///", "sqlite+aiosqlite:///", 1))
    username = f"agent-{customer[:8]}"
    await create_staff(db, username, PASSWORD, "agent", display_name="Dana")
    async with db.transaction() as session:  # earlier tests' queued customers go back to the bot
        others = await session.exec(
            select(QueueEntry.conversation_id).where(
                QueueEntry.status == EntryStatus.WAITING,
                QueueEntry.conversation_id != conversation_id,
            )
        )
        for other in others.all():
            await hand_back(session, other)
    await db.dispose()
    async with aiohttp.ClientSession(
        base_url=gateway.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        csrf = await login(http, "", username, PASSWORD)
        context = await agent_takes(http, csrf, conversation_id)
        first = context["transcript"][0]
        assert first["text"] == "I want to talk to a human"
        assert first["intent"] == "human_handoff" and first["confidence"] > 0.5
        assert context["tracker_available"] is True
        assert context["reason"] == "customer_request"
        texts = [m["text"] for m in context["transcript"]]
        assert "my order 1234 never arrived" in texts  # the agent sees what Rasa never did
        async with http.post(
            f"/console/api/conversations/{conversation_id}/hand-back",
            headers={"X-CSRF-Token": csrf},
        ) as r:
            assert r.status == 200
        async with http.post(
            "/console/api/state", json={"state": "offline"}, headers={"X-CSRF-Token": csrf}
        ) as r:
            assert r.status == 200  # later tests' conversations are not for this agent
    assert conversation_of(gateway, customer)[1] == "bot"
    replies = await rest(gateway, customer, "hello")
    assert replies and replies[0]["text"] in response_texts("utter_greet")
    assert "hello" in await tracker_texts(rasa, conversation_id)


async def test_sensitive_words_hand_over_without_asking_rasa(
    gateway: GatewayProcess, rasa: RasaProcess
) -> None:
    customer = uuid.uuid4().hex[:16]
    replies = await rest(gateway, customer, "I am going to talk to my lawyer about this")
    assert [r["text"] for r in replies] == [HANDED_OFF_TEXT]
    conversation_id, owner = conversation_of(gateway, customer)
    assert owner in ("queued", "agent")
    rows = query(
        gateway, "SELECT reason FROM queue_entry WHERE conversation_id = ?", conversation_id
    )
    assert rows == [("sensitive_words",)]
    assert await tracker_texts(rasa, conversation_id) == []
    db = Database(gateway.env["DATABASE_URL"].replace("sqlite:///", "sqlite+aiosqlite:///", 1))
    async with db.transaction() as session:  # leave no one waiting for later tests' agents
        await hand_back(session, conversation_id)
    await db.dispose()
