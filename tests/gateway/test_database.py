"""The database layer on PostgreSQL: `autocommit()` runs a statement without a
transaction around it, and the pool recovers when the server drops its connections (the
pool does not ping before each use, so one statement sees the drop and the pool is
replaced)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.db import Database

pytestmark = pytest.mark.postgres


async def test_autocommit_statements_have_no_transaction_around_them(postgres_url: str) -> None:
    db = Database(postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with db.autocommit() as session:
            alone = [(await session.execute(text("SELECT txid_current()"))).scalar()]
            alone.append((await session.execute(text("SELECT txid_current()"))).scalar())
        async with db.transaction() as session:
            together = [(await session.execute(text("SELECT txid_current()"))).scalar()]
            together.append((await session.execute(text("SELECT txid_current()"))).scalar())
    finally:
        await db.dispose()
    assert alone[0] != alone[1]  # each statement is a transaction of its own
    assert together[0] == together[1]


async def test_the_pool_recovers_after_the_server_drops_every_connection(
    postgres_url: str,
) -> None:
    db = Database(postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
        async with db.engine.connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        failures = 0
        for _ in range(3):
            try:
                async with db.transaction() as session:
                    assert (await session.execute(text("SELECT 1"))).scalar() == 1
                break
            except DBAPIError as exc:
                assert exc.connection_invalidated
                failures += 1
        assert failures <= 1
        async with db.autocommit() as session:
            assert (await session.execute(text("SELECT 2"))).scalar() == 2
    finally:
        await db.dispose()
