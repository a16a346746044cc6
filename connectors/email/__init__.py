"""The email channel (IMAP and SMTP in, SMTP out)."""

from .adapter import EmailAdapter, SmtpRelay
from .imap_fetcher import ImapConfig, ImapFetcher
from .parsing import ParsedEmail, html_to_text, parse_email, strip_reply

__all__ = [
    "EmailAdapter",
    "ImapConfig",
    "ImapFetcher",
    "ParsedEmail",
    "SmtpRelay",
    "html_to_text",
    "parse_email",
    "strip_reply",
]
