"""Lint: phrasings the knowledge base would answer with another entry (held out of their own,
scored as the knowledge base scores), near-duplicates, answers, promises; worst first."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge import Embedder, FaqEntry, Thresholds, shared_embedder
from knowledge.lint import CachingEmbedder, Finding, LintConfig, Scoring, folds, lint

SEMANTIC = Thresholds(answer=0.6, clarify=0.4, margin=0.05)
LEXICAL = Thresholds(answer=0.45, clarify=0.2, margin=0.15)


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
STRAY = entry(
    "gift-cards",
    "Do you sell gift cards?",
    "can I buy a gift voucher",
    "how many days until my parcel arrives",
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


def confusable(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.check == "confusable_phrasing"]


@pytest.mark.parametrize("semantic", [False, True])
def test_clean_content_has_no_findings(semantic: bool, request: pytest.FixtureRequest) -> None:
    if semantic:
        scoring = Scoring(SEMANTIC, request.getfixturevalue("embedder"))
    else:
        scoring = Scoring(LEXICAL)
    assert lint(CLEAN, LintConfig(), scoring) == []


def test_near_duplicates_are_found(embedder: Embedder) -> None:
    duplicate = entry(
        "parcel-arrival",
        "When does my parcel arrive?",
        "how long does delivery take",
        "how many days until my order arrives",
    )
    findings = lint(
        [*CLEAN, duplicate], LintConfig(duplicate_threshold=0.85), Scoring(SEMANTIC, embedder)
    )
    near = [f for f in findings if f.check == "near_duplicate"]
    assert [(f.entry_id, f.other_id, f.severity) for f in near] == [
        ("delivery-time", "parcel-arrival", "medium")
    ]


@pytest.mark.parametrize("semantic", [False, True])
def test_a_phrasing_answered_with_another_entry_is_high(
    semantic: bool, request: pytest.FixtureRequest
) -> None:
    scoring = (
        Scoring(SEMANTIC, request.getfixturevalue("embedder")) if semantic else Scoring(LEXICAL)
    )
    findings = lint([CLEAN[0], STRAY, CLEAN[2]], LintConfig(), scoring)
    found = {(f.entry_id, f.other_id, f.detail["phrasing"]): f for f in confusable(findings)}
    stray = found[("gift-cards", "delivery-time", "how many days until my parcel arrives")]
    assert stray.severity == "high" and stray.detail["outcome"] == "wrong_answer"
    assert stray.detail["lead"] >= 0.1 and stray.strength == stray.detail["lead"]
    assert "is answered with 'delivery-time'" in stray.message
    # Only the two entries the stray phrasing mixes up are reported.
    assert {(a, b) for a, b, _ in found} <= {
        ("gift-cards", "delivery-time"),
        ("delivery-time", "gift-cards"),
    }
    # The margin is how far the other entry must lead: past any possible lead, nothing.
    assert not confusable(
        lint([CLEAN[0], STRAY, CLEAN[2]], LintConfig(confusion_margin=1.01), scoring)
    )


def test_a_choice_without_the_own_entry_is_medium() -> None:
    """With an answer threshold nothing reaches, every question gets a choice: the stray
    phrasing's choice holds the three parcel entries, not its own."""
    parcels = [
        entry("parcel-late", "My parcel is late", "late parcel delivery"),
        entry("parcel-tracking", "Track my parcel", "parcel tracking code"),
        entry("parcel-damaged", "My parcel arrived damaged", "damaged parcel box"),
    ]
    gifts = entry("gift-cards", "Do you sell gift cards?", "gift voucher", "where is my parcel")
    scoring = Scoring(Thresholds(answer=0.99, clarify=0.01, margin=0.0))
    findings = confusable(lint([*parcels, gifts], LintConfig(), scoring))
    stray = next(f for f in findings if f.detail["phrasing"] == "where is my parcel")
    assert (stray.entry_id, stray.severity, stray.detail["outcome"]) == (
        "gift-cards",
        "medium",
        "not_offered",
    )
    assert sorted(stray.detail["offered"]) == sorted(p.id for p in parcels)
    assert stray.detail["own_score"] is None and "without its own entry" in stray.message


def test_findings_come_worst_first() -> None:
    entries = [
        entry("long", "Long?", answer="word " * 200),
        entry("promise", "Promise?", answer="We always reply."),
        entry("empty", "Empty?", answer=" "),
        CLEAN[0],
        STRAY,
    ]
    findings = lint(entries, LintConfig(), Scoring(LEXICAL))
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=["high", "medium", "low"].index)
    assert findings[0].check == "confusable_phrasing"  # a wrong answer before an empty one
    assert [f.check for f in findings if f.severity == "high"][-1] == "empty_answer"
    assert findings[-1].check == "long_answer"


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


def test_each_phrasing_is_held_out_once_and_no_entry_is_emptied() -> None:
    entries = [*CLEAN, entry("lone", "Only a question?"), entry("twice", "Same?", "Same?", "B")]
    held = []
    for kept, out in folds(entries, 3):
        assert [e.id for e in kept] == [e.id for e in entries]
        assert all(e.question for e in kept)
        for position, phrasing in out:
            assert phrasing not in kept[position].all_phrasings
        held += out
    expected = [(i, p) for i, e in enumerate(entries) for p in dict.fromkeys(e.all_phrasings)]
    assert sorted(held) == sorted(x for x in expected if entries[x[0]].id != "lone")


def test_the_order_of_the_entries_changes_nothing() -> None:
    entries = [*CLEAN[:1], STRAY, *CLEAN[2:], entry("hours", "opening hours", "when are you open")]
    forward = lint(entries, LintConfig(confusion_margin=0.0), Scoring(LEXICAL))
    backward = lint(entries[::-1], LintConfig(confusion_margin=0.0), Scoring(LEXICAL))
    assert forward and sorted(map(repr, forward)) == sorted(map(repr, backward))


def test_the_caching_embedder_embeds_each_text_once(embedder: Embedder) -> None:
    cached = CachingEmbedder(embedder, max_texts=3)
    first = cached.encode(["a parcel", "a gift", "a parcel"])
    assert first.shape == (3, embedder.dimension) and len(cached) == 2
    np.testing.assert_allclose(first[0], first[2])
    np.testing.assert_allclose(cached.encode_query("a gift")[0], first[1])
    cached.encode(["one", "two"])
    assert len(cached) == 3  # least recently used out
    assert cached.encode([]).shape == (0, embedder.dimension)
