"""Hostile and malformed input gets a clear JSON error and stores nothing."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import func, select

from conversations import ChannelIdentity, Conversation, Message
from gateway import keys

from .conftest import AppFactory

REST = "/webhooks/rest/webhook"


async def stored_rows(client: TestClient) -> tuple[int, int, int]:
    db = client.app[keys.DATABASE]
    async with db.transaction() as session:
        counts = []
        for model in (ChannelIdentity, Conversation, Message):
            counts.append((await session.exec(select(func.count()).select_from(model))).one())
    return counts[0], counts[1], counts[2]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'["a", "list"]', 400, "invalid_json"),
        (b'{"sender": "a\xff", "message": "\xfe"}', 400, "invalid_utf8"),
        (b'{"message": "hello"}', 400, "invalid_field"),
        (b'{"sender": "alice"}', 400, "invalid_field"),
        (b'{"sender": "alice", "message": ""}', 400, "invalid_field"),
        (b'{"sender": "alice", "message": 42}', 400, "invalid_field"),
        (b'{"sender": "al ice/../x", "message": "hi"}', 400, "invalid_field"),
        (b'{"sender": "alice", "message": "nul\\u0000byte"}', 400, "invalid_field"),
        (b'{"sender": "alice", "message": "hi", "metadata": "nope"}', 400, "invalid_field"),
        (b'{"sender": "alice", "message": "hi", "message_id": {"x": 1}}', 400, "invalid_field"),
        (b'{"sender": "alice", "message": "' + b"x" * 5000 + b'"}', 413, "too_long"),
        (b'{"sender": "alice", "message": "' + b"x" * (1024 * 1024) + b'"}', 413, None),
    ],
)
async def test_rest_rejects_bad_bodies_and_stores_nothing(
    aiohttp_client, make_app: AppFactory, body: bytes, status: int, code: str | None
) -> None:
    client = await aiohttp_client(make_app())
    response = await client.post(REST, data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    error = await response.json()
    assert error["detail"]
    if code is not None:
        assert error["error"] == code
    assert await stored_rows(client) == (0, 0, 0)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/page", 404), ("DELETE", REST, 405), ("GET", "/static/../Makefile", 404)],
)
async def test_unknown_routes_answer_json(
    aiohttp_client, make_app: AppFactory, method: str, path: str, status: int
) -> None:
    client = await aiohttp_client(make_app())
    response = await client.request(method, path)
    assert response.status == status
    assert (await response.json())["error"]


async def test_webchat_rejects_bad_frames_and_keeps_the_socket(
    aiohttp_client, make_app: AppFactory
) -> None:
    client = await aiohttp_client(make_app())
    ws = await client.ws_connect("/webchat/ws")
    bad_frames = [
        "not json",
        "[1, 2]",
        '{"type": "message", "client_id": "c1", "text": "before hello"}',
        '{"type": "launch_missiles"}',
        '{"type": "hello", "session": "bad session id!"}',
        '{"type": "hello", "session": "s1", "after_id": -4}',
    ]
    for frame in bad_frames:
        await ws.send_str(frame)
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error", frame
    await ws.send_json({"type": "hello", "session": "s1"})
    assert (await ws.receive_json(timeout=5))["type"] == "history"
    for text in ["", " ", "x" * 4001]:
        await ws.send_json({"type": "message", "client_id": "c9", "text": text})
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error" and reply["client_id"] == "c9"
    await ws.send_bytes(b"\x00\x01")
    assert (await ws.receive_json(timeout=5))["type"] == "error"
    assert await stored_rows(client) == (0, 0, 0)
    await ws.close()


async def test_webchat_closes_a_socket_sending_an_oversized_frame(
    aiohttp_client, make_app: AppFactory
) -> None:
    client = await aiohttp_client(make_app())
    ws = await client.ws_connect("/webchat/ws")
    await ws.send_json({"type": "hello", "session": "s2"})
    await ws.receive_json(timeout=5)
    await ws.send_str('{"type": "message", "client_id": "c1", "text": "' + "x" * 200_000 + '"}')
    closing = await ws.receive(timeout=5)
    assert closing.type.name in {"CLOSE", "CLOSED", "CLOSING"}
    assert await stored_rows(client) == (0, 0, 0)
    health = await client.get("/healthz")  # the gateway itself carries on
    assert (await health.json())["database"]["ok"] is True


async def test_a_replayed_rest_message_is_stored_and_answered_once(
    aiohttp_client, make_app: AppFactory
) -> None:
    client = await aiohttp_client(make_app())
    body = {"sender": "replayer", "message": "hello", "message_id": "m-1"}
    first = await client.post(REST, json=body)
    replay = await client.post(REST, json=body)
    assert first.status == replay.status == 200
    assert len(await first.json()) == 1
    assert await replay.json() == []
    assert await stored_rows(client) == (1, 1, 2)  # the message and its one reply
