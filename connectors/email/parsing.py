"""Raw RFC 5322 mail → what the bot reads: sender, thread headers, the new text only.

Pure and I/O-free. The raw message is not kept: the envelope carries the new text, the
thread headers (in `metadata`) and each attachment's name, type and size. The original
stays in the mailbox it came from (IMAP) or with the sending server (SMTP).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

import lxml.html
from inscriptis import get_text
from lxml import etree

from ..envelope import Attachment
from ..errors import PayloadError

MSGID_PATTERN = re.compile(r"<[^<>\s]{1,250}>")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,253}$")
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|auto:|out of (the )?office|"
    r"vacation|away from|abwesenheit|r[ée]ponse automatique|undeliver|"
    r"delivery status notification|mail delivery (failed|subsystem))",
    re.IGNORECASE,
)
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
# Where quoted history starts, as the common mail programs write it.
_QUOTE_STARTS = (
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb.{0,80}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(Original|Forwarded) Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),
)
_OUTLOOK_FROM = re.compile(r"^\s*\*?From:\*?\s.+$", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(Sent|Date|To):\*?\s", re.IGNORECASE)
# Where a signature starts: RFC 3676's "-- " line and the mobile clients' footers.
_SIGNATURE_STARTS = (
    re.compile(r"^-- ?$"),
    re.compile(r"^\s*(Sent from my|Sent from Mail for|Get Outlook for)\b", re.IGNORECASE),
)
_HTML_QUOTES = (
    "//blockquote",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_signature ')]",
    "//*[@id='divRplyFwdMsg']",
    "//*[@id='appendonsend']",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' moz-signature ')]",
)
MAX_REFERENCES = 20


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str
    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    subject: str
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str
    truncated: bool
    attachments: tuple[Attachment, ...]
    automated: str | None  # why the mail must never be answered, or None

    @property
    def dedupe_key(self) -> str:
        """Sender and Message-ID: the same mail seen through SMTP and IMAP is stored once,
        and nobody can suppress another sender's mail by reusing its Message-ID."""
        key = f"{self.sender} {self.message_id}"
        if len(key) > 250:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return key

    def thread_metadata(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "subject": self.subject,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "sender_name": self.sender_name,
            "truncated": self.truncated,
        }


def parse_email(
    raw: bytes, *, max_text_chars: int, envelope_sender: str | None = None
) -> ParsedEmail:
    """Parse one message. `envelope_sender` is SMTP's MAIL FROM ("" for the null sender).

    Raises `PayloadError` when the mail has no usable sender or no text at all.
    """
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the parser is lenient; this is a last resort
        raise PayloadError(f"unreadable message: {exc}") from exc
    assert isinstance(msg, EmailMessage)
    sender_name, sender = _sender(msg)
    subject = _clean_header(_header(msg, "Subject"))[:500]
    message_id = _first_msgid(_header(msg, "Message-ID"))
    if message_id is None:
        message_id = "<sha256." + hashlib.sha256(raw).hexdigest() + "@switchboard.invalid>"
    in_reply_to = _first_msgid(_header(msg, "In-Reply-To"))
    references = tuple(MSGID_PATTERN.findall(_header(msg, "References")))[-MAX_REFERENCES:]
    recipients = tuple(
        addr.lower()
        for _, addr in getaddresses([_header(msg, "To"), _header(msg, "Cc")])
        if _ADDRESS.match(addr)
    )
    automated = _automated(msg, sender, subject, envelope_sender)
    body, attachments = _body_and_attachments(msg)
    text = strip_reply(body)
    if not text:
        text = subject.strip()
    if not text:
        raise PayloadError("the message has no text", code="empty")
    truncated = len(text) > max_text_chars
    return ParsedEmail(
        message_id=message_id,
        sender=sender,
        sender_name=sender_name,
        recipients=recipients,
        subject=subject,
        in_reply_to=in_reply_to,
        references=references,
        text=text[:max_text_chars],
        truncated=truncated,
        attachments=attachments,
        automated=automated,
    )


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse
        value = msg.get_all(name, failobj=[None])[0] if hasattr(msg, "get_all") else None
    return "" if value is None else str(value)


