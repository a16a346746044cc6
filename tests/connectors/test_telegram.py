"""Telegram through the gateway against a local Bot API server: webhook and polling, dedupe,
signatures, hostile input, keyboards, callback answers, 429 retry_after."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta

from aiohttp.test_utils import TestClient

from connectors import OutboundMessage
from connectors.envelope import Button
from conversations import Customer, MessageStatus, store
from gateway import keys
from gateway.routing import BOT_UNAVAILABLE_TEXT
from tests.fakes.telegram import FakeTelegram

from .conftest import TELEGRAM_SECRET, ClientFactory, customers, messages, payload, wait_until

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


async def post(client: TestClient, update: object, headers: dict[str, str] | None = None):
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return await client.post(
        "/webhooks/telegram",
        data=body,
        headers={"Content-Type": "application/json", **(HEADERS if headers is None else headers)},
    )


async def test_a_message_is_stored_once_and_answered_in_its_chat(
    client: TestClient, fake_telegram: FakeTelegram
) -> None:
    update = payload("telegram", "text")
    first = await post(client, update)
    assert first.status == 200 and (await first.json())["stored"] is True
    replays = await asyncio.gather(*(post(client, update) for _ in range(5)))
    assert [r.status for r in replays] == [200] * 5

    sent = await fake_telegram.wait_for(1)  # Rasa is down: the customer gets the notice
    assert sent[0]["chat_id"] == "1111111" and sent[0]["text"] == BOT_UNAVAILABLE_TEXT
    await asyncio.sleep(0.3)
    rows = await messages(client)
    inbound = [r for r in rows if r.direction == "in"]
    assert [(r.channel_message_id, r.text) for r in inbound] == [
        ("1111111:1365", "where is my order?")
    ]
    assert len(fake_telegram.received) == 1
    assert [c.display_name for c in await customers(client)] == ["Ada Lovelace"]


async def test_a_forged_or_missing_secret_token_is_refused_and_stores_nothing(
    client: TestClient,
) -> None:
    update = payload("telegram", "text")
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
        response = await post(client, update, headers)
        assert response.status == 403
        assert (await response.json())["error"] == "forbidden"
    assert await messages(client) == []


async def test_malformed_updates_get_a_clear_error_and_store_nothing(client: TestClient) -> None:
    good = payload("telegram", "text")
    no_chat = copy.deepcopy(good)
    del no_chat["message"]["chat"]
    chat_not_object = copy.deepcopy(good)
    chat_not_object["message"]["chat"] = "1111111"
    too_long = copy.deepcopy(good)
    too_long["message"]["text"] = "x" * 4001
    cases = [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 400),
        ({"message": good["message"]}, 400),
        ({**good, "update_id": "10000"}, 400),
        (no_chat, 400),
        (chat_not_object, 400),
        (too_long, 413),
        (b"{" + b'"a":"' + b"x" * 70_000 + b'"}', 413),
    ]
    for body, status in cases:
        response = await post(client, body)
        assert response.status == status, body[:80] if isinstance(body, bytes) else body
        assert "error" in await response.json()
    assert await messages(client) == []
    healthy = await post(client, good)
    assert healthy.status == 200


async def test_hostile_field_shapes_are_refused_whole_and_store_nothing(
    client: TestClient,
) -> None:
    """The update is read from its JSON directly: every field used is checked."""
    photo = payload("telegram", "photo")
    document = payload("telegram", "document")
    query = payload("telegram", "callback_query")

    def changed(base: dict, path: tuple[str, ...], value: object) -> dict:
        data = copy.deepcopy(base)
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return data

    cases = [
        changed(photo, ("message", "photo"), "AgAD-large"),
        changed(photo, ("message", "photo"), [{"width": 1, "height": 1}]),
        changed(photo, ("message", "photo"), ["AgAD"]),
        changed(photo, ("message", "photo", 0, "file_size"), -1),
        changed(photo, ("message", "photo", 0, "file_size"), "1200"),
        changed(photo, ("message", "photo", 0, "file_id"), "x" * 2000),
        changed(document, ("message", "document"), "BQAD-doc"),
        changed(document, ("message", "document", "file_name"), ["invoice.pdf"]),
        changed(document, ("message", "document", "mime_type"), "m" * 300),
        changed(photo, ("message", "from"), "Ada"),
        changed(photo, ("message", "from", "first_name"), {"a": 1}),
        changed(photo, ("message", "contact"), ["+16505551234"]),
        changed(query, ("callback_query", "message", "reply_markup"), "keyboard"),
        changed(query, ("callback_query", "data"), "x" * 65),
        changed(query, ("callback_query", "from"), None),
    ]
    for update in cases:
        response = await post(client, update)
        assert response.status == 400, update
        assert "error" in await response.json()
    assert await messages(client) == []
    odd_keyboard = changed(query, ("callback_query", "message", "reply_markup"), {"x": 1})
    assert (await post(client, odd_keyboard)).status == 200  # no keyboard: the payload as title
    (row,) = [r for r in await messages(client) if r.direction == "in"]
    assert (row.text, row.payload) == ("/ask_faq", "/ask_faq")


async def test_updates_that_are_not_customer_messages_are_acknowledged_and_ignored(
    client: TestClient,
) -> None:
    edited = {"update_id": 5, "edited_message": payload("telegram", "text")["message"]}
    response = await post(client, edited)
    assert response.status == 200 and (await response.json())["stored"] is False
    assert await messages(client) == []


async def test_photos_and_documents_are_kept_as_attachment_metadata(
    make_client: ClientFactory,
) -> None:
    client = await make_client(CHANNEL_MAX_ATTACHMENT_BYTES=60_000)
    assert (await post(client, payload("telegram", "photo"))).status == 200
    assert (await post(client, payload("telegram", "document"))).status == 200
    assert (await post(client, payload("telegram", "photo"))).status == 200  # replay
    inbound = [r for r in await messages(client) if r.direction == "in"]
    assert len(inbound) == 2
    photo, document = inbound
    assert photo.text == "the parcel arrived like this"
    # the largest photo is over the limit: not kept, and the rejection is recorded
    assert photo.data["attachments"] == []
    assert photo.data["metadata"]["rejected_attachments"] == [
        {"kind": "image", "size": 98000, "reason": "too_large"}
    ]
    assert document.data["attachments"] == [
        {
            "kind": "document",
            "url": "telegram-file:BQAD-doc",
            "name": "invoice.pdf",
            "mime_type": "application/pdf",
            "size": 52000,
        }
    ]


async def test_start_with_a_deep_link_greets_and_keeps_the_payload(client: TestClient) -> None:
    update = payload("telegram", "text")
    update["message"]["text"] = "/start order-1234"
    assert (await post(client, update)).status == 200
    (row,) = [r for r in await messages(client) if r.direction == "in"]
    assert row.payload == "/greet"
    assert row.data["metadata"]["start_payload"] == "order-1234"


async def test_a_pressed_button_is_stored_with_its_payload_and_the_query_answered(
    client: TestClient, fake_telegram: FakeTelegram
) -> None:
    update = payload("telegram", "callback_query")
    assert (await post(client, update)).status == 200
    assert (await post(client, update)).status == 200
    await wait_until(lambda: _true_when(fake_telegram.answered_callbacks))
    (row,) = [r for r in await messages(client) if r.direction == "in"]
    assert (row.text, row.payload, row.channel_message_id) == (
        "Ask a question",
        "/ask_faq",
        "callback:4382bfdwdsb323b2d9",
    )
    await asyncio.sleep(0.2)
    assert fake_telegram.answered_callbacks == ["4382bfdwdsb323b2d9"]


async def _true_when(value: object) -> bool:
    return bool(value)


async def reply(client: TestClient, message: OutboundMessage) -> int:
    """A pending reply in the chat's conversation, as the router commits one."""
    async with client.app[keys.DATABASE].transaction() as session:
        identity = await store.find_or_create_identity(session, "telegram", "1111111")
        conversation = await store.open_conversation(session, identity)
        row = await store.add_outbound(session, conversation, message)
        assert row.id is not None
        return row.id


