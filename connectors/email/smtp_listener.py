"""Direct delivery: an SMTP listener (aiosmtpd) on the gateway's event loop.

Only recipients in the allowed domains are accepted (never an open relay); a message over
the size limit is refused with 552 before it is read; a message is answered 250 only once
it is stored, and 451 (try again later) when storing failed, so the sender retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from .ingest import Ingested

log = structlog.get_logger(__name__)

Ingest = Callable[[bytes, str | None], Awaitable[Ingested]]


class DeliveryHandler:
    def __init__(self, ingest: Ingest, allowed_domains: frozenset[str]) -> None:
        self._ingest = ingest
        self._allowed_domains = allowed_domains

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain not in self._allowed_domains:
            return "550 5.7.1 relaying denied: this server only accepts mail for its own domains"
        if len(envelope.rcpt_tos) >= 20:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            result = await self._ingest(raw, envelope.mail_from)
        except Exception:
            log.exception("email.smtp_store_failed", peer=str(session.peer))
            return "451 4.3.0 temporary failure storing the message, try again later"
        if result.rejected is not None:
            return f"554 5.6.0 message rejected: {result.rejected}"
        if result.ignored is not None:
            return "250 2.0.0 OK (automated message, not answered)"
        return f"250 2.0.0 OK stored as {result.message_id}"


class SmtpListener:
    def __init__(
        self,
        ingest: Ingest,
        *,
        host: str,
        port: int,
        allowed_domains: frozenset[str],
        max_bytes: int,
        hostname: str,
    ) -> None:
        self.host = host
        self.port = port
        self._handler = DeliveryHandler(ingest, allowed_domains)
        self._max_bytes = max_bytes
        self._hostname = hostname
        self._server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        return SMTP(
            self._handler,
            data_size_limit=self._max_bytes,
            enable_SMTPUTF8=True,
            hostname=self._hostname,
            ident="Switchboard",
            timeout=60,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        sockets = self._server.sockets or ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("email.smtp_listening", host=self.host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
