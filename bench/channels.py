"""Inbound webhook throughput: Telegram updates stored and acknowledged per second, and the
acknowledgement latency, with the gateway as a real process on SQLite and on PostgreSQL.

Rasa is not involved: RASA_URL points at a closed port, so each conversation's first message
is answered with the "a person will follow up" notice (through the outbox, to a local fake
Bot API) and the conversation queued; the bot step runs in the background and the
acknowledgement never waits for it.

Two ways of loading it, both reported: a closed loop (a fixed number of connections, each
sending as soon as its last update is acknowledged) measures how many messages per second
the gateway sustains, and its latency is mostly the queue those connections build; a paced
run offers a fixed rate (`--rate`, 1,000 updates/s by default, the target) and measures the
acknowledgement latency at that rate, each update timed from when it was due. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
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


HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}


def updates(chats: int, per_chat: int, base: int) -> list[bytes]:
    """`chats` customers' messages, each customer's in order, customers interleaved."""
    return [
        update(base + m * chats + c, base + c, m + 1) for m in range(per_chat) for c in range(chats)
    ]


class Acks:
    """Acknowledgement latencies and failures of one load phase."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.due: list[float] = []
        self.send_lag: list[float] = []  # how late the generator itself sent each update
        self.errors = 0

    async def post(self, http: aiohttp.ClientSession, url: str, body: bytes, since: float) -> None:
        """POST one update; its latency counts from `since` (when it was due to be sent)."""
        self.send_lag.append((time.perf_counter() - since) * 1000)
        try:
            async with http.post(url, data=body, headers=HEADERS) as response:
                await response.read()
                if response.status != 200:
                    self.errors += 1
        except (aiohttp.ClientError, TimeoutError):
            self.errors += 1
        self.latencies.append((time.perf_counter() - since) * 1000)
        self.due.append(since)

    def figures(self, total: int, started: float, ended: float, cpu: float) -> dict:
        elapsed = ended - started
        return {
            "started_at": started,
            "ended_at": ended,
            "load_generator_cpu_ms_per_message": round(cpu * 1000 / total, 3),
            "messages": total,
            "errors": self.errors,
            "seconds": round(elapsed, 2),
            "messages_per_s": round(total / elapsed, 1),
            "ack_p50_ms": round(percentile(self.latencies, 50), 2),
            "ack_p99_ms": round(percentile(self.latencies, 99), 2),
            "ack_max_ms": round(max(self.latencies), 2),
            "ack_mean_ms": round(statistics.fmean(self.latencies), 2),
        }


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The load generator's own garbage collector stays out of a timed phase. Its full
    passes over the thousands of tasks and responses a phase makes stopped the generator
    for 100 ms and more, and every update due meanwhile was sent late and timed as if the
    gateway had been slow. The gateway keeps its collector; a phase allocates a few MB."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


PACED_WINDOW_S = 0.25