async def test_buttons_become_an_inline_keyboard(
    client: TestClient, fake_telegram: FakeTelegram
) -> None:
    long_payload = '/faq{"entry": "' + "x" * 80 + '"}'
    message = OutboundMessage(
        text="How can I help?",
        buttons=(Button("Ask a question", "/ask_faq"), Button("Something long", long_payload)),
    )
    row_id = await reply(client, message)
    await client.app[keys.OUTBOX].deliver([row_id])
    (sent,) = fake_telegram.received
    assert sent["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Ask a question", "callback_data": "/ask_faq"}],
            [{"text": "Something long", "callback_data": "Something long"}],
        ]
    }
    (row,) = [r for r in await messages(client) if r.id == row_id]
    assert row.status == MessageStatus.SENT and row.provider_message_id == str(sent["message_id"])


async def test_a_429_is_retried_after_the_retry_after_it_names(
    client: TestClient, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail(429, retry_after=1)
    row_id = await reply(client, OutboundMessage(text="hello"))
    await client.app[keys.OUTBOX].deliver([row_id])
    (row,) = [r for r in await messages(client) if r.id == row_id]
    assert row.status == MessageStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at is not None
    wait = store.as_utc(row.next_attempt_at) - store.as_utc(row.created_at)
    assert timedelta(seconds=0.9) < wait < timedelta(seconds=3)
    sent = await fake_telegram.wait_for(1, timeout_s=10)  # the sweeper sends it when due
    assert sent[0]["text"] == "hello" and fake_telegram.attempts == 2


async def test_server_errors_are_retried_and_a_blocked_bot_fails_permanently(
    client: TestClient, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail(500)
    row_id = await reply(client, OutboundMessage(text="hello"))
    await client.app[keys.OUTBOX].deliver([row_id])
    (row,) = [r for r in await messages(client) if r.id == row_id]
    assert row.status == MessageStatus.PENDING and row.attempts == 1

    fake_telegram.fail(403)
    other = await reply(client, OutboundMessage(text="again"))
    outbox = client.app[keys.OUTBOX]
    await outbox.deliver([other])
    (row,) = [r for r in await messages(client) if r.id == other]
    assert row.status == MessageStatus.FAILED


async def test_polling_stores_each_update_once_and_advances_the_offset(
    make_client: ClientFactory, fake_telegram: FakeTelegram
) -> None:
    first, second = payload("telegram", "text"), payload("telegram", "document")
    fake_telegram.updates += [first, second, {"update_id": 10002, "bogus": True}]
    client = await make_client(TELEGRAM_MODE="polling", TELEGRAM_POLL_TIMEOUT_S=1)
    await wait_until(lambda: _true_when(10003 in fake_telegram.offsets), timeout_s=15)
    inbound = [r for r in await messages(client) if r.direction == "in"]
    assert [r.channel_message_id for r in inbound] == ["1111111:1365", "1111111:1367"]
    # the webhook route does not exist in polling mode
    assert (await post(client, first)).status == 404


async def test_customers_keep_one_identity_per_chat(client: TestClient) -> None:
    update = payload("telegram", "text")
    for n in range(3):
        update = copy.deepcopy(update)
        update["update_id"] += 1
        update["message"]["message_id"] += 1
        update["message"]["text"] = f"message {n}"
        assert (await post(client, update)).status == 200
    assert len(await customers(client)) == 1
    assert isinstance((await customers(client))[0], Customer)
