"""Lexical retrieval: TF-IDF cosine between the question and every phrasing.

Scores lie in [0, 1]; the decision compares the best entry's score with configured
thresholds and with the runner-up, so a close call becomes a clarifying question.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from .content import FaqEntry

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by can could do does for from have how i if in is it its me my "
    "of on or our please the to was we what when where which will with would you your".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def tokens(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


class Decision(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class Thresholds:
    answer: float
    clarify: float
    margin: float


@dataclass(frozen=True, slots=True)
class Match:
    entry: FaqEntry
    score: float
    phrasing: str


@dataclass(frozen=True, slots=True)
class Answer:
    decision: Decision
    matches: tuple[Match, ...]

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


class LexicalIndex:
    def __init__(self, entries: list[FaqEntry]) -> None:
        self._docs: list[tuple[FaqEntry, str, dict[str, float]]] = []
        raw = [(e, p, Counter(tokens(p))) for e in entries for p in e.all_phrasings]
        df: Counter[str] = Counter()
        for _, _, counts in raw:
            df.update(counts.keys())
        n = max(len(raw), 1)
        self._idf = {term: math.log((1 + n) / (1 + freq)) + 1 for term, freq in df.items()}
        for entry, phrasing, counts in raw:
            self._docs.append((entry, phrasing, self._unit(counts)))

    def _unit(self, counts: Counter[str]) -> dict[str, float]:
        weights = {t: c * self._idf.get(t, 0.0) for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()} if norm else {}

    def search(self, question: str, k: int = 3) -> list[Match]:
        query = self._unit(Counter(tokens(question)))
        best: dict[str, Match] = {}
        for entry, phrasing, doc in self._docs:
            score = sum(w * doc.get(t, 0.0) for t, w in query.items())
            if score > 0 and (entry.id not in best or score > best[entry.id].score):
                best[entry.id] = Match(entry, round(score, 4), phrasing)
        return sorted(best.values(), key=lambda m: m.score, reverse=True)[:k]


def decide(matches: list[Match], thresholds: Thresholds) -> Decision:
    if not matches or matches[0].score < thresholds.clarify:
        return Decision.NOT_FOUND
    runner_up = matches[1].score if len(matches) > 1 else 0.0
    if matches[0].score >= thresholds.answer and matches[0].score - runner_up >= thresholds.margin:
        return Decision.ANSWER
    return Decision.CLARIFY
