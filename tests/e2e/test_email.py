"""Email end to end: the gateway process with the email channel, the real Rasa server, the
project's own SMTP listener for mail in and a capturing SMTP relay for mail out.

This module runs its own Rasa server whose custom actions point at this module's gateway,
so the shared `gateway` process (which serves actions on the session's actions port) can
run in the same test session.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosmtplib
import pytest

from bot.actions.faq import NOT_FOUND_TEXT
from gateway.rasa_process import RasaProcess
from gateway.settings import Settings
from knowledge import load_entries
from tests.harness import GatewayProcess, free_port, gateway_env, start_rasa
from tests.mail_servers import CapturingRelay

from .conftest import query, response_texts

SUPPORT = "support@northwind.test"
SEED = {entry.id: entry for entry in load_entries(Settings().faq_seed_path)}


@pytest.fixture(scope="module")
def email_actions_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def email_rasa(email_actions_port: int, artifacts: Path) -> Iterator[RasaProcess]:
    server = start_rasa(email_actions_port, artifacts / "rasa-email.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def relay() -> AsyncIterator[CapturingRelay]:
    server = CapturingRelay()
    await server.start()
    yield server
    await server.close()


@pytest.fixture(scope="module")
def email_gateway(
    email_rasa: RasaProcess,
    email_actions_port: int,
    relay: CapturingRelay,
    artifacts: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    var = tmp_path_factory.mktemp("gateway-email-var")
    env = gateway_env(email_rasa.url, f"sqlite:///{var}/switchboard.db", var, email_actions_port)
    env.update(
        {
            "CHANNELS": "rest,email",
            "EMAIL_FROM": SUPPORT,
            "EMAIL_FROM_NAME": "Northwind Goods",
            "EMAIL_LISTEN_PORT": str(free_port()),
            "EMAIL_SMTP_HOST": relay.host,
            "EMAIL_SMTP_PORT": str(relay.port),
            "EMAIL_SMTP_TLS": "none",
            "RASA_TIMEOUT_S": "60",
        }
    )
    process = GatewayProcess(env, artifacts / "gateway-email.log")
    process.start()
    yield process
    process.stop()


async def send_mail(gateway: GatewayProcess, raw: str) -> None:
    await aiosmtplib.send(
        raw.replace("\n", "\r\n").encode(),
        sender="ann@example.org",
        recipients=[SUPPORT],
        hostname="127.0.0.1",
        port=int(gateway.env["EMAIL_LISTEN_PORT"]),
        start_tls=False,
        timeout=30,
    )


async def test_a_question_by_email_is_answered_by_the_bot_in_its_thread(
    email_gateway: GatewayProcess, relay: CapturingRelay
) -> None:
    entry = SEED["shipping-times"]
    first_id = email.utils.make_msgid(domain="example.org")
    await send_mail(
        email_gateway,
        f"""From: Ann Smith <Ann@Example.org>
To: Northwind <{SUPPORT}>
Subject: Delivery question
Message-ID: {first_id}
Date: {email.utils.formatdate()}
Content-Type: text/plain; charset=utf-8

{entry.question}

--
Ann Smith
Example Org, Facilities

On Sun, 22 Nov 2026, Somebody <someone@example.org> wrote:
> what can you do? I want a person. goodbye
""",
    )
    (answer,) = await relay.wait_for(1, timeout_s=90)
    assert answer["To"] == "ann@example.org"
    assert answer["From"] == f"Northwind Goods <{SUPPORT}>"
    assert answer["Subject"] == "Re: Delivery question"
    assert answer["In-Reply-To"] == first_id
    assert answer["References"] == first_id
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer.get_content_type() == "text/plain"
    assert answer.get_content().startswith(entry.answer)
    stored = query(
        email_gateway,
        "SELECT text, channel_message_id FROM message WHERE direction = 'in' AND channel = 'email'",
    )
    assert stored == [(entry.question, f"ann@example.org {first_id}")]

    # Ann answers in the thread; the bot's next reply offers numbered options.
    second_id = email.utils.make_msgid(domain="example.org")
    await send_mail(
        email_gateway,
        f"""From: Ann Smith <ann@example.org>
To: {SUPPORT}
Subject: Re: Delivery question
Message-ID: {second_id}
In-Reply-To: {answer["Message-ID"]}
References: {first_id} {answer["Message-ID"]}
Content-Type: text/html; charset=utf-8

<div>what can you do?</div><blockquote>{entry.answer}</blockquote>
""",
    )
    help_reply = (await relay.wait_for(2, timeout_s=90))[1]
    body = help_reply.get_content().replace("\r\n", "\n")
    assert any(body.startswith(text) for text in response_texts("utter_help"))
    assert "\n1. Shipping times\n2. Returning an item\n3. Payment methods" in body
    assert help_reply["Subject"] == "Re: Delivery question"
    assert help_reply["In-Reply-To"] == second_id
    assert help_reply["References"].split() == [first_id, answer["Message-ID"], second_id]
    conversations = query(
        email_gateway, "SELECT DISTINCT conversation_id FROM message WHERE channel = 'email'"
    )
    assert len(conversations) == 1
    assert NOT_FOUND_TEXT not in body
