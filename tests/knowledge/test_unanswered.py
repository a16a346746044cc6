"""Unanswered questions grouped by similarity, with counts, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from knowledge import shared_embedder
from knowledge.models import UnansweredQuestion
from knowledge.unanswered import group_questions

START = datetime(2026, 1, 1, tzinfo=UTC)


def asked(i: int, text: str, best: str | None = None) -> UnansweredQuestion:
    return UnansweredQuestion(
        id=i,
        question=text,
        decision="not_found",
        asked_at=START + timedelta(minutes=i),
        best_entry=best,
    )


QUESTIONS = [
    asked(1, "do you sell refurbished phones", "phones"),
    asked(2, "Can I pay with bitcoin?"),
    asked(3, "Do you sell refurbished phones?", "phones"),
    asked(4, "are there any second hand refurbished phones", None),
    asked(5, "is bitcoin accepted as payment"),
    asked(6, "where is your warehouse located"),
]


def test_similar_questions_are_grouped_newest_first() -> None:
    groups = group_questions(QUESTIONS, shared_embedder())
    assert [sorted(g.ids) for g in groups] == [[6], [2, 5], [1, 3, 4]]
    assert [g.count for g in groups] == [1, 2, 3]
    phones = groups[2]
    assert phones.newest == START + timedelta(minutes=4)
    assert phones.label == "Do you sell refurbished phones?"  # asked twice, newest wording
    assert phones.nearest_entry == "phones"
    assert phones.distinct_questions == [
        "are there any second hand refurbished phones",
        "Do you sell refurbished phones?",
    ]


def test_lexical_grouping_joins_the_same_words() -> None:
    groups = group_questions(QUESTIONS)
    assert sorted(g.ids for g in groups if g.count > 1) == [[3, 1]]
    assert groups[0].ids == [6]


def test_nothing_to_group() -> None:
    assert group_questions([]) == []
    groups = group_questions([asked(1, "???"), asked(2, "!!!")])  # no words: nothing in common
    assert [g.ids for g in groups] == [[2], [1]]
