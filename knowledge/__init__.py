"""FAQ content and retrieval: what the bot answers customers' questions from."""

from .base import KnowledgeBase
from .content import ContentError, FaqEntry, Link, QuickReply, load_entries
from .retrieval import Answer, Decision, Match, Thresholds

__all__ = [
    "Answer",
    "ContentError",
    "Decision",
    "FaqEntry",
    "KnowledgeBase",
    "Link",
    "Match",
    "QuickReply",
    "Thresholds",
    "load_entries",
]
