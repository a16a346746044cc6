"""Content checks before customers see an entry.

- near-duplicate entries (their phrasings, averaged, say nearly the same thing);
- a phrasing closer to another entry than to the rest of its own entry (the bot would
  answer it with the other entry);
- empty or overlong answers;
- absolute promises support teams avoid ("guarantee", "always", ...: a configurable list).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .content import FaqEntry
from .embeddings import Embedder
from .similarity import unit_rows, vectorise

DEFAULT_PROMISE_WORDS = ("guarantee", "guaranteed", "definitely", "absolutely", "always", "never")
_CHUNK = 256


@dataclass(frozen=True, slots=True)
class LintConfig:
    promise_words: tuple[str, ...] = DEFAULT_PROMISE_WORDS
    max_answer_chars: int = 800
    duplicate_threshold: float = 0.9
    confusion_margin: float = 0.02  # how much better another entry must match to be reported


DEFAULT_CONFIG = LintConfig()


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # near_duplicate | confusable_phrasing | empty_answer | long_answer | promise
    entry_id: str
    message: str
    other_id: str | None = None
    detail: dict[str, object] = field(default_factory=dict)


def lint(
    entries: Sequence[FaqEntry],
    config: LintConfig = DEFAULT_CONFIG,
    embedder: Embedder | None = None,
) -> list[Finding]:
    findings = [*_answers(entries, config), *_promises(entries, config)]
    if len(entries) > 1:
        findings += _similarity(entries, config, embedder)
    return findings


def _answers(entries: Sequence[FaqEntry], config: LintConfig) -> list[Finding]:
    found = []
    for e in entries:
        if not e.answer.strip():
            found.append(Finding("empty_answer", e.id, "the answer is empty"))
        elif len(e.answer) > config.max_answer_chars:
            found.append(
                Finding(
                    "long_answer",
                    e.id,
                    f"the answer has {len(e.answer)} characters "
                    f"(more than {config.max_answer_chars})",
                    detail={"chars": len(e.answer)},
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
                    e.id,
                    f"the answer makes an absolute promise: {', '.join(hits)}",
                    detail={"words": hits},
                )
            )
    return found


def _similarity(
    entries: Sequence[FaqEntry], config: LintConfig, embedder: Embedder | None
) -> list[Finding]:
    texts = [p for e in entries for p in e.all_phrasings]
    owners = np.repeat(np.arange(len(entries)), [len(e.all_phrasings) for e in entries])
    starts = np.concatenate([[0], np.cumsum([len(e.all_phrasings) for e in entries])[:-1]])
    vectors = vectorise(texts, embedder)
    sums = np.zeros((len(entries), vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, owners, vectors)
    prototypes = unit_rows(sums)
    return [
        *_near_duplicates(entries, prototypes, config),
        *_confusable(entries, texts, vectors, owners, starts, sums, prototypes, config),
    ]


def _near_duplicates(
    entries: Sequence[FaqEntry], prototypes: np.ndarray, config: LintConfig
) -> list[Finding]:
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
                        entries[a].id,
                        f"nearly the same as '{entries[b].id}' (similarity {similarity:.2f})",
                        other_id=entries[b].id,
                        detail={"similarity": round(similarity, 3)},
                    )
                )
    return found


def _confusable(
    entries: Sequence[FaqEntry],
    texts: list[str],
    vectors: np.ndarray,
    owners: np.ndarray,
    starts: np.ndarray,
    sums: np.ndarray,
    prototypes: np.ndarray,
    config: LintConfig,
) -> list[Finding]:
    """Each phrasing, left out of its own entry, scored against every entry the way retrieval
    scores a question: half its nearest phrasing, half the entry's mean vector."""
    found = []
    for start in range(0, len(texts), _CHUNK):
        chunk = vectors[start : start + _CHUNK]
        sims = chunk @ vectors.T
        proto = chunk @ prototypes.T
        for row in range(len(chunk)):
            i = start + row
            own = int(owners[i])
            if len(entries[own].all_phrasings) < 2:
                continue  # a lone question has nothing of its own to compare with
            sims[row, i] = -np.inf
            nearest = np.maximum.reduceat(sims[row], starts)
            rest = sums[own] - vectors[i]
            own_proto = float(rest @ vectors[i]) / max(float(np.linalg.norm(rest)), 1e-12)
            scores = 0.5 * nearest + 0.5 * proto[row]
            mine = 0.5 * float(nearest[own]) + 0.5 * own_proto
            scores[own] = -np.inf
            rival = int(scores.argmax())
            if scores[rival] > mine + config.confusion_margin:
                other = float(scores[rival])
                found.append(
                    Finding(
                        "confusable_phrasing",
                        entries[own].id,
                        f"'{texts[i]}' matches '{entries[rival].id}' ({other:.2f}) better than "
                        f"its own entry ({mine:.2f})",
                        other_id=entries[rival].id,
                        detail={
                            "phrasing": texts[i],
                            "own": round(mine, 3),
                            "other": round(other, 3),
                        },
                    )
                )
    return found
