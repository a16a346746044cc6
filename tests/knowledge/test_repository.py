"""FAQ content in the database (SQLite and PostgreSQL): the seed imported once, versions on
every change, publish and restore, imports in one transaction, unanswered questions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.db import Database
from gateway.settings import Settings
from knowledge import ContentError, FaqEntry, load_entries, repository
from knowledge.models import EntryStatus

SEED = Settings().faq_seed_path


def entry(entry_id: str, answer: str = "An answer.", *phrasings: str) -> FaqEntry:
    return FaqEntry(
        id=entry_id, topic="t", question=f"Question {entry_id}?", answer=answer, phrasings=phrasings
    )


async def test_the_seed_is_imported_once_and_published(database: Database) -> None:
    async with database.transaction() as session:
        assert await repository.seed_if_empty(session, SEED) == len(load_entries(SEED))
    async with database.transaction() as session:
        assert await repository.seed_if_empty(session, SEED) == 0
        published = await repository.published_entries(session)
    seed = {e.id: e for e in load_entries(SEED)}
    assert {e.id for e in published} == set(seed)
    assert all(e.version == 1 for e in published)
    one = next(e for e in published if e.id == "shipping-times")
    assert replace(one, version=1) == seed["shipping-times"]


async def test_every_change_is_a_version_and_publish_decides_what_is_live(
    database: Database,
) -> None:
    async with database.transaction() as session:
        created = await repository.create_entry(session, entry("a", "First.", "p1"), "alice")
        assert (created.version, created.status, created.published_version) == (1, "draft", None)
        assert await repository.published_entries(session) == []
        await repository.publish(session, "a", "alice")
    async with database.transaction() as session:
        await repository.save_entry(session, entry("a", "Second.", "p1", "p2"), "bob")
        [live] = await repository.published_entries(session)
        assert live.answer == "First." and live.version == 2
        stored = await repository.get_entry(session, "a")
        assert stored.has_unpublished_changes and stored.entry.phrasings == ("p1", "p2")
        await repository.publish(session, "a", "bob")
        [live] = await repository.published_entries(session)
        assert live.answer == "Second." and live.version == 4
        await repository.restore(session, "a", 1, "carol")
        versions = await repository.history(session, "a")
    assert [(v.version, v.action, v.author) for v in versions] == [
        (5, "restored v1", "carol"),
        (4, "published", "bob"),
        (3, "edited", "bob"),
        (2, "published", "alice"),
        (1, "created", "alice"),
    ]
    assert versions[0].content["answer"] == "First." and versions[0].content["phrasings"] == ["p1"]
    async with database.transaction() as session:
        [live] = await repository.published_entries(session)
        assert live.answer == "Second."  # restoring makes a new version; publishing makes it live
        await repository.unpublish(session, "a", "carol")
        assert await repository.published_entries(session) == []
        await repository.archive(session, "a", "carol")
        assert (await repository.get_entry(session, "a")).status == EntryStatus.ARCHIVED


async def test_a_stale_edit_is_refused(database: Database) -> None:
    async with database.transaction() as session:
        await repository.create_entry(session, entry("a"), "alice")
        await repository.save_entry(session, entry("a", "Mine."), "alice", expected_version=1)
    with pytest.raises(repository.Conflict, match="changed by alice"):
        async with database.transaction() as session:
            await repository.save_entry(session, entry("a", "Theirs."), "bob", expected_version=1)
    async with database.transaction() as session:
        assert (await repository.get_entry(session, "a")).entry.answer == "Mine."
        with pytest.raises(repository.Conflict):
            await repository.create_entry(session, entry("a"), "bob")


async def test_an_import_is_one_transaction(database: Database) -> None:
    async with database.transaction() as session:
        await repository.create_entry(session, entry("a", "Old."), "alice")
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            result = await repository.import_entries(
                session, [(entry("a", "New."), None), (entry("b"), EntryStatus.PUBLISHED)], "cli"
            )
            assert (result.created, result.updated) == (1, 1)
            raise RuntimeError("the process died half-way")
    async with database.transaction() as session:
        assert await repository.count_entries(session) == 1
        assert (await repository.get_entry(session, "a")).entry.answer == "Old."
        result = await repository.import_entries(
            session, [(entry("a", "Old."), None), (entry("b"), EntryStatus.PUBLISHED)], "cli"
        )
        assert (result.created, result.updated, result.unchanged) == (1, 0, 1)
        assert [e.id for e in await repository.published_entries(session)] == ["b"]


async def test_search_and_filters(database: Database) -> None:
    async with database.transaction() as session:
        await repository.create_entry(session, entry("alpha", "About 100% cotton."), "a")
        await repository.create_entry(session, entry("beta", "Other.", "where is my PARCEL"), "a")
        await repository.publish(session, "beta", "a")

        async def ids(**filters: object) -> list[str]:
            found = await repository.list_entries(session, **filters)  # type: ignore[arg-type]
            return [s.entry.id for s in found]

        assert await ids(search="parcel") == ["beta"]
        assert await ids(search="100%") == ["alpha"]
        assert await ids(search="%") == ["alpha"]  # a literal percent sign, not a wildcard
        assert await ids(search="_") == []
        assert await ids(status=EntryStatus.PUBLISHED) == ["beta"]
        assert await ids(topic="t", locale="en") == ["alpha", "beta"]
        assert await ids(locale="de") == []


async def test_unanswered_questions_are_resolved_once(database: Database) -> None:
    async with database.transaction() as session:
        await repository.create_entry(
            session, entry("returns", "Within 30 days.", "send back"), "a"
        )
        for text in ("can i return a gift", "Can I return a gift?", "  "):
            await repository.record_unanswered(
                session, text, "not_found", 0.2, best_entry="returns"
            )
        await repository.record_unanswered(session, "x" * 5000, "clarify", 0.5)
        questions = await repository.open_unanswered(session)
    assert len(questions) == 3  # the blank one is not kept
    assert len(questions[0].question) == repository.MAX_UNANSWERED_CHARS
    ids = [q.id for q in questions[1:] if q.id is not None]
    async with database.transaction() as session:
        stored = await repository.add_as_phrasings(session, ids, "returns", "cora")
    # Case-insensitive duplicates are added once.
    assert stored.entry.phrasings == ("send back", "Can I return a gift?")
    with pytest.raises(repository.Conflict):
        async with database.transaction() as session:
            await repository.entry_from_unanswered(session, ids, entry("gifts"), "cora")
    async with database.transaction() as session:
        with pytest.raises(repository.NotFound):
            await repository.get_entry(session, "gifts")  # rolled back with the refusal
        with pytest.raises(ContentError):
            await repository.dismiss_unanswered(session, [], "cora")
        assert len(await repository.open_unanswered(session)) == 1
