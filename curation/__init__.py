"""Tools for content staff: the knowledge admin pages (entries, history, unanswered questions)."""

from .web import CurationConfig, setup_curation

__all__ = ["CurationConfig", "setup_curation"]
