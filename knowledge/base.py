"""The knowledge base the bot asks: entries, an index over their phrasings, a decision.

With an `Embedder` the entries are scored semantically (`SemanticRetriever`: FAISS over
phrasing vectors, entry prototypes and a lexical term); without one, by TF-IDF alone.
Content is swapped by `publish`: the new entries and index are built aside, then replace
the old ones in one reference assignment, so a question in flight sees one version whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .content import FaqEntry, load_entries
from .embeddings import Embedder
from .index import DEFAULT_PARAMS, IndexParams
from .retrieval import Answer, Decision, LexicalIndex, Match, Thresholds, decide
from .semantic import DEFAULT_WEIGHTS, ScoringWeights, SemanticRetriever


class Retriever(Protocol):
    def search(self, question: str, k: int = 3) -> list[Match]: ...


@dataclass(frozen=True, slots=True)
class _Published:
    entries: dict[str, FaqEntry]
    retriever: Retriever
    version: int


class KnowledgeBase:
    def __init__(
        self,
        entries: list[FaqEntry],
        thresholds: Thresholds,
        *,
        embedder: Embedder | None = None,
        weights: ScoringWeights = DEFAULT_WEIGHTS,
        index_dir: Path | None = None,
        index_params: IndexParams = DEFAULT_PARAMS,
    ) -> None:
        self.thresholds = thresholds
        self.embedder = embedder
        self.weights = weights
        self.index_dir = index_dir
        self.index_params = index_params
        self._published = self._build(entries, version=1)

    @classmethod
    def from_file(
        cls,
        path: Path,
        thresholds: Thresholds,
        *,
        embedder: Embedder | None = None,
        weights: ScoringWeights = DEFAULT_WEIGHTS,
        index_dir: Path | None = None,
    ) -> KnowledgeBase:
        return cls(
            load_entries(path), thresholds, embedder=embedder, weights=weights, index_dir=index_dir
        )

    def _build(self, entries: list[FaqEntry], version: int) -> _Published:
        retriever: Retriever
        if self.embedder is None or not entries:
            retriever = LexicalIndex(entries)
        elif self.index_dir is not None:
            retriever = SemanticRetriever.cached(
                entries, self.embedder, self.weights, self.index_dir, self.index_params
            )
        else:
            retriever = SemanticRetriever(
                entries, self.embedder, self.weights, params=self.index_params
            )
        return _Published({e.id: e for e in entries}, retriever, version)

    def publish(self, entries: list[FaqEntry]) -> int:
        """Replace the content; returns the new content version."""
        self._published = self._build(entries, self._published.version + 1)
        return self._published.version

    @property
    def version(self) -> int:
        return self._published.version

    @property
    def semantic(self) -> bool:
        return isinstance(self._published.retriever, SemanticRetriever)

    def __len__(self) -> int:
        return len(self._published.entries)

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._published.entries.get(entry_id)

    def ask(self, question: str, k: int = 3) -> Answer:
        published = self._published  # one version for the whole question
        matches = published.retriever.search(question, k)
        decision = decide(matches, self.thresholds)
        if decision == Decision.CLARIFY:
            matches = [m for m in matches if m.score >= self.thresholds.clarify]
        return Answer(decision, tuple(matches))
