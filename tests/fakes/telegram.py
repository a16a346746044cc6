"""The Telegram Bot API (`https://core.telegram.org/bots/api`): `POST /bot<token>/<method>`
with form or JSON parameters, answers `{"ok": true, "result": …}` or
`{"ok": false, "error_code", "description", "parameters"?: {"retry_after"}}`."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .server import FakeProvider

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Switchboard", "username": "switchboard_bot"}


def error(code: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)


@dataclass
class FakeTelegram(FakeProvider):
    token: str = "123456:TEST-token"
    updates: list[dict[str, Any]] = field(default_factory=list)
    answered_callbacks: list[str] = field(default_factory=list)
    offsets: list[int | None] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._call)
        app.router.add_get("/bot{token}/{method}", self._call)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
            return data if isinstance(data, dict) else {}
        return dict(await request.post()) if request.can_read_body else dict(request.query)

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        if method == "getMe":
            return web.json_response({"ok": True, "result": BOT_USER})
        if method in ("deleteWebhook", "setWebhook"):
            return web.json_response({"ok": True, "result": True})
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "answerCallbackQuery":
            self.answered_callbacks.append(str(params.get("callback_query_id")))
            return web.json_response({"ok": True, "result": True})
        if method in ("sendMessage", "sendPhoto"):
            return await self._send(method, params)
        return error(404, "Not Found: method not found")

    async def _send(self, method: str, params: dict[str, Any]) -> web.Response:
        failure = await self.gate()
        if failure is not None:
            if failure.status == 429:
                return error(429, "Too Many Requests: retry later", failure.retry_after or 1)
            return error(failure.status, "Internal Server Error")
        chat_id = params.get("chat_id")
        field_name = "text" if method == "sendMessage" else "photo"
        if not chat_id or not params.get(field_name):
            return error(400, f"Bad Request: {field_name} is empty")
        if method == "sendMessage" and len(str(params["text"])) > 4096:
            return error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    return error(400, "Bad Request: BUTTON_DATA_INVALID")
        message_id = next(self._ids)
        self.received.append(
            {
                "method": method,
                "chat_id": str(chat_id),
                "text": params.get("text"),
                "photo": params.get("photo"),
                "reply_markup": markup,
                "message_id": message_id,
            }
        )
        result = {
            "message_id": message_id,
            "date": 1700000000,
            "chat": {"id": int(chat_id), "type": "private"},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
        self.offsets.append(offset)
        timeout = float(params.get("timeout") or 0)
        for _ in range(max(1, int(timeout / 0.05))):
            pending = [u for u in self.updates if offset is None or u["update_id"] >= offset]
            if pending:
                return web.json_response({"ok": True, "result": pending[:100]})
            await asyncio.sleep(0.05)
        return web.json_response({"ok": True, "result": []})
