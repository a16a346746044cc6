"""`Database.snapshot()`: the reads of a console frame agree with one another while other
transactions commit (on PostgreSQL from one snapshot; on SQLite because writers wait)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.db import Database


async def count(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM probe"))).scalar_one())


async def test_reads_in_a_snapshot_agree_while_another_transaction_commits(
    database: Database,
) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe (n INTEGER NOT NULL)"))
        await conn.execute(text("INSERT INTO probe (n) VALUES (1)"))

    async def write() -> None:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO probe (n) VALUES (2)"))

    async with database.snapshot() as session:
        before = await count(session)
        writer = asyncio.create_task(write())
        if database.is_sqlite:
            await asyncio.sleep(0.2)
            assert not writer.done()  # the one writer waits for the snapshot to end
        else:
            await asyncio.wait_for(writer, 10)  # committed while the snapshot is open
        after = await count(session)
    await asyncio.wait_for(writer, 10)
    async with database.autocommit() as session:
        now = await count(session)
    assert (before, after, now) == (1, 1, 2)
