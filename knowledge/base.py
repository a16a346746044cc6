"""The knowledge base the bot asks: entries, an index over their phrasings, a decision."""

from __future__ import annotations

from pathlib import Path

from .content import FaqEntry, load_entries
from .retrieval import Answer, Decision, LexicalIndex, Thresholds, decide


class KnowledgeBase:
    def __init__(self, entries: list[FaqEntry], thresholds: Thresholds) -> None:
        self._entries = {e.id: e for e in entries}
        self._index = LexicalIndex(entries)
        self.thresholds = thresholds

    @classmethod
    def from_file(cls, path: Path, thresholds: Thresholds) -> KnowledgeBase:
        return cls(load_entries(path), thresholds)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._entries.get(entry_id)

    def ask(self, question: str, k: int = 3) -> Answer:
        matches = self._index.search(question, k)
        decision = decide(matches, self.thresholds)
        if decision == Decision.CLARIFY:
            matches = [m for m in matches if m.score >= self.thresholds.clarify]
        return Answer(decision, tuple(matches))
