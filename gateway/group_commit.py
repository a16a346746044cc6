"""Group commit: the writes of concurrent callers in one transaction.

Each caller submits a job and waits; one writer task takes every job waiting at that moment,
runs them in one transaction and wakes each caller with its result once the transaction has
committed. A batch that fails is run once more (a deadlock or lock timeout passes), then one
job at a time, so a bad job fails alone and the others still commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog
from sqlalchemy import Connection
from sqlmodel.ext.asyncio.session import AsyncSession

from .db import Database

log = structlog.get_logger(__name__)

J = TypeVar("J")
R = TypeVar("R")
Done = tuple[list[R], Callable[[], None] | None]
# Runs the jobs in the open transaction; returns one result per job and, optionally, what
# to do once the transaction committed. Either on an ORM session, or on a plain blocking
# connection (`Database.run_blocking`: the cheapest way to SQLite).
RunBatch = Callable[[AsyncSession, Sequence[J]], Awaitable[Done[R]]]
RunBlocking = Callable[[Connection, Sequence[J]], Done[R]]


class GroupCommit(Generic[J, R]):
    def __init__(
        self,
        db: Database,
        run: RunBatch[J, R] | None = None,
        *,
        blocking: RunBlocking[J, R] | None = None,
        name: str,
        urgent: bool = False,
        max_batch: int = 200,
    ) -> None:
        if (run is None) == (blocking is None):
            raise ValueError("give either run or blocking")
        self._db = db
        self._run = run
        self._blocking = blocking
        self.name = name
        self._urgent = urgent
        self._max_batch = max_batch
        self._waiting: list[tuple[J, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, job: J) -> R:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name=self.name)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        self._idle.clear()
        self._wake.set()
        return await future

    async def stop(self) -> None:
        """Commit what is waiting, then stop the writer."""
        if self._writer is None:
            return
        if not self._writer.done():
            await self._idle.wait()
        self._writer.cancel()
        try:
            await self._writer
        except asyncio.CancelledError:
            pass

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)
            self._idle.set()

    async def _write(self, batch: list[tuple[J, asyncio.Future[R]]], retry: bool = True) -> None:
        jobs = [job for job, _ in batch]
        try:
            if self._blocking is not None:
                blocking = self._blocking
                results, on_commit = await self._db.run_blocking(
                    lambda conn: blocking(conn, jobs), urgent=self._urgent
                )
            else:
                assert self._run is not None
                async with self._db.transaction(urgent=self._urgent) as session:
                    results, on_commit = await self._run(session, jobs)
            self.batches += 1
        except Exception as exc:
            log.warning(
                "group_commit.batch_failed", writer=self.name, size=len(batch), error=repr(exc)
            )
            if retry:  # once more as it was: a deadlock or a lock timeout passes
                await self._write(batch, retry=False)
            elif len(batch) > 1:  # then alone: only a bad job fails
                for item in batch:
                    await self._write([item], retry=False)
            elif not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        if on_commit is not None:
            on_commit()
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
