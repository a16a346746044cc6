"""Background delivery of the outbox rows the handoff commits ("has joined" notices and the
like), so a request answers once its change is committed. Rows committed while deliveries
are running are sent together by the next one: under load, one claim of many rows in the
outbox instead of one per request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class Courier:
    def __init__(self, deliver: Callable[[list[int]], Awaitable[None]], workers: int = 4) -> None:
        self._deliver = deliver
        self._workers = workers
        self._waiting: list[int] = []
        self._running: set[asyncio.Task[None]] = set()

    def send(self, message_ids: list[int]) -> None:
        if not message_ids:
            return
        self._waiting += message_ids
        if len(self._running) < self._workers:
            task = asyncio.create_task(self._work(), name="handoff-courier")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _work(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._deliver(batch)
            except Exception:  # the outbox's sweeper retries what is left pending
                log.exception("handoff.delivery_failed", messages=len(batch))

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._running), timeout_s)
