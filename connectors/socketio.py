"""Rasa's Socket.IO channel protocol at `/socket.io/` (python-socketio in aiohttp mode).

`session_request {session_id}` → `session_confirm`; `user_uttered {message, session_id}` is a
customer message; replies are emitted as `bot_uttered` in Rasa's shapes (`text`,
`quick_replies`, `attachment`). The session id is the customer's address.
"""

from __future__ import annotations

import uuid
from typing import Any, Self

import socketio
import structlog
from aiohttp import web

from .base import ChannelAdapter, GatewayPort
from .envelope import InboundMessage, OutboundMessage
from .errors import PayloadError
from .validation import dedupe_key, optional_object, require_id, require_text

log = structlog.get_logger(__name__)


def bot_uttered(message: OutboundMessage) -> dict[str, Any]:
    if message.custom is not None and message.text is None:
        return dict(message.custom)
    if message.image and message.text is None:
        return {"attachment": {"type": "image", "payload": {"src": message.image}}}
    data: dict[str, Any] = {"text": message.text or ""}
    if message.buttons:
        data["quick_replies"] = [
            {"content_type": "text", "title": b.title, "payload": b.payload}
            for b in message.buttons
        ]
    if message.image:
        data["attachment"] = {"type": "image", "payload": {"src": message.image}}
    return data


class SocketIOAdapter(ChannelAdapter):
    name = "socketio"

    def __init__(self, max_text_chars: int = 4000, max_frame_bytes: int = 64 * 1024) -> None:
        self.max_text_chars = max_text_chars
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins="*",
            max_http_buffer_size=max_frame_bytes,
            logger=False,
            engineio_logger=False,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        return cls(settings.max_text_chars, settings.max_body_bytes)

    def mount(self, app: web.Application, port: GatewayPort) -> None:
        sio = self.sio
        sio.attach(app, socketio_path="socket.io")

        @sio.on("session_request")
        async def session_request(sid: str, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            try:
                session_id = require_id({"session_id": session_id}, "session_id")
            except PayloadError:
                session_id = uuid.uuid4().hex
            await sio.save_session(sid, {"session_id": session_id})
            await sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: Any) -> None:
            try:
                message = await self._parse(sid, data)
            except PayloadError as exc:
                await sio.emit("error", {"error": exc.code, "detail": exc.detail}, room=sid)
                return
            await port.accept(message)

    async def _parse(self, sid: str, data: Any) -> InboundMessage:
        if not isinstance(data, dict):
            raise PayloadError("user_uttered needs an object")
        session = await self.sio.get_session(sid)
        session_id = session.get("session_id") if session else None
        if session_id is None:
            raise PayloadError("send session_request first", code="no_session")
        text = require_text(data, "message", self.max_text_chars)
        metadata = optional_object(data, "customData")
        return InboundMessage(
            channel=self.name,
            channel_message_id=dedupe_key(data, session_id),
            address=session_id,
            text=text,
            metadata=metadata,
        )

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        await self.sio.emit("bot_uttered", bot_uttered(message), room=address)
        return None
