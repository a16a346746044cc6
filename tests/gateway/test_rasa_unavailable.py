"""With Rasa down the customer hears a person will follow up, and nothing is lost."""

from __future__ import annotations

from sqlmodel import col, select

from conversations import Conversation, Message, Owner
from gateway import keys
from gateway.routing import BOT_UNAVAILABLE_TEXT
from handoff import QueueEntry

from .conftest import AppFactory


async def test_rest_customer_is_told_and_the_conversation_is_queued(
    aiohttp_client, make_app: AppFactory
) -> None:
    client = await aiohttp_client(make_app())
    first = await client.post("/webhooks/rest/webhook", json={"sender": "ann", "message": "hello"})
    assert first.status == 200
    assert await first.json() == [{"recipient_id": "ann", "text": BOT_UNAVAILABLE_TEXT}]
    second = await client.post(
        "/webhooks/rest/webhook", json={"sender": "ann", "message": "anyone there?"}
    )
    assert await second.json() == []  # now the queue's, not the bot's

    async with client.app[keys.DATABASE].transaction() as session:
        conversation = (await session.exec(select(Conversation))).one()
        entry = (await session.exec(select(QueueEntry))).one()
        texts = (await session.exec(select(Message.text).order_by(col(Message.id)))).all()
    assert conversation.owner == Owner.QUEUED
    assert entry.reason == "bot_unavailable"
    assert texts == ["hello", BOT_UNAVAILABLE_TEXT, "anyone there?"]


async def test_webchat_customer_gets_the_notice_pushed(
    aiohttp_client, make_app: AppFactory
) -> None:
    client = await aiohttp_client(make_app())
    ws = await client.ws_connect("/webchat/ws")
    await ws.send_json({"type": "hello", "session": "webann", "after_id": 0})
    assert (await ws.receive_json(timeout=5)) == {"type": "history", "messages": []}
    await ws.send_json({"type": "message", "client_id": "c1", "text": "hello"})
    frames = [await ws.receive_json(timeout=10) for _ in range(4)]
    assert frames[0]["type"] == "ack"
    pushed = [f["message"] for f in frames if f["type"] == "message"]
    assert [m["text"] for m in pushed] == [BOT_UNAVAILABLE_TEXT]
    assert pushed[0]["sender"] == "system"
    await ws.close()
