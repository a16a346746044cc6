"""Inbound webhook throughput: Telegram updates stored and acknowledged per second, and the
acknowledgement latency, with the gateway as a real process on SQLite and on PostgreSQL.

Rasa is not involved: RASA_URL points at a closed port, so each conversation's first message
is answered with the "a person will follow up" notice (through the outbox, to a local fake
Bot API) and the conversation queued; the bot step runs in the background and the
acknowledgement never waits for it. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
from sqlalchemy import func, text
from sqlmodel import select

from bench.machine import machine
from conversations import Message
from gateway.db import Database
from gateway.settings import Settings
from tests.fakes.telegram import FakeTelegram
from tests.harness import GatewayProcess, free_port

SECRET = uuid.uuid4().hex
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def cpu_seconds(pid: int | None) -> float:
    """User plus system CPU time the process has used so far."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def update(update_id: int, chat_id: int, message_id: int) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "date": 1700000000,
                "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Bench"},
                "text": f"message {message_id}: where is my order?",
            },
        }
    ).encode()


async def load(url: str, chats: int, per_chat: int, concurrency: int, base: int) -> dict:
    """`chats` customers each send `per_chat` messages in order; `concurrency` connections."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for m in range(per_chat):
        for c in range(chats):
            queue.put_nowait(update(base + m * chats + c, base + c, m + 1))
    total = queue.qsize()
    latencies: list[float] = []
    errors = 0
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as http:
        started = time.perf_counter()
        cpu_started = time.process_time()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        ended = time.perf_counter()
        elapsed = ended - started
        cpu = time.process_time() - cpu_started
    return {
        "started_at": started,
        "ended_at": ended,
        "load_generator_cpu_ms_per_message": round(cpu * 1000 / total, 3),
        "messages": total,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "messages_per_s": round(total / elapsed, 1),
        "ack_p50_ms": round(percentile(latencies, 50), 2),
        "ack_p99_ms": round(percentile(latencies, 99), 2),
        "ack_mean_ms": round(statistics.fmean(latencies), 2),
    }


def open_database(database_url: str) -> Database:
    return Database(Settings(DATABASE_URL=database_url).resolved_database_url)  # type: ignore[call-arg]


async def count_inbound(db: Database, status: str | None = None) -> int:
    query = select(func.count()).select_from(Message).where(Message.direction == "in")
    if status is not None:
        query = query.where(Message.status == status)
    async with db.transaction() as session:
        return int((await session.exec(query)).one())


async def wait_routed(db: Database, result: dict, timeout_s: float = 300.0) -> dict[str, object]:
    """How long after the last acknowledgement every stored message had been routed (no
    inbound row left `received`), polled every 20 ms, and the routing throughput."""
    unrouted_at_last_ack = await count_inbound(db, "received")
    deadline = time.perf_counter() + timeout_s
    left = unrouted_at_last_ack
    while left and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
        left = await count_inbound(db, "received")
    routed_at = time.perf_counter()
    return {
        "unrouted_at_last_ack": unrouted_at_last_ack,
        "unrouted_at_end": left,
        "all_routed_after_last_ack_ms": round((routed_at - result["ended_at"]) * 1000, 1)
        if unrouted_at_last_ack
        else 0.0,
        "messages_per_s": round(result["messages"] / (routed_at - result["started_at"]), 1),
    }


async def analyze(db: Database) -> None:
    """Planner statistics for the warmed-up tables, as autovacuum gives any PostgreSQL
    database in use within a minute of its first rows: without them a database seconds old
    plans with guesses (sequential scans and nested loops over every open conversation)."""
    async with db.engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))


async def run_backend(
    name: str, database_url: str, var: Path, args: argparse.Namespace
) -> dict[str, object]:
    fake = FakeTelegram()
    await fake.start()
    env = {
        "GATEWAY_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "DATABASE_URL": database_url,
        "VAR_DIR": str(var),
        "FAQ_RETRIEVER": "lexical",
        "CHANNELS": "telegram",
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_SECRET_TOKEN": SECRET,
        "TELEGRAM_BASE_URL": fake.url,
        "LOG_LEVEL": "WARNING",
    }
    gateway = GatewayProcess(env, var / f"gateway-{name}.log")
    db = open_database(database_url)
    try:
        await asyncio.to_thread(gateway.start)
        url = f"{gateway.url}/webhooks/telegram"
        await load(url, 20, 5, args.concurrency, base=10_000_000)  # warm-up, not counted
        await wait_routed(db, {"ended_at": 0, "started_at": 0, "messages": 0})
        if not db.is_sqlite:
            await analyze(db)
        before = await count_inbound(db)
        cpu_before = cpu_seconds(gateway.pid)
        result = await load(url, args.chats, args.per_chat, args.concurrency, base=1)
        cpu_at_last_ack = cpu_seconds(gateway.pid) - cpu_before
        result["routing"] = await wait_routed(db, result)
        cpu = cpu_seconds(gateway.pid) - cpu_before
        stored = await count_inbound(db)
        # CPU the gateway process spent per message (storing, acknowledging, and routing,
        # up to the moment the last message was routed): comparable across runs however
        # busy the machine was
        result["gateway_cpu_ms_per_message"] = round(cpu * 1000 / result["messages"], 3)
        result["gateway_cpu_ms_per_message_until_last_ack"] = round(
            cpu_at_last_ack * 1000 / result["messages"], 3
        )
        cpu_before = cpu_seconds(gateway.pid)
        replay = await load(url, args.chats, args.per_chat, args.concurrency, base=1)  # all again
        replay_cpu = cpu_seconds(gateway.pid) - cpu_before
        result["stored"] = stored - before
        result["replayed"] = {
            "messages": replay["messages"],
            "errors": replay["errors"],
            "ack_p99_ms": replay["ack_p99_ms"],
            # a replay is parsed, looked up and answered, nothing else: the request path
            "gateway_cpu_ms_per_message": round(replay_cpu * 1000 / replay["messages"], 3),
            "stored_again": await count_inbound(db) - stored,
        }
        await asyncio.sleep(2)  # let the background replies go out
        result["replies_sent"] = len(fake.received)
    finally:
        await asyncio.to_thread(gateway.stop)
        await fake.stop()
        await db.dispose()
    for internal in ("started_at", "ended_at"):
        result.pop(internal)
    return result


def create_postgres_database() -> tuple[str, str] | None:
    name = f"bench_channels_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    except psycopg.OperationalError:
        return None
    return name, POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN, connect_timeout=5, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


async def measure(args: argparse.Namespace, var: Path) -> dict[str, object]:
    results: dict[str, object] = {}
    load_before = os.getloadavg()[0]
    results["sqlite"] = await run_backend("sqlite", f"sqlite:///{var}/bench.db", var, args)
    created = create_postgres_database()
    if created is None:
        results["postgresql"] = {"skipped": f"no PostgreSQL server at {POSTGRES_ADMIN}"}
    else:
        try:
            results["postgresql"] = await run_backend("postgresql", created[1], var, args)
        finally:
            drop_postgres_database(created[0])
    return {
        "bench": "channels",
        "machine": machine(),
        "load": {
            "channel": "telegram",
            "webhook": "POST /webhooks/telegram",
            "customers": args.chats,
            "messages_per_customer": args.per_chat,
            "concurrent_connections": args.concurrency,
        },
        "results": results,
        # other work on the machine competes for the same cores
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "targets": {"messages_per_s_min": 1000, "ack_p99_ms_max": 50},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--per-chat", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as tmp:
        result = asyncio.run(measure(args, Path(tmp)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
