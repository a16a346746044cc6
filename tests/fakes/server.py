"""What every fake provider shares: a real HTTP server on a loopback port, a record of what
it received, and failures it can be told to answer with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Failure:
    status: int
    retry_after: int | None = None


@dataclass
class FakeProvider:
    """Subclasses add routes in `routes()` and call `next_failure()` before answering."""

    received: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    attempts: int = 0
    hold: bool = False
    held: int = 0
    _runner: web.AppRunner | None = None
    port: int = 0

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        self.failures += [Failure(status, retry_after)] * times

    async def gate(self) -> Failure | None:
        """Counts the attempt; in `hold` mode never answers (a provider that has not
        processed the request when its client dies); else the next queued failure."""
        self.attempts += 1
        if self.hold:
            self.held += 1
            await asyncio.Event().wait()
        return self.failures.pop(0) if self.failures else None

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The first `count` recorded requests, once they have arrived."""
        for _ in range(int(timeout_s / 0.05)):
            if len(self.received) >= count:
                return self.received[:count]
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {len(self.received)}")
