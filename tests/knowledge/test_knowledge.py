"""FAQ content loading and the answer / clarify / not-found decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import Settings
from knowledge import ContentError, Decision, FaqEntry, KnowledgeBase, Thresholds, load_entries

SEED = Settings().faq_seed_path
THRESHOLDS = Thresholds(answer=0.45, clarify=0.2, margin=0.15)


@pytest.fixture(scope="module")
def seed_kb() -> KnowledgeBase:
    return KnowledgeBase.from_file(SEED, THRESHOLDS)


def test_seed_content_is_rich_enough() -> None:
    entries = load_entries(SEED)
    assert len(entries) >= 60
    assert all(len(e.phrasings) >= 4 for e in entries)
    topics = {e.topic for e in entries}
    assert {"shipping", "returns", "payments", "accounts", "warranty", "privacy"} <= topics


def test_every_seed_question_finds_its_own_entry(seed_kb: KnowledgeBase) -> None:
    misses = []
    for entry in load_entries(SEED):
        best = seed_kb.ask(entry.question).best
        if best is None or best.entry.id != entry.id:
            misses.append(entry.id)
    assert misses == []


def entry(entry_id: str, question: str, *phrasings: str) -> FaqEntry:
    return FaqEntry(id=entry_id, topic="t", question=question, answer="a", phrasings=phrasings)


SMALL = KnowledgeBase(
    [
        entry("delivery-time", "How long does delivery take?", "when will my parcel arrive"),
        entry("delivery-cost", "How much does delivery cost?", "shipping price"),
        entry("gift-cards", "Do you sell gift cards?", "gift voucher"),
    ],
    THRESHOLDS,
)


def test_a_clear_question_is_answered() -> None:
    answer = SMALL.ask("Do you sell gift cards?")
    assert answer.decision == Decision.ANSWER
    assert answer.best is not None and answer.best.entry.id == "gift-cards"


def test_a_close_call_asks_which_one() -> None:
    answer = SMALL.ask("delivery?")
    assert answer.decision == Decision.CLARIFY
    assert {m.entry.id for m in answer.matches} == {"delivery-time", "delivery-cost"}


def test_an_unrelated_question_is_not_found() -> None:
    assert SMALL.ask("what is the capital of peru").decision == Decision.NOT_FOUND
    assert SMALL.ask("").decision == Decision.NOT_FOUND


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("entries: [", "cannot read"),
        ("- just a list", "expected a mapping"),
        ("entries:\n  - id: ok-one\n    topic: t\n    question: q\n", "entries[0]: 'answer'"),
        (
            "entries:\n  - {id: a, topic: t, question: q, answer: x}\n"
            "  - {id: Bad Id, topic: t, question: q, answer: x}\n",
            "entries[1]: id 'Bad Id'",
        ),
        (
            "entries:\n  - {id: a, topic: t, question: q, answer: x}\n"
            "  - {id: a, topic: t, question: q2, answer: y}\n",
            "duplicate id 'a'",
        ),
        (
            "entries:\n  - {id: a, topic: t, question: q, answer: x, phrasings: [1, 2]}\n",
            "phrasings",
        ),
    ],
)
def test_malformed_content_is_refused_with_its_place(
    tmp_path: Path, document: str, message: str
) -> None:
    path = tmp_path / "faq.yml"
    path.write_text(document)
    with pytest.raises(ContentError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_entries(path)
