"""Claim throughput of the handoff queue: agents racing for conversations through two
gateway processes on one PostgreSQL database.

200 conversations wait in the queue; 20 agents log in (half on each gateway process) and
all press "take next" as fast as the gateway answers until nothing waits. Measures claims
per second, claim latency, and counts double assignments three ways: conversations two
agents were told they got, assignment events per conversation, and claimed queue rows per
conversation. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from sqlalchemy import make_url, text, update
from sqlmodel import col

from accounts import service
from bench.machine import machine
from connectors import InboundMessage
from conversations import Message, store
from gateway.db import Database
from handoff import AgentState, hand_off, set_agent
from tests.accounts_helpers import login
from tests.harness import GatewayProcess, free_port

PASSWORD = secrets.token_urlsafe(16)
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def cpu_s(pid: int) -> float:
    """CPU time (user + system) a process has used, from /proc; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the database (the server runs on
    this machine)."""
    db = Database(async_url(url))
    try:
        async with db.engine.connect() as conn:
            pids = (
                await conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).scalars()
            return {pid: cpu_s(pid) for pid in pids}
    finally:
        await db.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def seed(url: str, agents: int, conversations: int) -> list[int]:
    db = Database(async_url(url))
    await db.create_tables()
    ids: list[int] = []
    async with db.transaction() as session:
        for n in range(agents):
            user = await service.create_user(session, f"agent{n}", PASSWORD, ["agent"])
            assert user.id is not None
            ids.append(user.id)
            await set_agent(
                session,
                user.id,
                display_name=f"Agent {n}",
                state=AgentState.ONLINE,
                capacity=50,
            )
    for n in range(conversations):
        address = f"bench-{n}"
        async with db.transaction() as session:
            identity = await store.find_or_create_identity(session, "rest", address)
            conversation = await store.open_conversation(session, identity)
            await store.add_inbound(
                session,
                conversation,
                InboundMessage(
                    channel="rest", channel_message_id=f"{address}:1", address=address, text="help"
                ),
            )
            await hand_off(session, conversation.id, "customer_request")
            await session.exec(
                update(Message)
                .where(col(Message.conversation_id) == conversation.id)
                .values(status="processed")
            )
    await db.dispose()
    return ids


async def verify(url: str) -> dict[str, int]:
    db = Database(async_url(url))
    async with db.engine.connect() as conn:
        events = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT conversation_id FROM conversation_event "
                    "WHERE type = 'conversation.assigned' GROUP BY conversation_id "
                    "HAVING count(*) > 1) t"
                )
            )
        ).scalar_one()
        rows = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT conversation_id FROM queue_entry "
                    "WHERE status = 'claimed' GROUP BY conversation_id HAVING count(*) > 1) t"
                )
            )
        ).scalar_one()
        waiting = (
            await conn.execute(text("SELECT count(*) FROM queue_entry WHERE status = 'waiting'"))
        ).scalar_one()
        mismatched = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM queue_entry q JOIN conversation c "
                    "ON c.id = q.conversation_id WHERE q.status = 'claimed' "
                    "AND (c.owner <> 'agent' OR c.agent_id <> q.agent_id)"
                )
            )
        ).scalar_one()
        over = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM handoff_agent a WHERE a.active <> "
                    "(SELECT count(*) FROM queue_entry q WHERE q.agent_id = a.agent_id "
                    "AND q.status = 'claimed')"
                )
            )
        ).scalar_one()
        notices = (
            await conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT conversation_id), "
                    "count(*) FILTER (WHERE status IN ('pending', 'sending')) FROM message "
                    "WHERE direction = 'out' AND text LIKE '% has joined the conversation.'"
                )
            )
        ).one()
    await db.dispose()
    return {
        "joined_notices": int(notices[0]),
        "conversations_with_a_joined_notice": int(notices[1]),
        "joined_notices_not_attempted": int(notices[2]),
        "conversations_with_two_assignment_events": int(events),
        "conversations_with_two_claimed_rows": int(rows),
        "left_waiting": int(waiting),
        "owner_mismatches": int(mismatched),
        "agents_with_wrong_load": int(over),
    }


async def settled(url: str, timeout_s: float = 120) -> None:
    """Wait until the gateways' desks have told every waiting customer their place (as they
    would have long before a shift starts), so the race measures claims alone."""
    db = Database(async_url(url))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            async with db.engine.connect() as conn:
                untold = (
                    await conn.execute(
                        text("SELECT count(*) FROM queue_entry WHERE position_told IS NULL")
                    )
                ).scalar_one()
            if untold == 0:
                await asyncio.sleep(1)  # their messages' delivery attempts finish
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"{untold} customers were not told their place in {timeout_s}s")
    finally:
        await db.dispose()


async def race(
    urls: list[str], agents: int, probe: Callable[[], Awaitable[Any]] | None = None
) -> tuple[list[tuple[int, str]], list[float], float, int, tuple[Any, Any]]:
    """Every agent takes conversations until none is left; returns (agent, conversation)
    pairs, claim latencies in ms, the wall time, the number of empty answers, and what
    `probe` read once all agents had logged in and again when the last one finished."""
    start, all_ready = asyncio.Event(), asyncio.Event()
    ready = 0
    claims: list[tuple[int, str]] = []
    latencies: list[float] = []
    empty = 0

    async def agent(n: int) -> None:
        nonlocal empty, ready
        url = urls[n % len(urls)]
        async with aiohttp.ClientSession(
            base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            csrf = await login(http, "", f"agent{n}", PASSWORD)
            ready += 1
            if ready == agents:
                all_ready.set()
            await start.wait()
            while True:
                began = time.perf_counter()
                async with http.post(
                    "/console/api/take-next", json={}, headers={"X-CSRF-Token": csrf}
                ) as response:
                    body = await response.json()
                    if response.status != 200:
                        raise RuntimeError(f"take-next answered {response.status}: {body}")
                latencies.append((time.perf_counter() - began) * 1000)
                if body["conversation_id"] is None:
                    empty += 1
                    return
                claims.append((n, body["conversation_id"]))

    tasks = [asyncio.create_task(agent(n)) for n in range(agents)]
    # Logins first (Argon2 is deliberately slow): the clock starts once all are in.
    ready_or_failed = asyncio.create_task(all_ready.wait())
    await asyncio.wait([ready_or_failed, *tasks], return_when=asyncio.FIRST_COMPLETED)
    before = await probe() if probe is not None else None
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - began
    after = await probe() if probe is not None else None
    return claims, latencies, wall, empty, (before, after)


def gateway(database_url: str, var: Path, log: Path) -> GatewayProcess:
    env = {
        "GATEWAY_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",  # claims never reach Rasa
        "DATABASE_URL": database_url,
        "VAR_DIR": str(var),
        "FAQ_RETRIEVER": "lexical",
        "HANDOFF_AUTO_ASSIGN": "false",
        "HANDOFF_INTERVAL_S": "3600",
        "LOG_LEVEL": "WARNING",
    }
    return GatewayProcess(env, log)


async def run(database_url: str, agents: int, conversations: int, log_dir: Path) -> dict[str, Any]:
    load_at_start = round(os.getloadavg()[0], 2)
    await seed(database_url, agents, conversations)
    processes = [gateway(database_url, log_dir, log_dir / f"gateway-{i}.log") for i in range(2)]
    try:
        for process in processes:
            process.start()
        await settled(database_url)
        pids = [p.pid for p in processes if p.pid is not None]

        async def probe() -> tuple[dict[int, float], float, float]:
            gateways, client = sum(cpu_s(pid) for pid in pids), time.process_time()
            return await backend_cpu(database_url), gateways, client

        claims, latencies, wall, empty, (before, after) = await race(
            [p.url for p in processes], agents, probe
        )
    finally:
        for process in processes:
            process.stop()
    backends_before, gateways_before, client_before = before
    backends_after, gateways_after, client_after = after
    postgres_cpu = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
    gateways_cpu = gateways_after - gateways_before
    client_cpu = client_after - client_before
    per_claim = max(len(claims), 1)
    told_twice = sum(1 for count in Counter(c for _, c in claims).values() if count > 1)
    checks = await verify(database_url)
    return {
        "benchmark": "handoff_claims",
        "database": "postgresql",
        "gateway_processes": len(processes),
        "agents": agents,
        "conversations": conversations,
        "claims": len(claims),
        "distinct_conversations_claimed": len({c for _, c in claims}),
        "double_assignments": told_twice
        + checks["conversations_with_two_assignment_events"]
        + checks["conversations_with_two_claimed_rows"],
        "checks": {"conversations_two_agents_were_told": told_twice, **checks},
        "wall_s": round(wall, 3),
        "claims_per_s": round(len(claims) / wall, 1) if wall else None,
        "claim_latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "mean": round(statistics.fmean(latencies), 1),
        },
        "empty_answers": empty,
        # CPU time per claim from the first "take next" to the last answer (steadier under
        # load than the wall clock): the two gateway processes, the PostgreSQL backends
        # serving them, and the benchmark's own 20 HTTP clients.
        "cpu_ms_per_claim": {
            "gateways": round(gateways_cpu * 1000 / per_claim, 2),
            "postgres": round(postgres_cpu * 1000 / per_claim, 2),
            "clients": round(client_cpu * 1000 / per_claim, 2),
        },
        "load_average_1m_at_start": load_at_start,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument(
        "--postgres", default=ADMIN_URL, help="server URL; a fresh database is made"
    )
    args = parser.parse_args()
    name = f"switchboard_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(run(url, args.agents, args.conversations, Path(tmp)))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
