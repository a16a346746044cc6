"""The one database engine and its sessions (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
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

T = TypeVar("T")


class WriteLock:
    """SQLite's one writer, in two queues served in arrival order: `urgent` takers (storing
    the messages webhooks wait for) and the rest. While both wait they take turns, so an
    urgent taker waits for at most one other transaction and the rest keeps moving."""

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._urgent_last = False

    async def acquire(self, urgent: bool = False) -> None:
        if not self._locked and not self._urgent and not self._waiting:
            self._locked = True
            self._urgent_last = urgent
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._waiting
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                queue.remove(future)
            raise

    def release(self) -> None:
        queues = (self._urgent, self._waiting)
        for queue in reversed(queues) if self._urgent_last else queues:
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # handed over: stays locked
                    self._urgent_last = queue is self._urgent
                    return
        self._locked = False
        self._urgent_last = False

    @asynccontextmanager
    async def hold(self, urgent: bool = False) -> AsyncIterator[None]:
        await self.acquire(urgent)
        try:
            yield
        finally:
            self.release()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock: WriteLock | None = WriteLock() if self.is_sqlite else None
        self._blocking: Engine | None = None
        self._blocking_thread: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            path = url.split(":///", 1)[1]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 30})
            _configure_sqlite(self.engine.sync_engine)
            self._blocking = create_engine(
                f"sqlite:///{path}",
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=1,
                max_overflow=0,
            )
            _configure_sqlite(self._blocking)
            self._blocking_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
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
        self._snapshot_sessions = async_sessionmaker(
            self.engine.execution_options(isolation_level="REPEATABLE READ"),
            class_=AsyncSession,
            expire_on_commit=False,
        )

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """Reads that must agree with one another (a console frame: what waits and what an
        agent holds), all from one snapshot. On PostgreSQL a REPEATABLE READ transaction: in
        `autocommit()` or at READ COMMITTED each statement sees the commits made since the
        one before, so an entry claimed in between showed in both lists. On SQLite it is
        `transaction()` (one writer, and a transaction reads one state of the database).
        """
        if self._write_lock is not None:
            async with self.transaction() as session:
                yield session
            return
        async with self._snapshot_sessions() as session, session.begin():
            yield session

    async def create_tables(self) -> None:
        """Missing tables, and indexes added to existing tables since they were made."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_create_all)

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """One session in one transaction: committed on success, rolled back on error.

        SQLite allows one writer at a time; waiting for it on an asyncio lock is far cheaper
        than SQLite's busy handler, which sleeps in steps of up to 100 ms. `urgent`
        transactions take the lock before others waiting (see `WriteLock`). Transactions
        must not nest (none does).
        """
        if self._write_lock is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with (
            self._write_lock.hold(urgent),
            self._sessions() as session,
            session.begin(),
        ):
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

    async def run_blocking(self, work: Callable[[Connection], T], *, urgent: bool = False) -> T:
        """Run `work(connection)` in one transaction on a plain (blocking) connection.

        For the hot write paths. aiosqlite moves every driver call to its own thread and
        back (about four per statement, some 150 µs of CPU each on a busy machine); here
        SQLite runs the whole transaction in one worker thread, one hop there and back,
        under the same write lock. On PostgreSQL `work` runs on the asyncio connection.
        """
        if self._blocking is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        assert self._write_lock is not None
        blocking = self._blocking

        def in_transaction() -> T:
            with blocking.begin() as conn:
                return work(conn)

        async with self._write_lock.hold(urgent):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._blocking_thread, in_transaction)

    @property
    def blocking_engines(self) -> tuple[Engine, ...]:
        """The engines `run_blocking` writes through besides `engine` (SQLite only)."""
        return (self._blocking,) if self._blocking is not None else ()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._blocking is not None:
            self._blocking.dispose()
        if self._blocking_thread is not None:
            self._blocking_thread.shutdown(wait=False)


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, and write transactions that take the lock up front.

    The driver's own implicit BEGIN is turned off so SAVEPOINT works, and BEGIN IMMEDIATE
    avoids the deadlock where two readers both try to upgrade to writers.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_all(conn: Connection) -> None:
    """Tables made here come with their indexes; only tables that existed before are
    checked for indexes added since (one lookup per index)."""
    existing = set(inspect(conn).get_table_names())
    SQLModel.metadata.create_all(conn)
    for table in SQLModel.metadata.sorted_tables:
        if table.name in existing:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
