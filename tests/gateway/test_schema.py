"""Startup brings an existing database's schema up to date: an index added to a table
after the table was made is created on the next start, on SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect, text

from conversations import store
from gateway.db import Database


async def _indexes(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: {i["name"] for i in inspect(sync).get_indexes(table)}
        )


async def test_an_index_missing_from_an_existing_table_is_created_at_start(
    database: Database,
) -> None:
    assert "ix_queue_entry_next" in await _indexes(database, "queue_entry")
    async with database.engine.begin() as conn:
        await conn.execute(text("DROP INDEX ix_queue_entry_next"))
    async with database.transaction() as session:
        identity = await store.find_or_create_identity(session, "rest", "someone")
        await store.open_conversation(session, identity)
    assert "ix_queue_entry_next" not in await _indexes(database, "queue_entry")

    await database.create_tables()
    await database.create_tables()  # and again: nothing to do, no error

    assert "ix_queue_entry_next" in await _indexes(database, "queue_entry")
    async with database.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT count(*) FROM conversation"))).scalar_one()
    assert kept == 1  # the data stays
