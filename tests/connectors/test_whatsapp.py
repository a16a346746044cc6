"""WhatsApp Cloud API through the gateway against a local Graph API server."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from connectors import OutboundMessage
from connectors.envelope import Button
from conversations import Message, MessageStatus, store
from gateway import keys
from gateway.routing import BOT_UNAVAILABLE_TEXT
from tests.fakes.meta import FakeGraph

from .conftest import (
    VERIFY_TOKEN,
    ClientFactory,
    customers,
    hub_signature,
    messages,
    payload,
    signed_meta,
)

WA_ID = "16505551234"


async def post(client: TestClient, data: dict) -> object:
    body, headers = signed_meta(data)
    return await client.post("/webhooks/whatsapp", data=body, headers=headers)


async def test_the_verification_handshake(client: TestClient) -> None:
    ok = await client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "8"},
    )
    assert ok.status == 200 and await ok.text() == "8"
    wrong = await client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "8"},
    )
    assert wrong.status == 403
    missing = await client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe"})
    assert missing.status == 400


async def test_a_message_is_stored_once_with_the_verified_phone_and_answered(
    client: TestClient, fake_graph: FakeGraph
) -> None:
    data = payload("whatsapp", "text")
    responses = await asyncio.gather(*(post(client, data) for _ in range(4)))
    assert [r.status for r in responses] == [200] * 4
    sent = await fake_graph.wait_for(1)
    assert sent[0]["to"] == WA_ID and sent[0]["text"] == {"body": BOT_UNAVAILABLE_TEXT}
    await asyncio.sleep(0.3)
    assert len(fake_graph.received) == 1
    inbound = [r for r in await messages(client) if r.direction == "in"]
    assert [(r.channel_message_id[:6], r.text) for r in inbound] == [
        ("wamid.", "do you ship to Canada?")
    ]
    (customer,) = await customers(client)
    assert (customer.phone, customer.display_name) == ("+16505551234", "Grace Hopper")


async def test_forged_signatures_are_refused_and_store_nothing(client: TestClient) -> None:
    data = payload("whatsapp", "text")
    body = json.dumps(data).encode()
    other = json.dumps({**data, "entry": []}).encode()
    for headers in (
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": hub_signature(other)},  # valid for another body
        {"X-Hub-Signature-256": hub_signature(body, "another-secret")},
        {"X-Hub-Signature-256": hub_signature(body).removeprefix("sha256=")},
    ):
        response = await client.post("/webhooks/whatsapp", data=body, headers=headers)
        assert response.status == 403
    assert await messages(client) == []


async def test_malformed_notifications_store_nothing_even_partly(client: TestClient) -> None:
    good = payload("whatsapp", "text")
    second_bad = copy.deepcopy(good)
    value = second_bad["entry"][0]["changes"][0]["value"]
    value["messages"].append({"from": "not-a-phone", "id": "wamid.x", "type": "text"})
    no_id = copy.deepcopy(good)
    del no_id["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    body_not_string = copy.deepcopy(good)
    body_not_string["entry"][0]["changes"][0]["value"]["messages"][0]["text"] = {"body": 5}
    too_long = copy.deepcopy(good)
    too_long["entry"][0]["changes"][0]["value"]["messages"][0]["text"] = {"body": "x" * 5000}
    cases = [
        ({**good, "object": "page"}, 400),
        ({**good, "entry": {"id": 1}}, 400),
        ({**good, "entry": ["x"]}, 400),
        (second_bad, 400),
        (no_id, 400),
        (body_not_string, 400),
        (too_long, 413),
    ]
    for data, status in cases:
        response = await post(client, data)
        assert response.status == status, data
    assert await messages(client) == []


async def test_status_notifications_are_acknowledged_without_storing(client: TestClient) -> None:
    response = await post(client, payload("whatsapp", "status"))
    assert response.status == 200 and (await response.json())["stored"] == 0
    assert await messages(client) == []


async def test_a_button_reply_carries_its_id_as_the_payload(client: TestClient) -> None:
    assert (await post(client, payload("whatsapp", "button_reply"))).status == 200
    (row,) = [r for r in await messages(client) if r.direction == "in"]
    assert (row.text, row.payload) == ("Talk to a person", "/human")


async def reply(client: TestClient, message: OutboundMessage) -> int:
    async with client.app[keys.DATABASE].transaction() as session:
        identity = await store.find_or_create_identity(session, "whatsapp", WA_ID)
        conversation = await store.open_conversation(session, identity)
        row = await store.add_outbound(session, conversation, message)
        assert row.id is not None
        return row.id


async def status_of(client: TestClient, row_id: int) -> Message:
    (row,) = [r for r in await messages(client) if r.id == row_id]
    return row


async def test_buttons_become_reply_buttons_or_a_list(
    client: TestClient, fake_graph: FakeGraph
) -> None:
    assert (await post(client, payload("whatsapp", "text"))).status == 200
    await fake_graph.wait_for(1)
    three = tuple(Button(f"Option {i}", f'/pick{{"n":{i}}}') for i in range(3))
    seven = tuple(Button(f"A rather long option title {i}", f"/p{i}") for i in range(7))
    twelve = tuple(Button(f"O{i}", f"/o{i}") for i in range(12))
    ids = [
        await reply(client, OutboundMessage(text="Pick one", buttons=b))
        for b in (three, seven, twelve)
    ]
    await client.app[keys.OUTBOX].deliver(ids)
    _, buttons, rows, numbered = fake_graph.received
    assert buttons["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in buttons["interactive"]["action"]["buttons"]] == [
        b.payload for b in three
    ]
    assert rows["interactive"]["type"] == "list"
    assert len(rows["interactive"]["action"]["sections"][0]["rows"]) == 7
    assert numbered["type"] == "text" and "12. O11" in numbered["text"]["body"]
    assert [(await status_of(client, i)).status for i in ids] == [MessageStatus.SENT] * 3


async def test_outside_the_24_hour_window_only_templates_are_sent(
    client: TestClient, fake_graph: FakeGraph
) -> None:
    assert (await post(client, payload("whatsapp", "text"))).status == 200
    await fake_graph.wait_for(1)
    async with client.app[keys.DATABASE].transaction() as session:
        await session.exec(
            update(Message)
            .where(Message.direction == "in")  # type: ignore[arg-type]
            .values(created_at=store.utcnow() - timedelta(hours=25))
        )
    text = await reply(client, OutboundMessage(text="Any news?"))
    template = await reply(
        client,
        OutboundMessage(custom={"whatsapp_template": {"name": "order_update", "language": "en"}}),
    )
    await client.app[keys.OUTBOX].deliver([text, template])
    refused = await status_of(client, text)
    assert refused.status == MessageStatus.FAILED and "24-hour" in (refused.error or "")
    assert (await status_of(client, template)).status == MessageStatus.SENT
    assert len(fake_graph.received) == 2
    assert fake_graph.received[1]["template"] == {
        "name": "order_update",
        "language": {"code": "en"},
    }


async def test_a_rate_limit_answer_is_retried(
    make_client: ClientFactory, fake_graph: FakeGraph
) -> None:
    client = await make_client()
    assert (await post(client, payload("whatsapp", "text"))).status == 200
    await fake_graph.wait_for(1)
    fake_graph.fail(429)
    row_id = await reply(client, OutboundMessage(text="later"))
    await client.app[keys.OUTBOX].deliver([row_id])
    row = await status_of(client, row_id)
    assert row.status == MessageStatus.PENDING and row.attempts == 1
    fake_graph.fail(400)  # invalid parameter: final
    other = await reply(client, OutboundMessage(text="refused"))
    await client.app[keys.OUTBOX].deliver([other])
    assert (await status_of(client, other)).status == MessageStatus.FAILED


async def test_reactions_are_not_stored_as_messages(client: TestClient) -> None:
    data = payload("whatsapp", "text")
    value = data["entry"][0]["changes"][0]["value"]
    value["messages"][0] = {
        "from": WA_ID,
        "id": "wamid.reaction1=",
        "timestamp": "1700000300",
        "type": "reaction",
        "reaction": {"message_id": "wamid.fake1=", "emoji": "👍"},
    }
    response = await post(client, data)
    assert response.status == 200 and (await response.json())["stored"] == 0
    assert await messages(client) == []
