"""Keeps a running `KnowledgeBase` serving the published content in the database.

`load()` reads the published entries in one transaction and swaps them into the knowledge
base (`KnowledgeBase.publish`: built aside, replaced in one assignment, so questions in flight
see one version whole). Publishing from the admin page calls it directly; `watch()` polls a
cheap revision so content published by another process (the CLI, another gateway replica)
is served too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from . import repository
from .base import KnowledgeBase

log = structlog.get_logger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class LiveContent:
    def __init__(self, knowledge: KnowledgeBase, transaction: Transaction) -> None:
        self.knowledge = knowledge
        self.transaction = transaction
        self.revision: int | None = None
        self._lock = asyncio.Lock()

    async def seed(self, path: Path) -> int:
        """Imports the seed file once, into an empty content store."""
        async with self.transaction() as session:
            added = await repository.seed_if_empty(session, path)
        if added:
            log.info("knowledge.seeded", entries=added, path=str(path))
        return added

    async def load(self) -> int:
        """Serve what is published now; returns the knowledge base's content version."""
        async with self._lock:
            return await self._load()

    async def _load(self) -> int:
        async with self.transaction() as session:
            revision = await repository.content_revision(session)
            entries = await repository.published_entries(session)
        # Embedding the phrasings is CPU work: off the event loop.
        version = await asyncio.to_thread(self.knowledge.publish, entries)
        self.revision = revision
        log.info("knowledge.published", entries=len(entries), version=version)
        return version

    async def refresh(self) -> bool:
        """Reload if the stored content changed since the last load."""
        async with self._lock:
            async with self.transaction() as session:
                revision = await repository.content_revision(session)
            if revision == self.revision:
                return False
            await self._load()
            return True

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception:
                log.exception("knowledge.refresh_failed")
