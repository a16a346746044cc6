"""The first-party web chat: a JSON protocol over one websocket per browser tab.

Client → server: `hello {session, after_id}`, then `message {client_id, text, payload?}`.
Server → client: `history`, `ack`, `message`, `typing`, `error`.
A browser's session id is its address; `session:client_id` is the dedupe key, so a message
re-sent after a reconnect is stored once.
"""

from __future__ import annotations

import json
import weakref
from collections import defaultdict
from typing import Any, Self

import aiohttp
import structlog
from aiohttp import WSMsgType, web

from .base import ChannelAdapter, GatewayPort
from .envelope import HistoryItem, InboundMessage, OutboundMessage
from .errors import PayloadError
from .validation import optional_payload, require_id, require_text

log = structlog.get_logger(__name__)


def _history_json(message: OutboundMessage) -> dict[str, Any]:
    return {
        "id": message.message_id,
        "direction": "out",
        "sender": message.sender,
        "text": message.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
        "image": message.image,
        "created_at": message.created_at.isoformat(),
    }


class WebchatAdapter(ChannelAdapter):
    name = "webchat"

    def __init__(self, max_text_chars: int = 4000, max_frame_bytes: int = 64 * 1024) -> None:
        self.max_text_chars = max_text_chars
        self.max_frame_bytes = max_frame_bytes
        self._sockets: defaultdict[str, weakref.WeakSet[web.WebSocketResponse]] = defaultdict(
            weakref.WeakSet
        )

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        return cls(settings.max_text_chars, settings.max_body_bytes)

    def mount(self, app: web.Application, port: GatewayPort) -> None:
        async def handler(request: web.Request) -> web.WebSocketResponse:
            return await self._serve(request, port)

        app.router.add_get("/webchat/ws", handler)

    async def _serve(self, request: web.Request, port: GatewayPort) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=self.max_frame_bytes)
        await ws.prepare(request)
        session: str | None = None
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    if frame.type == WSMsgType.BINARY:
                        await _send_error(ws, "malformed", "binary frames are not supported")
                    continue
                data: object = None
                try:
                    data = json.loads(frame.data)
                    if not isinstance(data, dict):
                        raise PayloadError("a frame must be a JSON object")
                    session = await self._handle(ws, port, session, data)
                except (json.JSONDecodeError, PayloadError) as exc:
                    detail = exc.detail if isinstance(exc, PayloadError) else "invalid JSON"
                    code = exc.code if isinstance(exc, PayloadError) else "invalid_json"
                    client_id = data.get("client_id") if isinstance(data, dict) else None
                    await _send_error(ws, code, detail, client_id)
        finally:
            if session is not None:
                self._sockets[session].discard(ws)
                if not self._sockets[session]:
                    self._sockets.pop(session, None)
        return ws

    async def _handle(
        self, ws: web.WebSocketResponse, port: GatewayPort, session: str | None, data: dict
    ) -> str | None:
        kind = data.get("type")
        if kind == "hello":
            session = require_id(data, "session")
            after_id = data.get("after_id", 0)
            if not isinstance(after_id, int) or isinstance(after_id, bool) or after_id < 0:
                raise PayloadError("'after_id' must be a non-negative integer")
            self._sockets[session].add(ws)
            items = await port.history(self.name, session, after_id)
            await ws.send_json({"type": "history", "messages": [i.to_json() for i in items]})
            return session
        if kind == "message":
            if session is None:
                raise PayloadError("send hello before messages", code="no_session")
            client_id = require_id(data, "client_id")
            text = require_text(data, "text", self.max_text_chars)
            payload = optional_payload(data)
            message = InboundMessage(
                channel=self.name,
                channel_message_id=f"{session}:{client_id}",
                address=session,
                text=text,
                payload=payload,
            )
            accepted = await port.accept(message)
            await ws.send_json({"type": "ack", "client_id": client_id, "id": accepted.message_id})
            if not accepted.duplicate:
                echo = HistoryItem(
                    accepted.message_id, "in", "customer", text, (), None, message.received_at
                )
                await self._broadcast(
                    session, {"type": "message", "message": echo.to_json()}, skip=ws
                )
            return session
        raise PayloadError("'type' must be hello or message", code="unknown_type")

    async def _broadcast(
        self, session: str, frame: dict[str, Any], skip: web.WebSocketResponse | None = None
    ) -> int:
        sent = 0
        for ws in list(self._sockets.get(session, ())):
            if ws is skip or ws.closed:
                continue
            try:
                await ws.send_json(frame)
                sent += 1
            except (ConnectionError, RuntimeError):
                log.info("webchat.socket_gone", session=session)
        return sent

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        # A browser that is not connected reads the stored message from history when it returns.
        await self._broadcast(address, {"type": "message", "message": _history_json(message)})
        return None

    async def typing(self, address: str, active: bool) -> None:
        await self._broadcast(address, {"type": "typing", "active": active})

    async def close(self) -> None:
        for sockets in list(self._sockets.values()):
            for ws in list(sockets):
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def _send_error(
    ws: web.WebSocketResponse, code: str, detail: str, client_id: object = None
) -> None:
    frame: dict[str, Any] = {"type": "error", "error": code, "detail": detail}
    if isinstance(client_id, str):
        frame["client_id"] = client_id
    await ws.send_json(frame)
