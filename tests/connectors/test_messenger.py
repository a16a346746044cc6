"""Messenger through the gateway against a local Graph API server."""

from __future__ import annotations

import json
from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlmodel import col

from connectors import OutboundMessage
from connectors.envelope import Button
from conversations import Message, MessageStatus, store
from gateway import keys
from gateway.routing import BOT_UNAVAILABLE_TEXT
from tests.fakes.meta import FakeGraph

from .conftest import VERIFY_TOKEN, hub_signature, messages, payload, signed_meta

PSID = "6543210987654321"


async def post(client: TestClient, data: dict) -> object:
    body, headers = signed_meta(data)
    return await client.post("/webhooks/messenger", data=body, headers=headers)


async def test_the_verification_handshake(client: TestClient) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "c1"}
    ok = await client.get("/webhooks/messenger", params=params)
    assert ok.status == 200 and await ok.text() == "c1"
    forged = await client.get("/webhooks/messenger", params={**params, "hub.verify_token": "x"})
    assert forged.status == 403


async def test_a_message_is_stored_once_and_answered(
    client: TestClient, fake_graph: FakeGraph
) -> None:
    data = payload("messenger", "text")
    for _ in range(3):
        assert (await post(client, data)).status == 200
    sent = await fake_graph.wait_for(1)
    assert sent[0]["recipient"] == {"id": PSID}
    assert sent[0]["messaging_type"] == "RESPONSE"
    assert sent[0]["message"] == {"text": BOT_UNAVAILABLE_TEXT}
    inbound = [r for r in await messages(client) if r.direction == "in"]
    assert [r.text for r in inbound] == ["can I change my delivery address?"]


async def test_echoes_are_skipped_and_quick_replies_and_postbacks_keep_their_payload(
    client: TestClient,
) -> None:
    response = await post(client, payload("messenger", "quick_reply_and_echo"))
    assert (await response.json())["stored"] == 2
    inbound = [r for r in await messages(client) if r.direction == "in"]
    assert [(r.channel_message_id, r.text, r.payload) for r in inbound] == [
        ("m_quick1", "Talk to a person", "/human"),
        ("m_postback1", "Get Started", "/greet"),
    ]


async def test_forged_and_malformed_requests_store_nothing(client: TestClient) -> None:
    data = payload("messenger", "text")
    body = json.dumps(data).encode()
    forged = await client.post(
        "/webhooks/messenger",
        data=body,
        headers={"X-Hub-Signature-256": hub_signature(body, "wrong-secret")},
    )
    assert forged.status == 403
    bad_sender = json.loads(json.dumps(data))
    bad_sender["entry"][0]["messaging"][0]["sender"] = {"id": "has space"}
    no_mid = json.loads(json.dumps(data))
    del no_mid["entry"][0]["messaging"][0]["message"]["mid"]
    for case in (bad_sender, no_mid, {**data, "object": "whatsapp_business_account"}):
        assert (await post(client, case)).status == 400
    assert (await client.post("/webhooks/messenger", data=b"\x00" * 70_000)).status == 413
    assert await messages(client) == []


async def test_buttons_become_quick_replies(client: TestClient, fake_graph: FakeGraph) -> None:
    assert (await post(client, payload("messenger", "text"))).status == 200
    await fake_graph.wait_for(1)
    async with client.app[keys.DATABASE].transaction() as session:
        identity = await store.find_or_create_identity(session, "messenger", PSID)
        conversation = await store.open_conversation(session, identity)
        row = await store.add_outbound(
            session,
            conversation,
            OutboundMessage(
                text="Anything else?",
                buttons=(Button("Yes please, one more thing", "/affirm"), Button("No", "/deny")),
            ),
        )
    assert row.id is not None
    await client.app[keys.OUTBOX].deliver([row.id])
    sent = fake_graph.received[1]
    assert sent["message"]["quick_replies"] == [
        {"content_type": "text", "title": "Yes please, one more", "payload": "/affirm"},
        {"content_type": "text", "title": "No", "payload": "/deny"},
    ]
    (stored,) = [r for r in await messages(client) if r.id == row.id]
    assert stored.status == MessageStatus.SENT and stored.provider_message_id == sent["message_id"]


async def reply_as(client: TestClient, sender: str) -> int:
    async with client.app[keys.DATABASE].transaction() as session:
        identity = await store.find_or_create_identity(session, "messenger", PSID)
        conversation = await store.open_conversation(session, identity)
        row = await store.add_outbound(
            session, conversation, OutboundMessage(text="Following up"), sender=sender
        )
        assert row.id is not None
        return row.id


async def age_inbound(client: TestClient, days: int) -> None:
    async with client.app[keys.DATABASE].transaction() as session:
        await session.exec(
            update(Message)
            .where(col(Message.direction) == "in")
            .values(created_at=store.utcnow() - timedelta(days=days))
        )


async def test_the_standard_messaging_window(client: TestClient, fake_graph: FakeGraph) -> None:
    assert (await post(client, payload("messenger", "text"))).status == 200
    await fake_graph.wait_for(1)
    outbox = client.app[keys.OUTBOX]
    await age_inbound(client, 3)
    bot, agent = await reply_as(client, "bot"), await reply_as(client, "agent")
    await outbox.deliver([bot, agent])
    rows = {r.id: r for r in await messages(client)}
    assert rows[bot].status == MessageStatus.FAILED and "24-hour" in (rows[bot].error or "")
    assert rows[agent].status == MessageStatus.SENT
    assert (fake_graph.received[-1]["messaging_type"], fake_graph.received[-1]["tag"]) == (
        "MESSAGE_TAG",
        "HUMAN_AGENT",
    )
    await age_inbound(client, 8)
    late = await reply_as(client, "agent")
    await outbox.deliver([late])
    assert {r.id: r for r in await messages(client)}[late].status == MessageStatus.FAILED
    assert len(fake_graph.received) == 2
