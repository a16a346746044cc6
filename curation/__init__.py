"""Tools for content staff: the knowledge admin pages (entries, history, unanswered questions,
lint, import and export)."""

from .common import CurationConfig
from .web import setup_curation

__all__ = ["CurationConfig", "setup_curation"]
