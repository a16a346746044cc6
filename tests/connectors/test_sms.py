"""SMS through Twilio: request signatures, STOP / START / HELP, and the Messages API."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from connectors import OutboundMessage
from connectors.envelope import Button
from connectors.sms import twilio_signature
from conversations import MessageStatus, store
from gateway import keys
from gateway.routing import BOT_UNAVAILABLE_TEXT
from tests.fakes.twilio import FakeTwilio

from .conftest import TWILIO_NUMBER, customers, messages, payload, twilio_signed

PHONE = "+14155550123"
TOKEN = FakeTwilio.auth_token


def test_the_signature_matches_twilios_documented_example() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


async def post(client: TestClient, params: dict[str, str], **changes: str) -> object:
    body, headers = twilio_signed("/webhooks/sms", params, TOKEN)
    headers.update(changes)
    return await client.post("/webhooks/sms", data=body, headers=headers)


def sms(body: str, sid: str = "SM1f0e8ae6ade43cb3c0ce4525424e404f") -> dict[str, str]:
    return {**payload("sms", "inbound"), "Body": body, "MessageSid": sid, "SmsSid": sid}


async def test_a_message_is_stored_once_and_answered_by_sms(
    client: TestClient, fake_twilio: FakeTwilio
) -> None:
    params = payload("sms", "inbound")
    responses = await asyncio.gather(*(post(client, params) for _ in range(4)))
    for response in responses:
        assert response.status == 200 and response.content_type == "text/xml"
        assert "<Response></Response>" in await response.text()
    sent = await fake_twilio.wait_for(1)
    assert (sent[0]["To"], sent[0]["From"], sent[0]["Body"]) == (
        PHONE,
        TWILIO_NUMBER,
        BOT_UNAVAILABLE_TEXT,
    )
    inbound = [r for r in await messages(client) if r.direction == "in"]
    assert [r.text for r in inbound] == ["what are your opening hours?"]
    assert [c.phone for c in await customers(client)] == [PHONE]


async def test_forged_and_malformed_requests_store_nothing(client: TestClient) -> None:
    params = payload("sms", "inbound")
    body, headers = twilio_signed("/webhooks/sms", params, "not-the-token")
    assert (await client.post("/webhooks/sms", data=body, headers=headers)).status == 403
    body, headers = twilio_signed("/webhooks/sms?x=1", params, TOKEN)  # another URL
    assert (await client.post("/webhooks/sms", data=body, headers=headers)).status == 403
    tampered, headers = twilio_signed("/webhooks/sms", params, TOKEN)
    tampered = tampered.replace("opening", "closing")
    assert (await client.post("/webhooks/sms", data=tampered, headers=headers)).status == 403
    no_header = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await client.post("/webhooks/sms", data=body, headers=no_header)).status == 403
    assert (await client.post("/webhooks/sms", json=params)).status == 415
    for bad in (
        {k: v for k, v in params.items() if k not in ("MessageSid", "SmsSid")},
        {**params, "From": "someone"},
        {**params, "NumMedia": "9999"},
        {**params, "NumMedia": "two"},
        {**params, "Body": ""},
    ):
        assert (await post(client, bad)).status == 400, bad
    assert (await post(client, {**params, "Body": "x" * 4001})).status == 413
    assert await messages(client) == []


async def test_media_is_kept_as_attachment_metadata(client: TestClient) -> None:
    params = {
        **sms("", "MM0000000000000000000000000000000a"),
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0",
        "MediaContentType0": "image/jpeg",
    }
    assert (await post(client, params)).status == 200
    (row,) = [r for r in await messages(client) if r.direction == "in"]
    assert row.data["attachments"][0]["kind"] == "image"
    assert row.data["attachments"][0]["mime_type"] == "image/jpeg"


async def test_stop_opts_out_start_opts_back_in_and_help_is_answered(
    client: TestClient, fake_twilio: FakeTwilio
) -> None:
    help_response = await post(client, sms("help", "SM01"))
    assert "Reply STOP to opt out." in await help_response.text()
    assert (await post(client, sms(" Stop ", "SM02"))).status == 200
    await asyncio.sleep(0.3)
    rows = await messages(client)
    # keywords are stored, marked handled, and never reach the bot
    assert [(r.direction, r.status) for r in rows] == [
        ("in", MessageStatus.PROCESSED),
        ("in", MessageStatus.PROCESSED),
    ]
    outbox = client.app[keys.OUTBOX]
    blocked = await reply(client, OutboundMessage(text="still there?"))
    await outbox.deliver([blocked])
    (row,) = [r for r in await messages(client) if r.id == blocked]
    assert row.status == MessageStatus.FAILED and "STOP" in (row.error or "")
    assert fake_twilio.received == []

    assert (await post(client, sms("START", "SM03"))).status == 200
    allowed = await reply(
        client, OutboundMessage(text="Welcome back", buttons=(Button("Track", "/track"),))
    )
    await outbox.deliver([allowed])
    (sent,) = fake_twilio.received
    assert sent["Body"] == "Welcome back\n\n1. Track"


async def reply(client: TestClient, message: OutboundMessage) -> int:
    async with client.app[keys.DATABASE].transaction() as session:
        identity = await store.find_or_create_identity(session, "sms", PHONE)
        conversation = await store.open_conversation(session, identity)
        row = await store.add_outbound(session, conversation, message)
        assert row.id is not None
        return row.id


async def test_429_is_retried_and_an_unsubscribed_recipient_is_opted_out(
    client: TestClient, fake_twilio: FakeTwilio
) -> None:
    outbox = client.app[keys.OUTBOX]
    fake_twilio.fail(429)
    first = await reply(client, OutboundMessage(text="one"))
    await outbox.deliver([first])
    (row,) = [r for r in await messages(client) if r.id == first]
    assert row.status == MessageStatus.PENDING and row.attempts == 1

    fake_twilio.unsubscribed.add(PHONE)
    second = await reply(client, OutboundMessage(text="two"))
    await outbox.deliver([second])
    (row,) = [r for r in await messages(client) if r.id == second]
    assert row.status == MessageStatus.FAILED
    assert await client.app[keys.INBOUND].is_opted_out("sms", PHONE)
