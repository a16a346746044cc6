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
from .similarity import cosine, mean_rows, vectorise

DEFAULT_PROMISE_WORDS = ("guarantee", "guaranteed", "definitely", "absolutely", "always", "never")
_CHUNK = 256


@dataclass(frozen=True, slots=True)
class LintConfig:
    promise_words: tuple[str, ...] = DEFAULT_PROMISE_WORDS
    max_answer_chars: int = 800
    duplicate_threshold: float = 0.9
    confusion_margin: float = 0.0  # how much closer another entry must be to be reported


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # near_duplicate | confusable_phrasing | empty_answer | long_answer | promise
    entry_id: str
    message: str
    other_id: str | None = None
    detail: dict[str, object] = field(default_factory=dict)


def lint(
    entries: Sequence[FaqEntry], config: LintConfig = LintConfig(), embedder: Embedder | None = None
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
    texts: list[str] = []
    owner: list[int] = []
    for i, e in enumerate(entries):
        for phrasing in e.all_phrasings:
            texts.append(phrasing)
            owner.append(i)
    owners = np.asarray(owner)
    vectors = vectorise(texts, embedder)
    groups = [np.flatnonzero(owners == i).tolist() for i in range(len(entries))]
    found: list[Finding] = []

    prototypes = mean_rows(vectors, groups)
    reported: set[tuple[int, int]] = set()
    for start in range(0, len(entries), _CHUNK):
        sims = cosine(prototypes[start : start + _CHUNK], prototypes)
        for row, col in zip(*np.nonzero(sims >= config.duplicate_threshold), strict=True):
            a, b = start + int(row), int(col)
            if a < b and (a, b) not in reported:
                reported.add((a, b))
                found.append(
                    Finding(
                        "near_duplicate",
                        entries[a].id,
                        f"nearly the same as '{entries[b].id}' "
                        f"(similarity {float(sims[row, col]):.2f})",
                        other_id=entries[b].id,
                        detail={"similarity": round(float(sims[row, col]), 3)},
                    )
                )

    for start in range(0, len(texts), _CHUNK):
        sims = cosine(vectors[start : start + _CHUNK], vectors)
        for row in range(sims.shape[0]):
            i = start + row
            mine = owners == owners[i]
            if mine.sum() < 2:
                continue  # a lone phrasing has nothing of its own to compare with
            scores = sims[row].copy()
            scores[i] = -np.inf
            own = float(scores[mine].max())
            scores[mine] = -np.inf
            other_row = int(scores.argmax())
            other = float(scores[other_row])
            if other > own + config.confusion_margin:
                entry, rival = entries[owners[i]], entries[owners[other_row]]
                found.append(
                    Finding(
                        "confusable_phrasing",
                        entry.id,
                        f"'{texts[i]}' is closer to '{rival.id}' ({other:.2f}: "
                        f"'{texts[other_row]}') than to its own entry ({own:.2f})",
                        other_id=rival.id,
                        detail={
                            "phrasing": texts[i],
                            "own": round(own, 3),
                            "other": round(other, 3),
                        },
                    )
                )
    return found
