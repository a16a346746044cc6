"""Group commit on SQLite and PostgreSQL: concurrent callers share a transaction, a bad job
fails alone, and SQLite's write lock serves webhooks' stores first without starving the rest.
Through the gateway: a message the database refuses fails alone while the others of its
batch are stored and acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, text
from sqlmodel import func, select

from connectors import InboundMessage
from conversations import Message
from gateway import keys
from gateway.db import Database, WriteLock
from gateway.group_commit import GroupCommit


def insert_numbers(conn: Connection, jobs: Sequence[int]) -> tuple[list[int], None]:
    for n in jobs:
        if n < 0:
            raise ValueError(f"{n} is refused")
        conn.execute(text("INSERT INTO probe (n) VALUES (:n)"), {"n": n})
    return [n * 10 for n in jobs], None


async def probe_table(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe (n INTEGER NOT NULL)"))


async def stored_numbers(db: Database) -> list[int]:
    async with db.engine.connect() as conn:
        return sorted(r[0] for r in (await conn.execute(text("SELECT n FROM probe"))).all())


async def test_concurrent_jobs_share_transactions_and_a_bad_job_fails_alone(
    database: Database,
) -> None:
    await probe_table(database)
    writer: GroupCommit[int, int] = GroupCommit(database, blocking=insert_numbers, name="probe")
    jobs = [1, 2, 3, -4, 5, 6]
    results = await asyncio.gather(*(writer.submit(n) for n in jobs), return_exceptions=True)
    assert results[:3] + results[4:] == [10, 20, 30, 50, 60]
    assert isinstance(results[3], ValueError)
    assert await stored_numbers(database) == [1, 2, 3, 5, 6]  # nothing of -4, nothing twice
    await writer.stop()
    again = await writer.submit(7)  # a stopped writer starts again when needed
    assert again == 70
    await writer.stop()


async def test_a_batch_shares_one_transaction(database: Database) -> None:
    await probe_table(database)
    writer: GroupCommit[int, int] = GroupCommit(database, blocking=insert_numbers, name="probe")
    await asyncio.gather(*(writer.submit(n) for n in range(50)))
    assert writer.batches <= 3  # the first job alone, then the others together
    await writer.stop()


async def test_an_urgent_taker_waits_for_at_most_one_other_transaction() -> None:
    lock = WriteLock()
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        async with lock.hold(urgent):
            order.append(name)
            await asyncio.sleep(0)

    await lock.acquire()  # someone holds it while everyone queues
    tasks = [asyncio.create_task(take(f"slow{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(take(f"urgent{i}", True)) for i in range(3)]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["urgent0", "slow0", "urgent1", "slow1", "urgent2", "slow2"]


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = WriteLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire(urgent=True))
    await asyncio.sleep(0)
    lock.release()  # handed to the waiter …
    waiter.cancel()  # … which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(lock.acquire(), 1)  # free again
    lock.release()


async def test_a_message_the_database_refuses_fails_alone_in_its_batch(
    aiohttp_client, make_app, database: Database
) -> None:
    client = await aiohttp_client(make_app(DATABASE_URL=database.url))
    inbound = client.app[keys.INBOUND]
    good = [InboundMessage("webchat", f"s:{n}", "s", f"hello {n}") for n in range(5)]
    bad = InboundMessage("webchat", "s:bad", "s", "nul \x00 in text")
    results = await asyncio.gather(
        *(inbound.accept(m) for m in [*good[:2], bad, *good[2:]]), return_exceptions=True
    )
    query = select(func.count()).select_from(Message).where(Message.direction == "in")
    async with client.app[keys.DATABASE].transaction() as session:
        stored = (await session.exec(query)).one()
    refused = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    if database.is_sqlite:  # SQLite keeps a NUL in a text column
        assert (refused, stored) == ([], 6)
    else:  # PostgreSQL refuses it: that message alone fails, the others are stored
        assert (refused, stored) == ([2], 5)
