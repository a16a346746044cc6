"""Content checks before customers see an entry, worst first.

- confusable phrasings: each phrasing is held out of its entry (k folds) and asked of a
  knowledge base built from the rest, with the knowledge base's own scoring and thresholds.
  Reported when the customer would get another entry's answer (high), or a choice of
  entries that leaves its own out (medium), and the other entry leads its own by at least
  `confusion_margin`;
- near-duplicate entries (their phrasings, averaged, say nearly the same thing; medium);
- empty (high) or overlong (low) answers;
- absolute promises support teams avoid ("guarantee", "always", ...: a configurable list;
  medium).
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from .base import KnowledgeBase
from .content import FaqEntry
from .embeddings import Embedder, Vectors
from .retrieval import Answer, Decision, Thresholds
from .semantic import DEFAULT_WEIGHTS, ScoringWeights
from .similarity import unit_rows, vectorise

DEFAULT_PROMISE_WORDS = ("guarantee", "guaranteed", "definitely", "absolutely", "always", "never")
SEVERITIES = ("high", "medium", "low")
CHECKS = ("confusable_phrasing", "near_duplicate", "empty_answer", "promise", "long_answer")
CHOICES = 3  # how many entries a clarifying question offers (the FAQ action asks for 3)
_CHUNK = 256


@dataclass(frozen=True, slots=True)
class LintConfig:
    promise_words: tuple[str, ...] = DEFAULT_PROMISE_WORDS
    max_answer_chars: int = 800
    duplicate_threshold: float = 0.9
    confusion_margin: float = 0.1  # how far another entry must lead a phrasing's own entry
    folds: int = 5


DEFAULT_CONFIG = LintConfig()


@dataclass(frozen=True, slots=True)
class Scoring:
    """How the knowledge base scores questions and decides: what the similarity checks use."""

    thresholds: Thresholds
    embedder: Embedder | None = None  # None: TF-IDF, as the lexical knowledge base
    weights: ScoringWeights = DEFAULT_WEIGHTS

    @classmethod
    def of(cls, knowledge: KnowledgeBase) -> Scoring:
        return cls(knowledge.thresholds, knowledge.embedder, knowledge.weights)

    def caching(self) -> Scoring:
        """The same scoring with an embedder that keeps the vectors it computed."""
        if self.embedder is None or isinstance(self.embedder, CachingEmbedder):
            return self
        return replace(self, embedder=CachingEmbedder(self.embedder).as_embedder())


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # confusable_phrasing | near_duplicate | empty_answer | long_answer | promise
    severity: str  # high | medium | low
    entry_id: str
    message: str
    other_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    strength: float = 0.0  # orders findings of one check and severity, worst first


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (
            SEVERITIES.index(f.severity),
            CHECKS.index(f.check),
            -f.strength,
            f.entry_id,
        ),
    )


def lint(
    entries: Sequence[FaqEntry],
    config: LintConfig = DEFAULT_CONFIG,
    scoring: Scoring | None = None,
) -> list[Finding]:
    """Every check, worst first. The checks between entries need `scoring` (and two
    entries); without it only each entry's own answer is checked."""
    findings = [*_answers(entries, config), *_promises(entries, config)]
    if scoring is not None and len(entries) > 1:
        scoring = scoring.caching()
        findings += _near_duplicates(entries, config, scoring.embedder)
        findings += _confusable(entries, config, scoring)
    return sort_findings(findings)


def _answers(entries: Sequence[FaqEntry], config: LintConfig) -> list[Finding]:
    found = []
    for e in entries:
        if not e.answer.strip():
            found.append(Finding("empty_answer", "high", e.id, "the answer is empty"))
        elif len(e.answer) > config.max_answer_chars:
            found.append(
                Finding(
                    "long_answer",
                    "low",
                    e.id,
                    f"the answer has {len(e.answer)} characters "
                    f"(more than {config.max_answer_chars})",
                    detail={"chars": len(e.answer)},
                    strength=len(e.answer),
                )
            )
    return found


def _promises(entries: Sequence[FaqEntry], config: LintConfig) -> list[Finding]:
    words = [w.strip() for w in config.promise_words if w.strip()]
    if not words:
        return []
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
    found = []
    for e in entries:
        texts = [e.answer, *(link.title for link in e.links), *(b.title for b in e.buttons)]
        hits = sorted({m.group(1).lower() for t in texts for m in pattern.finditer(t)})
        if hits:
            found.append(
                Finding(
                    "promise",
                    "medium",
                    e.id,
                    f"the answer makes an absolute promise: {', '.join(hits)}",
                    detail={"words": hits},
                    strength=len(hits),
                )
            )
    return found


