"""The running knowledge base follows the published content: publishing while questions run
gives no errors and no torn reads; another process's publish is picked up by polling."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace

from gateway.db import Database
from knowledge import Decision, FaqEntry, KnowledgeBase, LiveContent, Thresholds, repository
from knowledge.models import EntryStatus

THRESHOLDS = Thresholds(answer=0.45, clarify=0.2, margin=0.15)
QUESTION = "How do I track my parcel?"


def tracking(version: int) -> FaqEntry:
    return FaqEntry(
        id="tracking",
        topic="shipping",
        question=QUESTION,
        answer=f"Answer number {version}.",
        phrasings=(f"where is my parcel {version}", "track order"),
    )


async def test_publishing_while_questions_run(database: Database) -> None:
    kb = KnowledgeBase([], THRESHOLDS)
    live = LiveContent(kb, database.transaction)
    async with database.transaction() as session:
        await repository.create_entry(session, tracking(0), "cora")
        await repository.create_entry(
            session,
            FaqEntry(id="returns", topic="r", question="Can I return an item?", answer="Yes."),
            "cora",
        )
        await repository.publish(session, "tracking", "cora")
        await repository.publish(session, "returns", "cora")
    await live.load()

    stop = threading.Event()
    seen: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def ask() -> None:
        while not stop.is_set():
            try:
                answer = kb.ask(QUESTION)
                assert answer.decision == Decision.ANSWER and answer.best is not None
                seen.append((answer.best.entry.version, answer.best.entry.answer))
                time.sleep(0.0005)  # let the publisher have the interpreter now and then
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(1, 16):
            async with database.transaction() as session:
                await repository.save_entry(session, tracking(n), "cora")
                await repository.publish(session, "tracking", "cora")
            await live.load()
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    # Version 2k+2 of the entry is the publish of content number k: never one without the other.
    assert all(answer == f"Answer number {(version - 2) // 2}." for version, answer in seen)
    assert len({version for version, _ in seen}) > 3
    final = kb.get("tracking")
    assert final is not None and final.answer == "Answer number 15." and final.version == 32
    assert kb.get("returns") is not None


async def test_another_process_publish_is_picked_up(database: Database) -> None:
    here = LiveContent(KnowledgeBase([], THRESHOLDS), database.transaction)
    elsewhere = LiveContent(KnowledgeBase([], THRESHOLDS), database.transaction)
    await here.load()
    watching = asyncio.create_task(here.watch(0.05))
    try:
        async with database.transaction() as session:
            await repository.create_entry(session, tracking(1), "cli", status=EntryStatus.PUBLISHED)
        await elsewhere.load()
        for _ in range(100):
            if here.knowledge.get("tracking") is not None:
                break
            await asyncio.sleep(0.05)
        assert here.knowledge.get("tracking") == replace(tracking(1), version=1)
        assert not await here.refresh()  # nothing new since
        async with database.transaction() as session:
            await repository.unpublish(session, "tracking", "cli")
        assert await here.refresh() or here.knowledge.get("tracking") is None
        for _ in range(100):
            if here.knowledge.get("tracking") is None:
                break
            await asyncio.sleep(0.05)
        assert here.knowledge.get("tracking") is None
    finally:
        watching.cancel()
