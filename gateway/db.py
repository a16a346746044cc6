"""The one database engine and its sessions (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# Importing the models registers their tables on SQLModel.metadata.
import accounts.models  # noqa: F401
import commerce.models  # noqa: F401
import conversations.channel_state
import conversations.models  # noqa: F401
import handoff.models  # noqa: F401
import knowledge.models  # noqa: F401


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            path = url.split(":///", 1)[1]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 30})
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=False
            )
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._autocommit_sessions = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            class_=AsyncSession,
            expire_on_commit=False,
        )

    async def create_tables(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One session in one transaction: committed on success, rolled back on error.

        SQLite allows one writer at a time; waiting for it on an asyncio lock is far cheaper
        than SQLite's busy handler, which sleeps in steps of up to 100 ms. Transactions must
        not nest (none does).
        """
        if self._write_lock is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """A session whose statements each commit on their own, without BEGIN and COMMIT
        round trips: for a read, or for one statement that is a whole change by itself
        (PostgreSQL). On SQLite it is `transaction()`.
        """
        if self._write_lock is not None:
            async with self.transaction() as session:
                yield session
            return
        async with self._autocommit_sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers, and write transactions that take the lock up front.

    The driver's own implicit BEGIN is turned off so SAVEPOINT works, and BEGIN IMMEDIATE
    avoids the deadlock where two readers both try to upgrade to writers.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
