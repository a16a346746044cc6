"""Semantic retrieval: each entry is scored from several signals, not only its nearest phrasing.

    score(entry) = w_best * max cosine(question, phrasing of the entry)
                 + w_prototype * cosine(question, mean of the entry's phrasing vectors)
                 + w_lexical * TF-IDF cosine of the best matching phrasing
                 + w_classifier * P(entry | question) from a logistic regression

The best phrasing catches near-verbatim questions; the prototype smooths over one odd
phrasing (and rewards entries many phrasings agree on); the lexical part rewards rare exact
terms (product names, "PIN", "SEPA") that small embedding models blur; the classifier
(`knowledge.classifier`) learns which directions of the embedding separate entries. The
weights are tuned on held-out phrasings (`knowledge.calibration`), and sum to 1 so scores
stay on the scale the thresholds are expressed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classifier import EntryClassifier
from .content import FaqEntry
from .embeddings import Embedder, Vectors, normalise
from .index import DEFAULT_PARAMS, IndexParams, Row, VectorIndex
from .retrieval import LexicalIndex, Match


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """Defaults: `python -m knowledge calibrate --data training_data/faq/seed.yml` (the
    settings FAQ_WEIGHT_* hold the same values)."""

    best: float = 0.0
    prototype: float = 0.45
    lexical: float = 0.0
    classifier: float = 0.55
    candidates: int = 64  # phrasing neighbours read from the index per question
    terms: float = 0.0  # the classifier's word features, scaled (0: embedding only)

    def normalised(self) -> ScoringWeights:
        total = self.best + self.prototype + self.lexical + self.classifier
        if min(self.best, self.prototype, self.lexical, self.classifier) < 0 or total <= 0:
            raise ValueError("scoring weights must be positive or zero, not all zero")
        return ScoringWeights(
            self.best / total,
            self.prototype / total,
            self.lexical / total,
            self.classifier / total,
            self.candidates,
            self.terms,
        )


DEFAULT_WEIGHTS = ScoringWeights()


def prototypes(vectors: Vectors, owners: Sequence[int], n_entries: int) -> Vectors:
    """Normalised mean vector of each entry's phrasings (row i belongs to entry owners[i])."""
    sums = np.zeros((n_entries, vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, np.asarray(owners), vectors)
    return normalise(sums)


def content_fingerprint(entries: Sequence[FaqEntry], model: str) -> str:
    digest = hashlib.sha256(model.encode())
    for entry in entries:
        digest.update(json.dumps([entry.id, entry.all_phrasings]).encode())
    return digest.hexdigest()


class SemanticRetriever:
    """Immutable after construction; `search` is safe from many threads."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        embedder: Embedder,
        weights: ScoringWeights = DEFAULT_WEIGHTS,
        *,
        vectors: Vectors | None = None,
        index: VectorIndex | None = None,
        params: IndexParams = DEFAULT_PARAMS,
    ) -> None:
        self.entries = tuple(entries)
        self.embedder = embedder
        self.weights = weights.normalised()
        self._position = {e.id: i for i, e in enumerate(self.entries)}
        rows = [Row(e.id, p) for e in self.entries for p in e.all_phrasings]
        if vectors is None:
            vectors = embedder.encode([r.phrasing for r in rows])
        owners = [self._position[r.entry_id] for r in rows]
        self.index = index if index is not None else VectorIndex.build(vectors, rows, params)
        self._row_owner = np.asarray(owners, dtype=np.int64)
        self._prototypes = prototypes(vectors, owners, len(self.entries))
        self._lexical = LexicalIndex(list(self.entries)) if self.weights.lexical > 0 else None
        self.classifier = (
            EntryClassifier(
                vectors,
                owners,
                len(self.entries),
                texts=[r.phrasing for r in rows],
                terms=self.weights.terms,
            )
            if self.weights.classifier > 0
            else None
        )
        self.fingerprint = content_fingerprint(self.entries, embedder.identity)

    @classmethod
    def cached(
        cls,
        entries: Sequence[FaqEntry],
        embedder: Embedder,
        weights: ScoringWeights,
        index_dir: Path,
        params: IndexParams = DEFAULT_PARAMS,
    ) -> SemanticRetriever:
        """Reuse the index under `index_dir` when it was built from the same content and model;
        otherwise build one and publish it there (atomically)."""
        fingerprint = content_fingerprint(entries, embedder.identity)
        try:
            saved = VectorIndex.load(index_dir)
        except (OSError, ValueError, RuntimeError):
            saved = None
        if saved is not None and saved.meta.get("fingerprint") == fingerprint:
            return cls(
                entries, embedder, weights, vectors=saved.vectors(), index=saved, params=params
            )
        retriever = cls(entries, embedder, weights, params=params)
        retriever.index.save(index_dir, meta={"fingerprint": fingerprint})
        return retriever

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, question: str, k: int = 3) -> list[Match]:
        if not question.strip() or not self.entries:
            return []
        query = self.embedder.encode_query(question)
        return self.rank(query[0], question)[:k]

    def rank(self, query: Vectors, question: str) -> list[Match]:
        """All candidate entries for one question vector, best first."""
        w = self.weights
        scores, rows = self.index.search(query[None, :], w.candidates)
        best: dict[int, tuple[float, str]] = {}
        for score, row in zip(scores[0], rows[0], strict=True):
            if row < 0:
                continue
            owner = int(self._row_owner[row])
            if owner not in best:  # results are sorted: the first hit is the entry's best
                best[owner] = (float(score), self.index.rows[row].phrasing)
        floor = float(scores[0][rows[0] >= 0].min()) if len(best) else 0.0
        proto = self._prototypes @ query
        candidates = set(best)
        top_proto = np.argsort(-proto)[: max(1, min(len(proto), w.candidates // 4))]
        candidates.update(int(i) for i in top_proto)
        lexical = self._lexical.entry_scores(question) if self._lexical else {}
        if self.classifier is not None:
            probability = self.classifier.probabilities(query[None, :], [question])[0]
            candidates.update(int(i) for i in np.argsort(-probability)[:4])
        else:
            probability = np.zeros(len(self.entries), dtype=np.float32)
        matches = []
        for position in candidates:
            entry = self.entries[position]
            nearest, phrasing = best.get(position, (floor, entry.question))
            lex = lexical.get(entry.id, (0.0, ""))[0]
            score = w.best * max(nearest, 0.0) + w.prototype * max(float(proto[position]), 0.0)
            score += w.lexical * lex + w.classifier * float(probability[position])
            matches.append(Match(entry, round(score, 4), phrasing))
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches
