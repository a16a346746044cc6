"""The email channel: mail in by IMAP and by direct SMTP delivery, replies out by SMTP.

The customer's address is their email address (lower-cased), so every mail from them,
whatever its subject, joins their open conversation; the thread headers of their latest
mail (Message-ID, References, Subject) are kept with it, and each reply is threaded on
them. Automated mail (auto-replies, bounces, mailing lists) is recognised and dropped
before it is stored, so the bot never answers it and two auto-responders cannot loop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
import aiosmtplib
import structlog
from aiohttp import web

from ..base import ChannelAdapter, GatewayPort
from ..envelope import InboundMessage, OutboundMessage
from ..errors import PayloadError, PermanentDeliveryError, RetryableDeliveryError
from .compose import compose_reply, reply_message_id
from .imap_fetcher import ImapConfig, ImapFetcher
from .ingest import Ingested
from .parsing import ParsedEmail, parse_email
from .smtp_listener import SmtpListener

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SmtpRelay:
    host: str
    port: int
    user: str = ""
    password: str = ""
    tls: str = "starttls"  # starttls | ssl | none
    timeout_s: float = 30.0


class EmailAdapter(ChannelAdapter):
    name = "email"

    def __init__(
        self,
        *,
        from_address: str,
        from_name: str = "",
        relay: SmtpRelay | None = None,
        imap: ImapConfig | None = None,
        listen_host: str = "127.0.0.1",
        listen_port: int | None = None,
        allowed_domains: frozenset[str] = frozenset(),
        max_bytes: int = 10 * 1024 * 1024,
        max_text_chars: int = 4000,
    ) -> None:
        if "@" not in from_address:
            raise ValueError("the email channel needs EMAIL_FROM (the address replies come from)")
        self.from_address = from_address
        self.from_name = from_name
        self.domain = from_address.rpartition("@")[2].lower()
        self.relay = relay
        self.max_bytes = max_bytes
        self.max_text_chars = max_text_chars
        self._port: GatewayPort | None = None
        self.listener = (
            SmtpListener(
                self.ingest,
                host=listen_host,
                port=listen_port,
                allowed_domains=allowed_domains or frozenset({self.domain}),
                max_bytes=max_bytes,
                hostname=self.domain,
            )
            if listen_port is not None
            else None
        )
        self.fetcher = ImapFetcher(imap, self.ingest) if imap is not None else None

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        relay = None
        if settings.email_smtp_host:
            relay = SmtpRelay(
                host=settings.email_smtp_host,
                port=settings.email_smtp_port,
                user=settings.email_smtp_user,
                password=settings.email_smtp_password,
                tls=settings.email_smtp_tls,
                timeout_s=settings.email_smtp_timeout_s,
            )
        imap = None
        if settings.email_imap_host:
            imap = ImapConfig(
                host=settings.email_imap_host,
                port=settings.email_imap_port,
                user=settings.email_imap_user,
                password=settings.email_imap_password,
                folder=settings.email_imap_folder,
                tls=settings.email_imap_tls,
                poll_interval_s=settings.email_imap_poll_s,
                use_idle=settings.email_imap_idle,
                max_bytes=settings.email_max_bytes,
            )
        return cls(
            from_address=settings.email_from,
            from_name=settings.email_from_name,
            relay=relay,
            imap=imap,
            listen_host=settings.email_listen_host,
            listen_port=settings.email_listen_port,
            allowed_domains=frozenset(settings.email_allowed_domains),
            max_bytes=settings.email_max_bytes,
            max_text_chars=settings.max_text_chars,
        )

    def mount(self, app: web.Application, port: GatewayPort) -> None:
        """Mail arrives over SMTP and IMAP, not HTTP: no routes, only the port to store through."""
        self._port = port

    async def start(self, http: aiohttp.ClientSession) -> None:
        if self.listener is not None:
            await self.listener.start()
        if self.fetcher is not None:
            self.fetcher.start()

    async def close(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.close()
        if self.listener is not None:
            await self.listener.close()

    def to_inbound(self, parsed: ParsedEmail) -> InboundMessage:
        """The sender's address is vouched for as far as the mail server in front of the
        gateway checks SPF, DKIM and DMARC (it links customers across channels;
        `CUSTOMER_LINK_BY` without `email` turns that off)."""
        metadata = parsed.thread_metadata()
        if parsed.sender_name:
            metadata["display_name"] = parsed.sender_name[:200]
        return InboundMessage(
            channel=self.name,
            channel_message_id=parsed.dedupe_key,
            address=parsed.sender,
            text=parsed.text,
            attachments=parsed.attachments,
            metadata=metadata,
            verified={"email": parsed.sender},
        )

    async def ingest(self, raw: bytes, envelope_sender: str | None) -> Ingested:
        """Parse one raw mail and store it; automated and malformed mail is not stored."""
        if len(raw) > self.max_bytes:
            return Ingested(rejected=f"larger than {self.max_bytes} bytes")
        try:
            parsed = parse_email(
                raw, max_text_chars=self.max_text_chars, envelope_sender=envelope_sender
            )
        except PayloadError as exc:
            log.info("email.rejected", detail=exc.detail)
            return Ingested(rejected=exc.detail)
        except (RecursionError, ValueError, LookupError, TypeError, IndexError) as exc:
            # Hostile structure the standard library's parser trips over: rejected, never
            # answered 4xx (which would make the sender retry forever).
            log.warning("email.unparseable", error=type(exc).__name__)
            return Ingested(rejected="the message cannot be parsed")
        automated = parsed.automated
        if automated is None and parsed.sender == self.from_address.lower():
            automated = "sent from the channel's own address"
        if automated is not None:
            log.info("email.automated_ignored", sender=parsed.sender, reason=automated)
            return Ingested(ignored=automated)
        if self._port is None:
            raise RuntimeError("the email channel is not mounted")
        accepted = await self._port.accept(self.to_inbound(parsed))
        return Ingested(message_id=accepted.message_id, duplicate=accepted.duplicate)

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        if self.relay is None:
            raise PermanentDeliveryError("no SMTP relay configured (EMAIL_SMTP_HOST)")
        if self._port is None:
            raise RuntimeError("the email channel is not mounted")
        thread = await self._port.latest_inbound_metadata(self.name, address)
        message_id = reply_message_id(message.message_id, self.domain, uuid.uuid4().hex)
        mail = compose_reply(
            sender=self.from_address,
            sender_name=self.from_name,
            to=address,
            thread=thread,
            message=message,
            message_id=message_id,
        )
        relay = self.relay
        try:
            await aiosmtplib.send(
                mail,
                hostname=relay.host,
                port=relay.port,
                username=relay.user or None,
                password=relay.password or None,
                use_tls=relay.tls == "ssl",
                start_tls=True if relay.tls == "starttls" else False,
                timeout=relay.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentDeliveryError(f"recipient refused: {exc}") from exc
            raise RetryableDeliveryError(f"recipient deferred: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(f"relay refused: {exc.code} {exc.message}") from exc
            raise RetryableDeliveryError(f"relay deferred: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise RetryableDeliveryError(f"relay unreachable: {exc}") from exc
        return message_id
