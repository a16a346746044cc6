"""Rasa's REST channel contract, so existing Rasa clients work against the gateway unchanged.

`POST /webhooks/rest/webhook` with `{"sender", "message", "metadata"?}` answers the bot's
replies as a JSON list of `{"recipient_id", "text"?, "buttons"?, "image"?, "custom"?}`.
The channel is request/response only: it cannot push a later message (an agent's reply).
"""

from __future__ import annotations

from typing import Any, Self

from aiohttp import web

from .base import ChannelAdapter, GatewayPort
from .envelope import InboundMessage, OutboundMessage
from .errors import PermanentDeliveryError
from .validation import (
    decode_json_object,
    dedupe_key,
    optional_object,
    require_id,
    require_text,
)


def rasa_rest_reply(recipient_id: str, message: OutboundMessage) -> dict[str, Any]:
    reply: dict[str, Any] = {"recipient_id": recipient_id}
    if message.text is not None:
        reply["text"] = message.text
    if message.buttons:
        reply["buttons"] = [{"title": b.title, "payload": b.payload} for b in message.buttons]
    if message.image:
        reply["image"] = message.image
    if message.custom is not None:
        reply["custom"] = dict(message.custom)
    return reply


class RestAdapter(ChannelAdapter):
    name = "rest"

    def __init__(self, max_text_chars: int = 4000) -> None:
        self.max_text_chars = max_text_chars

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        return cls(settings.max_text_chars)

    def mount(self, app: web.Application, port: GatewayPort) -> None:
        async def health(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def webhook(request: web.Request) -> web.Response:
            message = self.parse(await request.read())
            _, replies = await port.exchange(message)
            return web.json_response([rasa_rest_reply(message.address, r) for r in replies])

        app.router.add_get("/webhooks/rest", health)
        app.router.add_get("/webhooks/rest/", health)
        app.router.add_post("/webhooks/rest/webhook", webhook)

    def parse(self, raw: bytes) -> InboundMessage:
        data = decode_json_object(raw)
        sender = require_id(data, "sender")
        text = require_text(data, "message", self.max_text_chars)
        metadata = optional_object(data, "metadata")
        return InboundMessage(
            channel=self.name,
            channel_message_id=dedupe_key(data, sender),
            address=sender,
            text=text,
            metadata=metadata,
        )

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        raise PermanentDeliveryError(
            "the REST channel answers in the HTTP response and cannot push"
        )