def _near_duplicates(
    entries: Sequence[FaqEntry], config: LintConfig, embedder: Embedder | None
) -> list[Finding]:
    texts = [p for e in entries for p in e.all_phrasings]
    owners = np.repeat(np.arange(len(entries)), [len(e.all_phrasings) for e in entries])
    vectors = vectorise(texts, embedder)
    sums = np.zeros((len(entries), vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, owners, vectors)
    prototypes = unit_rows(sums)
    found = []
    for start in range(0, len(entries), _CHUNK):
        sims = prototypes[start : start + _CHUNK] @ prototypes.T
        for row, col in zip(*np.nonzero(sims >= config.duplicate_threshold), strict=True):
            a, b = start + int(row), int(col)
            if a < b:
                similarity = float(sims[row, col])
                found.append(
                    Finding(
                        "near_duplicate",
                        "medium",
                        entries[a].id,
                        f"nearly the same as '{entries[b].id}' (similarity {similarity:.2f})",
                        other_id=entries[b].id,
                        detail={"similarity": round(similarity, 3)},
                        strength=similarity,
                    )
                )
    return found


def folds(
    entries: Sequence[FaqEntry], k: int
) -> Iterator[tuple[list[FaqEntry], list[tuple[int, str]]]]:
    """k splits of the phrasings: in each, every entry with two or more distinct phrasings
    lends about 1/k of them and keeps the rest. Which fold a phrasing falls in depends on its
    place in its entry, rotated by a hash of the entry's id (so the canonical questions do not
    all fall in one fold, and the order of the entries changes nothing). Yields the remaining
    entries and the held-out (entry position, phrasing) pairs."""
    k = max(2, k)
    offsets = [zlib.crc32(entry.id.encode()) for entry in entries]
    for fold in range(k):
        kept: list[FaqEntry] = []
        held: list[tuple[int, str]] = []
        for position, entry in enumerate(entries):
            texts = list(dict.fromkeys(entry.all_phrasings))
            out = [t for i, t in enumerate(texts) if (i + offsets[position]) % k == fold]
            if len(texts) < 2 or not out:
                kept.append(entry)
                continue
            rest = [t for t in texts if t not in out]
            kept.append(replace(entry, question=rest[0], phrasings=tuple(rest[1:])))
            held.extend((position, t) for t in out)
        if held:
            yield kept, held


def _confusable(entries: Sequence[FaqEntry], config: LintConfig, scoring: Scoring) -> list[Finding]:
    if scoring.embedder is not None:
        scoring.embedder.encode([p for e in entries for p in e.all_phrasings])  # once for all
    found = []
    for kept, held in folds(entries, config.folds):
        knowledge = KnowledgeBase(
            kept, scoring.thresholds, embedder=scoring.embedder, weights=scoring.weights
        )
        for position, phrasing in held:
            answer = knowledge.ask(phrasing, k=len(kept))
            finding = _outcome(entries[position].id, phrasing, answer, scoring.thresholds)
            if finding is not None and finding.strength >= config.confusion_margin:
                found.append(finding)
    return found


def _outcome(own: str, phrasing: str, answer: Answer, thresholds: Thresholds) -> Finding | None:
    """A finding when the held-out phrasing would be answered with another entry, or offered
    a choice without its own; `strength` is how far the other entry leads."""
    if not answer.matches or answer.decision == Decision.NOT_FOUND:
        return None
    top = answer.matches[0]
    offered = [m.entry.id for m in answer.matches[:CHOICES]]
    own_score = next((m.score for m in answer.matches if m.entry.id == own), None)
    if answer.decision == Decision.ANSWER and top.entry.id != own:
        outcome, severity = "wrong_answer", "high"
        told = f"is answered with '{top.entry.id}' ({top.score:.2f})"
    elif answer.decision == Decision.CLARIFY and own not in offered:
        outcome, severity = "not_offered", "medium"
        told = f"gets a choice of {', '.join(offered)} without its own entry"
    else:
        return None
    # An entry missing from the list scored below every listed one (and, when the answer
    # was a choice, below the clarify threshold): the lead is at least that much.
    floor = min(answer.matches[-1].score, thresholds.clarify)
    lead = top.score - (own_score if own_score is not None else floor)
    own_text = f"{own_score:.2f}" if own_score is not None else f"below {floor:.2f}"
    return Finding(
        "confusable_phrasing",
        severity,
        own,
        f"'{phrasing}', asked on its own, {told}; its own entry scores {own_text}",
        other_id=top.entry.id,
        detail={
            "phrasing": phrasing,
            "outcome": outcome,
            "other_score": round(top.score, 3),
            "own_score": None if own_score is None else round(own_score, 3),
            "lead": round(lead, 3),
            "offered": offered if outcome == "not_offered" else [top.entry.id],
        },
        strength=round(lead, 3),
    )


class CachingEmbedder:
    """An `Embedder` that keeps the vector of every text it encoded (up to `max_texts`, least
    recently used out): lint embeds each phrasing once and builds a knowledge base per fold
    from those vectors; kept between runs, only changed phrasings are embedded again."""

    def __init__(self, embedder: Embedder, max_texts: int = 20_000) -> None:
        self.inner = embedder
        self.max_texts = max_texts
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __len__(self) -> int:
        return len(self._vectors)

    def encode(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = dict(zip(missing, self.inner.encode(missing), strict=True))
            known.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.max_texts:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, self.inner.dimension), dtype=np.float32)
        return np.ascontiguousarray(np.vstack([known[t] for t in texts]), dtype=np.float32)

    def encode_query(self, text: str) -> Vectors:
        return self.encode([text])

    def as_embedder(self) -> Embedder:
        return cast(Embedder, self)
