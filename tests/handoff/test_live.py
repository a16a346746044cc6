"""Live console updates follow changes, not a timer: a conversation queued through the
gateway reaches the agent's and the supervisor's sockets at once (the periodic refresh is
set to a minute), in one process on both backends and across two gateway processes on
PostgreSQL (LISTEN/NOTIFY)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.db import Database
from tests.accounts_helpers import create_staff, login
from tests.handoff.conftest import Console, MakeConsole
from tests.harness import GatewayProcess, free_port

PROMPT_S = 3.0  # far below the 60 s refresh: only a change notification explains it


async def customer_writes(base_url: str, text: str = "hello, anyone there?") -> str:
    """A new customer over REST; Rasa is not running, so the gateway queues them."""
    sender = uuid.uuid4().hex[:12]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
        ) as response:
            assert response.status == 200, await response.text()
    return sender


async def frame_until(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], float]:
    began = time.monotonic()
    while True:
        remaining = PROMPT_S - (time.monotonic() - began)
        if remaining <= 0:
            raise AssertionError(f"no matching frame within {PROMPT_S} s")
        frame = await ws.receive_json(timeout=remaining)
        if done(frame):
            return frame, time.monotonic() - began


def reasons(frame: dict[str, Any]) -> list[str]:
    return [e["reason"] for e in frame["waiting"]]


async def test_a_queued_conversation_reaches_open_sockets_at_once(console: Console) -> None:
    alice = await console.log_in("alice")
    sam = await console.log_in("sam")
    async with (
        alice.http.ws_connect("/console/ws") as agent_ws,
        sam.http.ws_connect("/console/supervisor/ws") as supervisor_ws,
    ):
        assert (await agent_ws.receive_json(timeout=5))["waiting"] == []
        assert (await supervisor_ws.receive_json(timeout=5))["waiting"] == []
        await customer_writes(console.url)
        frame, _ = await frame_until(agent_ws, lambda f: reasons(f) == ["bot_unavailable"])
        assert frame["type"] == "queue"
        frame, _ = await frame_until(supervisor_ws, lambda f: reasons(f) == ["bot_unavailable"])
        assert frame["queues"][0]["waiting"] == 1


async def test_a_watched_conversation_shows_the_customers_new_message_at_once(
    console: Console, database: Database
) -> None:
    alice = await console.log_in("alice")
    async with alice.http.post(
        "/console/api/state", json={"state": "online"}, headers=alice.headers()
    ) as r:
        assert r.status == 200
    sender = await customer_writes(console.url, "first message")
    async with alice.http.post("/console/api/take-next", json={}, headers=alice.headers()) as r:
        conversation_id = (await r.json())["conversation_id"]
    assert conversation_id
    async with alice.http.ws_connect("/console/ws") as ws:
        await ws.receive_json(timeout=5)
        await ws.send_json({"watch": conversation_id})
        await frame_until(ws, lambda f: bool(f.get("watched")))
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{console.url}/webhooks/rest/webhook",
                json={"sender": sender, "message": "second message"},
            ) as response:
                assert response.status == 200
        frame, _ = await frame_until(
            ws,
            lambda f: (
                "second message"
                in [m["text"] for m in (f.get("watched") or {}).get("messages", [])]
            ),
        )
        assert frame["watched"]["conversation_id"] == conversation_id


@pytest.mark.postgres
async def test_an_agent_on_one_process_sees_what_another_process_queued(
    postgres_databases: Callable[[], str], tmp_path: Path
) -> None:
    url = postgres_databases()
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    await db.create_tables()
    password = "live updates password"
    await create_staff(db, "ada", password, "agent")
    await db.dispose()
    env = {
        "DATABASE_URL": url,
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "VAR_DIR": str(tmp_path),
        "FAQ_RETRIEVER": "lexical",
        "HANDOFF_AUTO_ASSIGN": "false",
        "HANDOFF_TELL_PLACE": "false",
        "HANDOFF_LIVE_REFRESH_S": "60",
    }
    processes = [
        GatewayProcess(
            {**env, "GATEWAY_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())},
            tmp_path / f"gateway-{name}.log",
        )
        for name in ("a", "b")
    ]
    try:
        for process in processes:
            process.start()
        a, b = processes
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await login(http, a.url, "ada", password)
            async with http.ws_connect(f"{a.url}/console/ws") as ws:
                assert (await ws.receive_json(timeout=10))["waiting"] == []
                await customer_writes(b.url)
                _, waited = await frame_until(ws, lambda f: reasons(f) == ["bot_unavailable"])
        assert waited < PROMPT_S
    finally:
        for process in processes:
            process.stop()


async def test_automatic_assignment_follows_the_queue_not_the_timer(
    make_console: MakeConsole,
) -> None:
    console = await make_console(HANDOFF_AUTO_ASSIGN=True, HANDOFF_INTERVAL_S=3600)
    alice = await console.log_in("alice")
    async with alice.http.post(
        "/console/api/state", json={"state": "online"}, headers=alice.headers()
    ) as r:
        assert r.status == 200
    async with alice.http.ws_connect("/console/ws") as ws:
        await ws.receive_json(timeout=5)
        await customer_writes(console.url)
        frame, _ = await frame_until(ws, lambda f: len(f["mine"]) == 1)
    assert frame["mine"][0]["reason"] == "bot_unavailable" and frame["waiting"] == []