def _clean_header(value: str) -> str:
    return " ".join(value.replace("\x00", "").split())


def _first_msgid(value: str) -> str | None:
    found = MSGID_PATTERN.search(value)
    return found.group(0) if found else None


def _sender(msg: EmailMessage) -> tuple[str, str]:
    raw_from = _header(msg, "From")
    try:
        addresses: tuple[Address, ...] = msg["From"].addresses if msg["From"] else ()
    except Exception:
        addresses = ()
    if len(addresses) > 1:
        raise PayloadError("the message has more than one From address", code="invalid_sender")
    if addresses and addresses[0].addr_spec:
        name, addr = addresses[0].display_name, addresses[0].addr_spec
    else:
        name, addr = parseaddr(raw_from)
    addr = addr.strip().lower()
    if not _ADDRESS.match(addr):
        raise PayloadError("the message has no valid From address", code="invalid_sender")
    return _clean_header(name)[:200], addr


def _automated(
    msg: EmailMessage, sender: str, subject: str, envelope_sender: str | None
) -> str | None:
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return "bounce: null sender"
    if _header(msg, "Return-Path").strip() == "<>":
        return "bounce: null sender"
    if msg.get_content_type() == "multipart/report":
        return "bounce: delivery report"
    if _BOUNCE_SENDERS.match(sender):
        return "bounce: mailer daemon"
    auto_submitted = _header(msg, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"auto-submitted: {auto_submitted[:40]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _header(msg, name):
            return f"auto-reply: {name}"
    if _header(msg, "Precedence").strip().lower() in _BULK_PRECEDENCE:
        return "precedence: " + _header(msg, "Precedence").strip().lower()
    if _header(msg, "List-Id") or _header(msg, "List-Unsubscribe"):
        return "mailing list"
    if _AUTO_SUBJECT.match(subject):
        return "auto-reply subject"
    return None


def _decoded(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError, ValueError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _body_and_attachments(msg: EmailMessage) -> tuple[str, tuple[Attachment, ...]]:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        if disposition == "attachment" or ctype not in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            attachments.append(
                Attachment(
                    kind=_kind(ctype),
                    name=_clean_header(part.get_filename() or "")[:255] or None,
                    mime_type=ctype[:100],
                    size=len(payload) if isinstance(payload, bytes) else None,
                )
            )
        elif ctype == "text/plain" and plain is None:
            plain = _decoded(part)
        elif ctype == "text/html" and html is None:
            html = _decoded(part)
    if plain is not None and plain.strip():
        return plain, tuple(attachments)
    if html is not None:
        return html_to_text(html), tuple(attachments)
    return "", tuple(attachments)


def _kind(ctype: str) -> str:
    major = ctype.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major
    return "document" if major in ("application", "text") else "file"


def html_to_text(html: str) -> str:
    """Visible text of an HTML mail, without the quoted history and signature blocks."""
    if not html.strip():
        return ""
    try:
        tree = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return ""
    for path in _HTML_QUOTES:
        for node in tree.xpath(path):
            if node.getparent() is not None:
                node.drop_tree()
    for node in tree.xpath("//script|//style|//head"):
        if node.getparent() is not None:
            node.drop_tree()
    return get_text(lxml.html.tostring(tree, encoding="unicode"))


def strip_reply(text: str) -> str:
    """The new part of a reply: everything before the quoted history and the signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith(">"):
            break
        joined = line + " " + lines[i + 1] if i + 1 < len(lines) else line
        if any(p.match(line) for p in _QUOTE_STARTS) or (
            line.strip().lower().startswith("on ") and _QUOTE_STARTS[0].match(joined)
        ):
            break
        if _OUTLOOK_FROM.match(line) and i + 1 < len(lines) and _OUTLOOK_NEXT.match(lines[i + 1]):
            break
        if any(p.match(line) for p in _SIGNATURE_STARTS):
            break
        kept.append(line.rstrip())
    return "\n".join(kept).strip()
