"""Live console updates over websockets. A socket re-reads the database when a change it
shows is announced (`handoff.changes`: LISTEN/NOTIFY across gateway processes on
PostgreSQL, in-process on SQLite), at most every a short gap, and every
`HANDOFF_LIVE_REFRESH_S` anyway; it sends a frame only when its content changed. Every
gateway process serves every agent, whichever process took the customer's message."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import WSMsgType, web
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts import require_role
from conversations import Conversation, Owner, store
from gateway import keys

from .changes import EVERYTHING, QUEUE, Changes
from .console_api import dumps, ensure_agent, queue_snapshot, supervisor_snapshot

log = structlog.get_logger(__name__)
AGENT_GAP_S = 0.25  # at most four reads a second per agent socket, however busy the queue
SUPERVISOR_GAP_S = 1.0  # the supervisor's frame computes today's metrics
CHANGES = web.AppKey("handoff_changes", Changes)


def agent_wants(topic: str, watch: str | None) -> bool:
    if topic == QUEUE:
        return True
    kind, _, conversation = topic.partition(":")
    return kind == "conversation" and watch is not None and conversation in ("", watch)


async def _watched(
    session: AsyncSession, conversation_id: str, user_id: int, supervisor: bool
) -> dict[str, Any] | None:
    conversation = await session.get(Conversation, conversation_id[:32])
    if conversation is None:
        return None
    mine = conversation.owner == Owner.AGENT and conversation.agent_id == user_id
    if not (mine or supervisor or conversation.owner == Owner.QUEUED):
        return None
    messages = await store.conversation_messages(session, conversation.id)
    events = await store.events(session, conversation.id)
    return {
        "conversation_id": conversation.id,
        "owner": conversation.owner,
        "agent_id": conversation.agent_id,
        "messages": [
            {
                "id": m.id,
                "direction": m.direction,
                "sender": m.sender,
                "channel": m.channel,
                "text": m.text,
                "status": m.status,
            }
            for m in messages
        ],
        "notes": [
            {"agent": e.data.get("agent"), "text": e.data.get("text")}
            for e in events
            if e.type == "note.added"
        ],
    }


async def _stream(
    request: web.Request,
    snapshot: Any,
    wants: Callable[[str, str | None], bool],
    gap_s: float,
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    state: dict[str, Any] = {"watch": None}
    subscription = request.app[CHANGES].subscribe(lambda topic: wants(topic, state["watch"]))
    refresh_s = request.app[keys.SETTINGS].handoff_live_refresh_s
    loop = asyncio.get_running_loop()

    async def read() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
            except ValueError:
                await ws.send_json({"type": "error", "detail": "frames must be JSON"})
                continue
            watch = data.get("watch") if isinstance(data, dict) else None
            if watch is None or isinstance(watch, str):
                state["watch"] = watch[:32] if watch else None
                state["last"] = None
                subscription.offer(EVERYTHING)

    reader = asyncio.create_task(read())
    try:
        while not ws.closed and not reader.done():
            began = loop.time()
            async with request.app[keys.DATABASE].snapshot() as session:
                frame = await snapshot(session, state)
            text = dumps(frame)
            if text != state.get("last"):
                state["last"] = text
                await ws.send_str(text)
            changed = asyncio.create_task(subscription.wait(refresh_s))
            await asyncio.wait({changed, reader}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            await asyncio.sleep(max(0.0, gap_s - (loop.time() - began)))
    except (ConnectionResetError, RuntimeError) as exc:
        log.info("handoff.live_closed", error=str(exc))
    finally:
        subscription.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return ws


@require_role("agent")
async def agent_socket(request: web.Request) -> web.StreamResponse:
    user = request["user"]
    async with request.app[keys.DATABASE].transaction() as session:
        await ensure_agent(session, user)

    async def snapshot(session: AsyncSession, state: dict[str, Any]) -> dict[str, Any]:
        frame = {"type": "queue", **await queue_snapshot(session, user.id)}
        if state["watch"]:
            frame["watched"] = await _watched(
                session, state["watch"], user.id, user.has_role("supervisor")
            )
        return frame

    return await _stream(request, snapshot, agent_wants, AGENT_GAP_S)


@require_role("supervisor")
async def supervisor_socket(request: web.Request) -> web.StreamResponse:
    threshold = request.app[keys.SETTINGS].handoff_service_level_s

    async def snapshot(session: AsyncSession, state: dict[str, Any]) -> dict[str, Any]:
        return {"type": "supervisor", **await supervisor_snapshot(session, threshold)}

    return await _stream(request, snapshot, lambda _topic, _watch: True, SUPERVISOR_GAP_S)
