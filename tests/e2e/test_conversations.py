"""Whole conversations: a real Rasa server trained on the project's data behind the gateway
process, over the REST contract, the widget's websocket and Socket.IO."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import socketio

from bot.actions.fallback import CLARIFY_TEXT as FALLBACK_CLARIFY_TEXT
from bot.actions.faq import NOT_FOUND_TEXT as FAQ_NOT_FOUND_TEXT
from bot.actions.handoff import HANDOFF_TEXT
from gateway.settings import Settings
from knowledge import load_entries
from tests.harness import GatewayProcess

from .conftest import query, response_texts, rest

SEED = {entry.id: entry for entry in load_entries(Settings().faq_seed_path)}


def sender() -> str:
    return uuid.uuid4().hex[:16]


async def test_health_reports_database_and_rasa(gateway: GatewayProcess) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/healthz") as response:
        body = await response.json()
    assert response.status == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["rasa"]["ok"]
    assert body["rasa"]["version"].startswith("3.6")


async def test_greeting_and_goodbye_over_rest(gateway: GatewayProcess) -> None:
    customer = sender()
    greeting = await rest(gateway, customer, "hello there")
    assert greeting[0]["recipient_id"] == customer
    assert greeting[0]["text"] in response_texts("utter_greet")
    goodbye = await rest(gateway, customer, "bye, see you")
    assert goodbye[0]["text"] in response_texts("utter_goodbye")


async def test_faq_question_is_answered_from_the_knowledge_base(gateway: GatewayProcess) -> None:
    entry = SEED["shipping-times"]
    replies = await rest(gateway, sender(), entry.question)
    assert replies and replies[0]["text"].startswith(entry.answer)
    events = query(
        gateway,
        "SELECT data FROM conversation_event WHERE type = 'faq.answered' AND data LIKE ?",
        '%"shipping-times"%',
    )
    assert events, "the answer is recorded with its entry"


async def test_help_offers_quick_replies_that_work(gateway: GatewayProcess) -> None:
    customer = sender()
    help_reply = await rest(gateway, customer, "what can you do?")
    assert help_reply[0]["text"] in response_texts("utter_help")
    button = next(b for b in help_reply[0]["buttons"] if "faq_id" in b["payload"])
    answer = await rest(gateway, customer, button["payload"])
    entry_id = button["payload"].split('"faq_id":"', 1)[1].split('"', 1)[0]
    assert answer[0]["text"].startswith(SEED[entry_id].answer)


async def test_customer_asking_for_a_person_is_handed_off(gateway: GatewayProcess) -> None:
    customer = sender()
    replies = await rest(gateway, customer, "I want to talk to a real person")
    assert [r["text"] for r in replies] == [HANDOFF_TEXT]
    assert await rest(gateway, customer, "hello? my parcel is lost") == []  # for people now
    rows = query(
        gateway,
        "SELECT c.owner, q.reason FROM conversation c "
        "JOIN channel_identity i ON i.id = c.identity_id "
        "JOIN queue_entry q ON q.conversation_id = c.id WHERE i.external_id = ?",
        customer,
    )
    assert rows == [("queued", "customer_request")]
    texts = query(
        gateway,
        "SELECT m.text FROM message m JOIN conversation c ON c.id = m.conversation_id "
        "JOIN channel_identity i ON i.id = c.identity_id WHERE i.external_id = ? "
        "AND m.sender <> 'system' ORDER BY m.id",  # not the queue's place notices
        customer,
    )
    assert [t for (t,) in texts][-1] == "hello? my parcel is lost"


async def test_not_understood_twice_offers_a_person(gateway: GatewayProcess) -> None:
    """Rasa's two-stage fallback (guesses, rephrase, guesses, then a person), entered the
    way low NLU confidence enters it."""
    customer = sender()
    first = await rest(gateway, customer, "/nlu_fallback")
    assert first[0]["text"] == FALLBACK_CLARIFY_TEXT
    assert first[0]["buttons"][-1]["payload"] == "/out_of_scope"
    rephrase = await rest(gateway, customer, "/out_of_scope")
    assert rephrase[0]["text"] in response_texts("utter_ask_rephrase")
    again = await rest(gateway, customer, "/nlu_fallback")
    assert again[0]["text"] == FALLBACK_CLARIFY_TEXT
    final = await rest(gateway, customer, "/out_of_scope")
    assert final[0]["text"] in response_texts("utter_default")
    assert "/human_handoff" in [b["payload"] for b in final[0]["buttons"]]


async def test_question_without_an_answer_offers_a_person(gateway: GatewayProcess) -> None:
    customer = sender()
    replies = await rest(gateway, customer, "/faq")  # a question the knowledge base cannot match
    assert replies[0]["text"] == FAQ_NOT_FOUND_TEXT
    yes = next(b for b in replies[0]["buttons"] if b["payload"] == "/human_handoff")
    assert [r["text"] for r in await rest(gateway, customer, yes["payload"])] == [HANDOFF_TEXT]


async def test_gibberish_gets_no_confident_faq_answer(gateway: GatewayProcess) -> None:
    replies = await rest(gateway, sender(), "qwv zzkp flarb")
    answers = {entry.answer for entry in SEED.values()}
    assert replies and not any(r.get("text", "").split("\n")[0] in answers for r in replies)


async def _frames_until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await ws.receive_json(timeout=30)
        frames.append(frame)
        if frame["type"] == kind and (kind != "message" or frame["message"]["direction"] == "out"):
            return frames


async def test_widget_websocket_conversation_survives_a_gateway_restart(
    gateway: GatewayProcess,
) -> None:
    session = sender()
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{gateway.url}/webchat/ws") as ws:
            await ws.send_json({"type": "hello", "session": session, "after_id": 0})
            assert (await ws.receive_json(timeout=10))["messages"] == []
            await ws.send_json({"type": "message", "client_id": "c1", "text": "hi!"})
            frames = await _frames_until(ws, "message")
            assert frames[0] == {"type": "ack", "client_id": "c1", "id": frames[0]["id"]}
            assert {"type": "typing", "active": True} in frames
            assert frames[-1]["message"]["text"] in response_texts("utter_greet")

        gateway.restart()

        async with http.ws_connect(f"{gateway.url}/webchat/ws") as ws:
            await ws.send_json({"type": "hello", "session": session, "after_id": 0})
            history = (await ws.receive_json(timeout=10))["messages"]
            assert [m["direction"] for m in history] == ["in", "out"]
            assert history[0]["text"] == "hi!"
            # a message re-sent with the same client id after the restart is not stored twice
            await ws.send_json({"type": "message", "client_id": "c1", "text": "hi!"})
            ack = await ws.receive_json(timeout=10)
            assert ack == {"type": "ack", "client_id": "c1", "id": history[0]["id"]}
            await ws.send_json({"type": "message", "client_id": "c2", "text": "thank you"})
            frames = await _frames_until(ws, "message")
            assert frames[-1]["message"]["text"] in response_texts("utter_youre_welcome")


async def test_socketio_client_speaks_rasas_protocol(gateway: GatewayProcess) -> None:
    session = sender()
    confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    uttered: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client = socketio.AsyncClient()

    @client.on("session_confirm")
    async def on_confirm(data: Any) -> None:
        confirmed.set_result(data)

    @client.on("bot_uttered")
    async def on_uttered(data: dict[str, Any]) -> None:
        await uttered.put(data)

    await client.connect(gateway.url, socketio_path="/socket.io", transports=["websocket"])
    try:
        await client.emit("session_request", {"session_id": session})
        assert await asyncio.wait_for(confirmed, 10) == session
        await client.emit(
            "user_uttered", {"message": "what can you help me with", "session_id": session}
        )
        reply = await asyncio.wait_for(uttered.get(), 30)
        assert reply["text"] in response_texts("utter_help")
        assert {"content_type", "title", "payload"} <= set(reply["quick_replies"][0])
    finally:
        await client.disconnect()
    stored = query(
        gateway,
        "SELECT m.direction FROM message m JOIN conversation c ON c.id = m.conversation_id "
        "JOIN channel_identity i ON i.id = c.identity_id "
        "WHERE i.channel = 'socketio' AND i.external_id = ? ORDER BY m.id",
        session,
    )
    assert [d for (d,) in stored] == ["in", "out"]