def client(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def load(url: str, chats: int, per_chat: int, concurrency: int, base: int) -> dict:
    """Closed loop: `concurrency` connections, each sending its next update as soon as the
    last one is acknowledged, so the rate is whatever the gateway sustains (its capacity)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in updates(chats, per_chat, base):
        queue.put_nowait(body)
    total = queue.qsize()
    acks = Acks()

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            await acks.post(http, url, queue.get_nowait(), time.perf_counter())

    with collector_paused():
        async with client(concurrency) as http:
            started = time.perf_counter()
            cpu_started = time.process_time()
            await asyncio.gather(*(worker(http) for _ in range(concurrency)))
            ended = time.perf_counter()
            cpu = time.process_time() - cpu_started
    return acks.figures(total, started, ended, cpu)


async def paced(url: str, chats: int, per_chat: int, rate: float, base: int) -> dict:
    """Open loop: update i is due at start + i / rate whether or not earlier ones have been
    acknowledged, and its latency counts from that moment, so a stall delays every update
    due during it (a closed loop would instead stop sending and hide the wait)."""
    bodies = updates(chats, per_chat, base)
    acks = Acks()
    with collector_paused():
        async with client(512) as http:
            started = time.perf_counter()
            cpu_started = time.process_time()
            sending: list[asyncio.Task[None]] = []
            for i, body in enumerate(bodies):
                due = started + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                sending.append(asyncio.create_task(acks.post(http, url, body, due)))
            await asyncio.gather(*sending)
            ended = time.perf_counter()
            cpu = time.process_time() - cpu_started
    result = acks.figures(len(bodies), started, ended, cpu)
    result["offered_per_s"] = rate
    # The generator's own lateness (sending, not the gateway's answer): it must stay small
    # for the acknowledgement figures to be the gateway's.
    result["send_lag_p99_ms"] = round(percentile(acks.send_lag, 99), 2)
    result["send_lag_max_ms"] = round(max(acks.send_lag), 2)
    result["ack_max_ms_by_window"] = by_window(acks, started, PACED_WINDOW_S)
    return result


def by_window(acks: Acks, started: float, window_s: float) -> dict[str, object]:
    """The slowest acknowledgement among the updates due in each window of the run: where
    in the run the tail is (the first messages of new customers, a routing burst)."""
    worst: dict[int, float] = {}
    for due, latency in zip(acks.due, acks.latencies, strict=True):
        slot = int((due - started) / window_s)
        worst[slot] = max(worst.get(slot, 0.0), latency)
    return {
        "window_s": window_s,
        "max_ms": [round(worst.get(i, 0.0), 1) for i in range(max(worst, default=-1) + 1)],
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
        before_paced = await count_inbound(db)
        cpu_before = cpu_seconds(gateway.pid)
        at_rate = await paced(url, args.chats, args.per_chat, args.rate, base=20_000_000)
        at_rate["routing"] = await wait_routed(db, at_rate)
        at_rate["gateway_cpu_ms_per_message"] = round(
            (cpu_seconds(gateway.pid) - cpu_before) * 1000 / at_rate["messages"], 3
        )
        at_rate["stored"] = await count_inbound(db) - before_paced
        result["at_offered_rate"] = without_timestamps(at_rate)
    finally:
        await asyncio.to_thread(gateway.stop)
        await fake.stop()
        await db.dispose()
    return without_timestamps(result)


def without_timestamps(result: dict) -> dict:
    """A phase's figures without the clock readings `wait_routed` measures from."""
    return {k: v for k, v in result.items() if k not in ("started_at", "ended_at")}


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
            "paced_offered_per_s": args.rate,
        },
        "results": results,
        # other work on the machine competes for the same cores
        "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
        "targets": TARGETS,
        "meets_targets": meets_targets(results),
    }


TARGETS = {"messages_per_s_min": 1000, "ack_p99_ms_max": 50}


def meets_targets(results: dict[str, object]) -> dict[str, dict[str, bool]]:
    """Per database: the closed loop (capacity and its p99) and the paced run (p99 at the
    offered rate, which must itself be the target rate, and no errors)."""
    verdicts: dict[str, dict[str, bool]] = {}
    for name, result in results.items():
        if not isinstance(result, dict) or "skipped" in result:
            continue
        paced = result["at_offered_rate"]
        verdicts[name] = {
            "closed_loop": result["errors"] == 0
            and result["messages_per_s"] >= TARGETS["messages_per_s_min"]
            and result["ack_p99_ms"] <= TARGETS["ack_p99_ms_max"],
            "paced": paced["errors"] == 0
            and paced["offered_per_s"] >= TARGETS["messages_per_s_min"]
            and paced["ack_p99_ms"] <= TARGETS["ack_p99_ms_max"],
        }
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--per-chat", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="updates per second offered in the paced run"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as tmp:
        result = asyncio.run(measure(args, Path(tmp)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
