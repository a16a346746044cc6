"""FAQ content and retrieval: what the bot answers customers' questions from."""

from . import repository
from .base import KnowledgeBase
from .content import ContentError, FaqEntry, Link, QuickReply, load_entries
from .embeddings import Embedder, default_model_path, shared_embedder
from .index import IndexParams, Row, VectorIndex
from .live import LiveContent
from .retrieval import Answer, BM25Index, Decision, LexicalIndex, Match, Thresholds
from .semantic import ScoringWeights, SemanticRetriever

__all__ = [
    "Answer",
    "BM25Index",
    "ContentError",
    "Decision",
    "Embedder",
    "FaqEntry",
    "IndexParams",
    "KnowledgeBase",
    "LexicalIndex",
    "Link",
    "LiveContent",
    "Match",
    "QuickReply",
    "Row",
    "ScoringWeights",
    "SemanticRetriever",
    "Thresholds",
    "VectorIndex",
    "default_model_path",
    "load_entries",
    "repository",
    "shared_embedder",
]
