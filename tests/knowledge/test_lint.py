"""Lint: near-duplicates, phrasings that match another entry better, answers, promises."""

from __future__ import annotations

import pytest

from knowledge import Embedder, FaqEntry, shared_embedder
from knowledge.lint import LintConfig, lint


def entry(
    entry_id: str, question: str, *phrasings: str, answer: str = "A plain answer."
) -> FaqEntry:
    return FaqEntry(id=entry_id, topic="t", question=question, answer=answer, phrasings=phrasings)


CLEAN = [
    entry(
        "delivery-time",
        "How long does delivery take?",
        "when will my parcel arrive",
        "how many days until my order arrives",
    ),
    entry(
        "gift-cards",
        "Do you sell gift cards?",
        "can I buy a gift voucher",
        "gift card for a friend",
    ),
    entry(
        "opening-hours",
        "When is customer service open?",
        "what are your opening hours",
        "can I call you on Sunday",
    ),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.mark.parametrize("semantic", [False, True])
def test_clean_content_has_no_findings(semantic: bool, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue("embedder") if semantic else None
    assert lint(CLEAN, LintConfig(), model) == []


def test_near_duplicates_are_found(embedder: Embedder) -> None:
    duplicate = entry(
        "parcel-arrival",
        "When does my parcel arrive?",
        "how long does delivery take",
        "how many days until my order arrives",
    )
    findings = lint([*CLEAN, duplicate], LintConfig(duplicate_threshold=0.85), embedder)
    near = [f for f in findings if f.check == "near_duplicate"]
    assert [(f.entry_id, f.other_id) for f in near] == [("delivery-time", "parcel-arrival")]


def test_a_phrasing_closer_to_another_entry_is_found(embedder: Embedder) -> None:
    stray = entry(
        "gift-cards",
        "Do you sell gift cards?",
        "can I buy a gift voucher",
        "how many days until my parcel arrives",
    )
    findings = lint([CLEAN[0], stray, CLEAN[2]], LintConfig(), embedder)
    confusable = {
        (f.entry_id, f.other_id, f.detail["phrasing"])
        for f in findings
        if f.check == "confusable_phrasing"
    }
    assert ("gift-cards", "delivery-time", "how many days until my parcel arrives") in confusable
    # Only the two entries the stray phrasing mixes up are reported.
    assert {(a, b) for a, b, _ in confusable} <= {
        ("gift-cards", "delivery-time"),
        ("delivery-time", "gift-cards"),
    }
    lexical = lint([CLEAN[0], stray, CLEAN[2]], LintConfig(), None)
    assert ("gift-cards", "delivery-time") in {
        (f.entry_id, f.other_id) for f in lexical if f.check == "confusable_phrasing"
    }


def test_answers_and_promises() -> None:
    entries = [
        entry("empty", "Empty?", answer=" "),
        entry("long", "Long?", answer="word " * 200),
        entry("promise", "Promise?", answer="We GUARANTEE delivery and always reply. Alwaysy."),
        entry("fine", "Fine?", answer="We usually reply within a day."),
    ]
    findings = {(f.check, f.entry_id): f for f in lint(entries, LintConfig(max_answer_chars=800))}
    assert set(findings) == {
        ("empty_answer", "empty"),
        ("long_answer", "long"),
        ("promise", "promise"),
    }
    assert findings[("promise", "promise")].detail["words"] == ["always", "guarantee"]
    custom = lint(entries, LintConfig(promise_words=("usually",), max_answer_chars=10_000))
    assert {(f.check, f.entry_id) for f in custom} == {
        ("empty_answer", "empty"),
        ("promise", "fine"),
    }
    assert [f for f in lint(entries, LintConfig(promise_words=())) if f.check == "promise"] == []
