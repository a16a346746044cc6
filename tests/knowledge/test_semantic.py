"""Semantic retrieval with the real embedding model on the seed content."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gateway.settings import Settings
from knowledge import (
    Decision,
    Embedder,
    FaqEntry,
    IndexParams,
    KnowledgeBase,
    ScoringWeights,
    SemanticRetriever,
    Thresholds,
    load_entries,
    shared_embedder,
)

SETTINGS = Settings()
SEED = SETTINGS.faq_seed_path
THRESHOLDS = Thresholds(
    answer=SETTINGS.faq_answer_threshold,
    clarify=SETTINGS.faq_clarify_threshold,
    margin=SETTINGS.faq_clarify_margin,
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder()


@pytest.fixture(scope="module")
def seed_kb(embedder: Embedder) -> KnowledgeBase:
    return KnowledgeBase.from_file(SEED, THRESHOLDS, embedder=embedder)


def test_every_canonical_question_answers_its_own_entry(seed_kb: KnowledgeBase) -> None:
    assert seed_kb.semantic
    wrong = []
    for entry in load_entries(SEED):
        answer = seed_kb.ask(entry.question)
        if answer.decision != Decision.ANSWER or answer.best is None:
            wrong.append((entry.id, answer.decision))
        elif answer.best.entry.id != entry.id:
            wrong.append((entry.id, answer.best.entry.id))
    assert wrong == []


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("I forgot my password, what now?", "password-reset"),
        ("can I pay with paypal", "payment-methods"),
    ],
)
def test_a_paraphrase_is_answered(seed_kb: KnowledgeBase, question: str, entry_id: str) -> None:
    answer = seed_kb.ask(question)
    assert answer.decision == Decision.ANSWER
    assert answer.best is not None and answer.best.entry.id == entry_id


@pytest.mark.parametrize("question", ["what is the capital of peru", "", "   "])
def test_an_unrelated_question_is_not_found(seed_kb: KnowledgeBase, question: str) -> None:
    assert seed_kb.ask(question).decision == Decision.NOT_FOUND


def test_the_index_is_reused_from_disk_when_content_is_unchanged(
    embedder: Embedder, tmp_path: Path
) -> None:
    entries = load_entries(SEED)[:5]
    first = KnowledgeBase(entries, THRESHOLDS, embedder=embedder, index_dir=tmp_path / "idx")
    again = KnowledgeBase(entries, THRESHOLDS, embedder=embedder, index_dir=tmp_path / "idx")
    question = entries[0].question
    assert first.ask(question) == again.ask(question)
    assert (tmp_path / "idx").is_symlink()


def version(label: str) -> list[FaqEntry]:
    topics = ["delivery times", "refunds", "gift cards", "password reset"]
    return [
        FaqEntry(
            id=f"{label}-{i}",
            topic=label,
            question=f"Question about {topic}?",
            answer=label,
            phrasings=(f"tell me about {topic}", f"{topic} help"),
        )
        for i, topic in enumerate(topics)
    ]


def test_publishing_while_questions_run_gives_whole_answers(embedder: Embedder) -> None:
    loose = Thresholds(answer=0.99, clarify=0.0, margin=0.0)  # keep every match to check
    kb = KnowledgeBase(version("a"), loose, embedder=embedder)
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                answer = kb.ask("how do refunds work", k=4)
                labels = {m.entry.answer for m in answer.matches}
                assert len(labels) == 1, labels
                assert all(m.entry.id.startswith(m.entry.answer) for m in answer.matches)
                seen.update(labels)
            except BaseException as exc:
                errors.append(exc)

    askers = [threading.Thread(target=ask) for _ in range(4)]
    for asker in askers:
        asker.start()
    for i in range(6):
        kb.publish(version("b" if i % 2 == 0 else "a"))
    stop.set()
    for asker in askers:
        asker.join()
    assert errors == []
    assert kb.version == 7
    assert seen <= {"a", "b"} and seen


def test_the_classifier_signal_ranks_the_entry_its_phrasings_teach(embedder: Embedder) -> None:
    entries = load_entries(SEED)
    weights = ScoringWeights(best=0.3, prototype=0.3, lexical=0.0, classifier=0.4)
    retriever = SemanticRetriever(entries, embedder, weights)
    assert retriever.classifier is not None
    question = "I forgot my password, what now?"
    probabilities = retriever.classifier.probabilities(embedder.encode([question]))[0]
    assert probabilities.shape == (len(entries),)
    assert abs(float(probabilities.sum()) - 1.0) < 1e-4
    top = entries[int(probabilities.argmax())].id
    assert top == "password-reset"
    assert retriever.search(question, k=1)[0].entry.id == "password-reset"
    without = SemanticRetriever(entries, embedder, ScoringWeights(0.3, 0.3, 0.0, 0.0))
    assert without.classifier is None
    assert without.search(question, k=1)[0].entry.id == "password-reset"


def test_a_lone_entry_is_certain_and_negative_weights_are_refused(embedder: Embedder) -> None:
    entry = load_entries(SEED)[0]
    lone = SemanticRetriever([entry], embedder, ScoringWeights(0.5, 0.0, 0.0, 0.5))
    assert lone.classifier is not None
    assert lone.classifier.probabilities(embedder.encode(["anything"]))[0].tolist() == [1.0]
    with pytest.raises(ValueError, match="positive or zero"):
        ScoringWeights(1.0, 0.5, 0.0, -0.5).normalised()


def test_the_classifier_can_read_words_beside_the_embedding(embedder: Embedder) -> None:
    entries = load_entries(SEED)
    weights = ScoringWeights(0.3, 0.3, 0.0, 0.4, terms=1.0)
    retriever = SemanticRetriever(entries, embedder, weights)
    assert retriever.classifier is not None and retriever.classifier.terms == 1.0
    question = "can I pay with paypal"
    query = embedder.encode([question])
    with pytest.raises(ValueError, match="texts"):
        retriever.classifier.probabilities(query)
    probabilities = retriever.classifier.probabilities(query, [question])[0]
    assert entries[int(probabilities.argmax())].id == "payment-methods"
    assert retriever.search(question, k=1)[0].entry.id == "payment-methods"


def test_the_approximate_index_answers_the_seed_questions_as_exact_search_does(
    embedder: Embedder,
) -> None:
    """The index a collection past `exact_limit` gets, forced onto the seed content with
    fewer re-scored candidates than phrasings, so its PQ codes decide what is re-scored."""
    entries = load_entries(SEED)
    exact = SemanticRetriever(entries, embedder)
    rows = len(exact.index)
    approximate = SemanticRetriever(
        entries, embedder, params=IndexParams(exact_limit=0, rescored=rows // 4)
    )
    assert approximate.index.approximate and not exact.index.approximate
    questions = [e.question for e in entries] + [
        "I forgot my password, what now?",
        "can I pay with paypal",
        "how long does delivery take to Germany",
    ]
    differ = [
        q
        for q in questions
        if approximate.search(q, k=1)[0].entry.id != exact.search(q, k=1)[0].entry.id
    ]
    assert differ == []
