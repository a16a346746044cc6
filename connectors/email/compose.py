"""A neutral reply → a proper email answer in the customer's thread."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from ..base import ChannelAdapter
from ..envelope import OutboundMessage, utcnow
from .parsing import MAX_REFERENCES, MSGID_PATTERN

DEFAULT_SUBJECT = "Your message"


def reply_subject(subject: str | None) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        return f"Re: {DEFAULT_SUBJECT}"
    if subject.lower().startswith("re:"):
        return subject
    return f"Re: {subject}"


def reply_message_id(outbox_id: int | None, domain: str, fallback: str) -> str:
    """Stable per stored reply, so a resend after a crash carries the same Message-ID and
    the customer's mail program shows it once."""
    local = f"switchboard.{outbox_id}" if outbox_id is not None else f"switchboard.{fallback}"
    return f"<{local}@{domain}>"


def compose_reply(
    *,
    sender: str,
    sender_name: str,
    to: str,
    thread: Mapping[str, Any],
    message: OutboundMessage,
    message_id: str,
) -> EmailMessage:
    """`thread` is the metadata of the customer's latest mail (`ParsedEmail.thread_metadata`)."""
    mail = EmailMessage()
    mail["From"] = formataddr((sender_name, sender)) if sender_name else sender
    mail["To"] = to
    mail["Subject"] = reply_subject(_str(thread.get("subject")))
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = message_id
    parent = _msgid(thread.get("message_id"))
    if parent is not None:
        references = [r for r in thread.get("references") or [] if _msgid(r) is not None]
        mail["In-Reply-To"] = parent
        mail["References"] = " ".join([*references, parent][-MAX_REFERENCES:])
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(ChannelAdapter.render_text(message) + "\n", charset="utf-8")
    return mail


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _msgid(value: object) -> str | None:
    return value if isinstance(value, str) and MSGID_PATTERN.fullmatch(value) else None
