"""Parsing and composing mail: recorded samples, automated mail, hostile and broken input."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from connectors import Button, OutboundMessage, PayloadError
from connectors.email import parse_email, strip_reply
from connectors.email.compose import compose_reply, reply_subject

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "email"


def sample(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def mail(headers: str, body: str = "Hello, where is my parcel?") -> bytes:
    lines = headers.strip().splitlines()
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


NESTED = (
    "From: a@example.org\r\nSubject: nest\r\n"
    + "".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(3000)
    )
    + "Content-Type: text/plain\r\n\r\nhi\r\n"
).encode()
BASE = "From: ann@example.org\nTo: support@shop.test\nSubject: Parcel\nMessage-ID: <m1@example.org>"


def test_a_reply_keeps_only_the_new_text_and_its_thread_headers() -> None:
    parsed = parse_email(sample("plain_reply.eml"), max_text_chars=4000)
    assert parsed.sender == "ann.smith@example.org"
    assert parsed.sender_name == "Ann Smith"
    assert parsed.text == "Thanks! Can I still change the delivery address?"
    assert parsed.message_id == "<reply-2@example.org>"
    assert parsed.in_reply_to == "<switchboard.7@shop.test>"
    assert parsed.references == ("<first-1@example.org>", "<switchboard.7@shop.test>")
    assert parsed.automated is None


def test_html_only_mail_becomes_text_without_scripts_quotes_or_signature() -> None:
    parsed = parse_email(sample("html_only.eml"), max_text_chars=4000)
    assert "How do I get a refund?" in parsed.text
    assert "Order 77" in parsed.text or "Order\xa077" in parsed.text
    for gone in ("alert", "color:red", "Hello Bob", "Sent from my phone", "<"):
        assert gone not in parsed.text


def test_attachments_are_kept_as_metadata_and_legacy_charsets_decoded() -> None:
    parsed = parse_email(sample("attachment.eml"), max_text_chars=4000)
    assert parsed.text == "See the attached invoice, café order."
    (attachment,) = parsed.attachments
    assert (attachment.kind, attachment.name, attachment.mime_type) == (
        "document",
        "invoice.pdf",
        "application/pdf",
    )
    assert attachment.size == 15


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("Auto-Submitted: auto-replied", "auto-submitted"),
        ("Auto-Submitted: auto-generated", "auto-submitted"),
        ("X-Autoreply: yes", "auto-reply"),
        ("X-Autorespond: yes", "auto-reply"),
        ("Precedence: bulk", "precedence"),
        ("Precedence: junk", "precedence"),
        ("Precedence: list", "precedence"),
        ("List-Id: <news.example.org>", "mailing list"),
        ("Return-Path: <>", "bounce"),
    ],
)
def test_automated_mail_is_recognised(extra: str, reason: str) -> None:
    parsed = parse_email(mail(BASE + "\n" + extra), max_text_chars=4000)
    assert parsed.automated is not None and parsed.automated.startswith(reason)


@pytest.mark.parametrize(
    "subject",
    ["Out of Office: Parcel", "Automatic reply: Parcel", "Auto: Parcel", "Vacation", "Abwesenheit"],
)
def test_vacation_subjects_are_recognised(subject: str) -> None:
    headers = BASE.replace("Subject: Parcel", f"Subject: {subject}")
    assert parse_email(mail(headers), max_text_chars=4000).automated == "auto-reply subject"


def test_bounces_are_recognised() -> None:
    assert parse_email(sample("bounce.eml"), max_text_chars=4000).automated is not None
    null_sender = parse_email(mail(BASE), max_text_chars=4000, envelope_sender="")
    assert null_sender.automated == "bounce: null sender"
    assert parse_email(sample("out_of_office.eml"), max_text_chars=4000).automated


def test_ordinary_mail_and_auto_submitted_no_are_answered() -> None:
    assert parse_email(mail(BASE), max_text_chars=4000).automated is None
    explicit = parse_email(mail(BASE + "\nAuto-Submitted: no"), max_text_chars=4000)
    assert explicit.automated is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        mail("To: support@shop.test\nSubject: no sender"),
        mail("From: not an address\nSubject: x"),
        mail("From: a@b.c, d@e.f\nSubject: two senders"),
        mail("From: <>\nSubject: x"),
        mail("From: ann@example.org", body=""),
        NESTED,
    ],
)
def test_malformed_mail_is_rejected_with_a_reason(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_email(raw, max_text_chars=4000)


def test_long_text_is_cut_and_marked() -> None:
    parsed = parse_email(mail(BASE, body="word " * 3000), max_text_chars=100)
    assert len(parsed.text) == 100
    assert parsed.truncated and parsed.thread_metadata()["truncated"] is True


def test_mail_without_message_id_gets_a_stable_one() -> None:
    raw = mail("From: ann@example.org\nSubject: x")
    first, second = (parse_email(raw, max_text_chars=4000) for _ in range(2))
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@switchboard.invalid>")


def test_dedupe_key_binds_the_sender_and_stays_within_the_column() -> None:
    forged = parse_email(
        mail(BASE.replace("ann@example.org", "mallory@example.org")), max_text_chars=4000
    )
    genuine = parse_email(mail(BASE), max_text_chars=4000)
    assert forged.dedupe_key != genuine.dedupe_key
    long_id = BASE.replace("<m1@example.org>", "<" + "x" * 240 + "@example.org>")
    assert len(parse_email(mail(long_id), max_text_chars=4000).dedupe_key) <= 300


def test_header_injection_in_the_subject_does_not_reach_the_reply() -> None:
    raw = mail(BASE.replace("Subject: Parcel", "Subject: =?utf-8?q?Hi=0D=0ABcc:_x@evil.test?="))
    parsed = parse_email(raw, max_text_chars=4000)
    reply = compose_reply(
        sender="support@shop.test",
        sender_name="Shop",
        to=parsed.sender,
        thread=parsed.thread_metadata(),
        message=OutboundMessage(text="ok"),
        message_id="<switchboard.1@shop.test>",
    )
    assert reply["Bcc"] is None
    assert "\n" not in reply["Subject"] and "\r" not in reply["Subject"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes please\n\n> quoted\n> more", "Yes please"),
        ("Yes\n\n-----Original Message-----\nFrom: x", "Yes"),
        ("Yes\n\nFrom: Shop <s@shop.test>\nSent: Monday\nTo: me", "Yes"),
        ("From: my side it works\nThanks", "From: my side it works\nThanks"),
        ("Sure\n\nSent from my iPhone", "Sure"),
        ("Hi\r\nthere\r\n-- \r\nSig", "Hi\nthere"),
        ("Ja\n\nAm 1. Jan 2026 schrieb Shop <s@shop.test>:\n> alt", "Ja"),
    ],
)
def test_strip_reply(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


def test_a_reply_is_proper_threaded_email_with_numbered_options() -> None:
    parsed = parse_email(sample("plain_reply.eml"), max_text_chars=4000)
    reply = compose_reply(
        sender="support@shop.test",
        sender_name="Shop Support",
        to=parsed.sender,
        thread=parsed.thread_metadata(),
        message=OutboundMessage(
            text="Which one?", buttons=(Button("Track", "/track"), Button("Cancel", "/cancel"))
        ),
        message_id="<switchboard.9@shop.test>",
    )
    again = email.message_from_bytes(reply.as_bytes(), policy=email.policy.default)
    assert again["Subject"] == "Re: Your order 1042"
    assert again["In-Reply-To"] == "<reply-2@example.org>"
    assert again["References"].split() == [
        "<first-1@example.org>",
        "<switchboard.7@shop.test>",
        "<reply-2@example.org>",
    ]
    assert again["Auto-Submitted"] == "auto-replied"
    assert again["Message-ID"] == "<switchboard.9@shop.test>"
    assert again.get_content_type() == "text/plain"
    assert again.get_content().strip() == "Which one?\n\n1. Track\n2. Cancel"


def test_reply_subject() -> None:
    assert reply_subject("Parcel") == "Re: Parcel"
    assert reply_subject("RE: Parcel") == "RE: Parcel"
    assert reply_subject("") == "Re: Your message"
