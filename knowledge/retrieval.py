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
    """TF-IDF cosine over phrasings, scored through an inverted index (only shared terms)."""

    def __init__(self, entries: list[FaqEntry]) -> None:
        self._docs: list[tuple[FaqEntry, str]] = []
        raw = [(e, p, Counter(tokens(p))) for e in entries for p in e.all_phrasings]
        df: Counter[str] = Counter()
        for _, _, counts in raw:
            df.update(counts.keys())
        n = max(len(raw), 1)
        self._idf = {term: math.log((1 + n) / (1 + freq)) + 1 for term, freq in df.items()}
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for row, (entry, phrasing, counts) in enumerate(raw):
            self._docs.append((entry, phrasing))
            for term, weight in self._unit(counts).items():
                self._postings.setdefault(term, []).append((row, weight))

    def _unit(self, counts: Counter[str]) -> dict[str, float]:
        weights = {t: c * self._idf.get(t, 0.0) for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()} if norm else {}

    def entry_scores(self, question: str) -> dict[str, tuple[float, str]]:
        """Best cosine per entry (with the phrasing that gave it), entries sharing a term only."""
        scores: dict[int, float] = {}
        for term, weight in self._unit(Counter(tokens(question))).items():
            for row, doc_weight in self._postings.get(term, ()):
                scores[row] = scores.get(row, 0.0) + weight * doc_weight
        best: dict[str, tuple[float, str]] = {}
        for row, score in scores.items():
            entry, phrasing = self._docs[row]
            if score > 0 and (entry.id not in best or score > best[entry.id][0]):
                best[entry.id] = (score, phrasing)
        return best

    def search(self, question: str, k: int = 3) -> list[Match]:
        entries = {entry.id: entry for entry, _ in self._docs}
        found = [
            Match(entries[entry_id], round(score, 4), phrasing)
            for entry_id, (score, phrasing) in self.entry_scores(question).items()
        ]
        return sorted(found, key=lambda m: m.score, reverse=True)[:k]


class BM25Index:
    """Okapi BM25 over each entry's phrasings joined into one document (a lexical baseline)."""

    def __init__(self, entries: list[FaqEntry], k1: float = 1.2, b: float = 0.75) -> None:
        self._entries = list(entries)
        docs = [Counter(tokens(" ".join(e.all_phrasings))) for e in self._entries]
        lengths = [sum(d.values()) for d in docs]
        average = sum(lengths) / max(len(docs), 1) or 1.0
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.keys())
        n = len(docs)
        idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for row, (doc, length) in enumerate(zip(docs, lengths, strict=True)):
            norm = k1 * (1 - b + b * length / average)
            for term, tf in doc.items():
                weight = idf[term] * tf * (k1 + 1) / (tf + norm)
                self._postings.setdefault(term, []).append((row, weight))

    def scores(self, question: str) -> dict[str, float]:
        totals: dict[int, float] = {}
        for term in set(tokens(question)):
            for row, weight in self._postings.get(term, ()):
                totals[row] = totals.get(row, 0.0) + weight
        return {self._entries[row].id: score for row, score in totals.items()}

    def search(self, question: str, k: int = 3) -> list[Match]:
        ranked = sorted(self.scores(question).items(), key=lambda item: item[1], reverse=True)
        by_id = {e.id: e for e in self._entries}
        return [Match(by_id[i], round(s, 4), by_id[i].question) for i, s in ranked[:k]]


def decide(matches: list[Match], thresholds: Thresholds) -> Decision:
    if not matches or matches[0].score < thresholds.clarify:
        return Decision.NOT_FOUND
    runner_up = matches[1].score if len(matches) > 1 else 0.0
    if matches[0].score >= thresholds.answer and matches[0].score - runner_up >= thresholds.margin:
        return Decision.ANSWER
    return Decision.CLARIFY
