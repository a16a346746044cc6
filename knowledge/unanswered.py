"""Unanswered questions grouped by similarity, so content staff see what customers keep asking.

Grouping is greedy and in order of arrival, newest first: a question joins the group whose
centre it is most similar to (at least `threshold`), otherwise it starts a new group. Groups
are listed newest first; each carries its count and the entry retrieval came closest to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .embeddings import Embedder
from .models import UnansweredQuestion
from .repository import same_question_key
from .similarity import cosine, vectorise

DEFAULT_GROUP_THRESHOLD = 0.7  # embeddings; TF-IDF cosines run lower
LEXICAL_GROUP_THRESHOLD = 0.35


@dataclass(frozen=True, slots=True)
class QuestionGroup:
    questions: tuple[UnansweredQuestion, ...]  # newest first

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def newest(self) -> datetime:
        return self.questions[0].asked_at

    @property
    def ids(self) -> list[int]:
        return [q.id for q in self.questions if q.id is not None]

    @property
    def label(self) -> str:
        """The most frequent wording (the newest among equals)."""
        keys = [same_question_key(q.question) for q in self.questions]
        counts = Counter(keys)
        top = max(counts.values())
        return next(
            q.question for q, k in zip(self.questions, keys, strict=True) if counts[k] == top
        )

    @property
    def nearest_entry(self) -> str | None:
        """The entry retrieval most often came closest to, if any."""
        counts = Counter(q.best_entry for q in self.questions if q.best_entry)
        return counts.most_common(1)[0][0] if counts else None

    @property
    def distinct_questions(self) -> list[str]:
        seen: dict[str, str] = {}
        for q in self.questions:
            seen.setdefault(same_question_key(q.question), q.question)
        return list(seen.values())


def group_questions(
    questions: Sequence[UnansweredQuestion],
    embedder: Embedder | None = None,
    threshold: float | None = None,
) -> list[QuestionGroup]:
    if not questions:
        return []
    if threshold is None:
        threshold = DEFAULT_GROUP_THRESHOLD if embedder else LEXICAL_GROUP_THRESHOLD
    ordered = sorted(questions, key=lambda q: (q.asked_at, q.id or 0), reverse=True)
    vectors = vectorise([q.question for q in ordered], embedder)
    sims = cosine(vectors, vectors)
    assigned = np.zeros(len(ordered), dtype=np.int64)
    sizes: list[int] = []
    for i in range(len(ordered)):
        if sizes:
            # Average link: similar to the group as a whole, not to one outlier in it.
            totals = np.bincount(assigned[:i], weights=sims[i, :i], minlength=len(sizes))
            means = totals / np.asarray(sizes)
            best = int(means.argmax())
            if means[best] >= threshold:
                assigned[i] = best
                sizes[best] += 1
                continue
        assigned[i] = len(sizes)
        sizes.append(1)
    members = [np.flatnonzero(assigned == g).tolist() for g in range(len(sizes))]
    groups = [QuestionGroup(tuple(ordered[i] for i in group)) for group in members]
    return sorted(groups, key=lambda g: (g.newest, g.count), reverse=True)
