"""The gateway with the email channel (a real SMTP listener, an aiosmtpd relay for replies)
and the web chat, for the handoff tests that mail customers."""

from __future__ import annotations

import asyncio
import email.utils

import aiosmtplib
from sqlmodel import col, select

from conversations import ConversationEvent, Direction, Message
from gateway.db import Database
from tests.harness import free_port
from tests.mail_servers import CapturingRelay

SUPPORT = "support@shop.test"


def email_settings(relay: CapturingRelay, **overrides: object) -> dict[str, object]:
    return {
        "CHANNELS": "webchat,rest,email",
        "EMAIL_FROM": SUPPORT,
        "EMAIL_FROM_NAME": "Shop Support",
        "EMAIL_LISTEN_PORT": free_port(),
        "EMAIL_SMTP_HOST": relay.host,
        "EMAIL_SMTP_PORT": relay.port,
        "EMAIL_SMTP_TLS": "none",
        "EMAIL_SMTP_TIMEOUT_S": 5,
        **overrides,
    }


def mail(sender: str, body: str, message_id: str | None = None, subject: str = "Help") -> bytes:
    headers = [
        f"From: Customer <{sender}>",
        f"To: {SUPPORT}",
        f"Subject: {subject}",
        f"Message-ID: {message_id or email.utils.make_msgid(domain='example.org')}",
        "Date: Mon, 23 Nov 2026 10:00:00 +0000",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


async def send_mail(port: int, sender: str, raw: bytes) -> None:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10)
    async with smtp:
        await smtp.ehlo()
        await smtp.mail(sender)
        await smtp.rcpt(SUPPORT)
        await smtp.data(raw)


async def wait_for_event(
    db: Database, event_type: str, count: int = 1, timeout_s: float = 20.0
) -> list[ConversationEvent]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with db.transaction() as session:
            rows = list(
                (
                    await session.exec(
                        select(ConversationEvent)
                        .where(ConversationEvent.type == event_type)
                        .order_by(col(ConversationEvent.id))
                    )
                ).all()
            )
        if len(rows) >= count:
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(rows)} of {count} {event_type} events")
        await asyncio.sleep(0.1)


async def outbound_texts(db: Database, conversation_id: str) -> list[str]:
    async with db.transaction() as session:
        rows = (
            await session.exec(
                select(Message.text)
                .where(
                    Message.conversation_id == conversation_id, Message.direction == Direction.OUT
                )
                .order_by(col(Message.id))
            )
        ).all()
    return [t or "" for t in rows]
