"""Meta's Graph API send endpoints: WhatsApp Cloud API `POST /<version>/<phone-number-id>/
messages` and Messenger's Send API `POST /<version>/me/messages`, bearer-token authenticated;
errors are `{"error": {"message", "type", "code", "fbtrace_id"}}`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .server import FakeProvider


def graph_error(status: int, code: int, message: str) -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEf",
        }
    }
    return web.json_response(body, status=status)


@dataclass
class FakeGraph(FakeProvider):
    token: str = "graph-test-token"
    phone_number_id: str = "1098765"
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/me/messages", self._messenger)
        app.router.add_post("/{version}/{phone_number_id}/messages", self._whatsapp)

    async def _authorised(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return graph_error(401, 190, "Invalid OAuth access token.")
        try:
            body = await request.json()
        except ValueError:
            return graph_error(400, 100, "Invalid JSON")
        return body if isinstance(body, dict) else graph_error(400, 100, "Invalid parameter")

    async def _failure(self) -> web.Response | None:
        failure = await self.gate()
        if failure is None:
            return None
        if failure.status == 429:
            return graph_error(429, 130429, "Rate limit hit")
        if failure.status >= 500:
            return graph_error(failure.status, 2, "Service temporarily unavailable")
        return graph_error(failure.status, 100, "Invalid parameter")

    async def _whatsapp(self, request: web.Request) -> web.Response:
        body = await self._authorised(request)
        if isinstance(body, web.Response):
            return body
        if request.match_info["phone_number_id"] != self.phone_number_id:
            return graph_error(400, 100, "Unsupported post request.")
        if (failure := await self._failure()) is not None:
            return failure
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return graph_error(400, 100, "The parameter messaging_product is required.")
        kind = body.get("type", "text")
        problem = _check_whatsapp(kind, body.get(kind))
        if problem:
            return graph_error(400, 131009, problem)
        wamid = f"wamid.fake{next(self._ids)}="
        self.received.append({"api": "whatsapp", "id": wamid, **body})
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }
        )

    async def _messenger(self, request: web.Request) -> web.Response:
        body = await self._authorised(request)
        if isinstance(body, web.Response):
            return body
        if (failure := await self._failure()) is not None:
            return failure
        recipient = body.get("recipient")
        message = body.get("message")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            return graph_error(400, 100, "The parameter recipient is required")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            return graph_error(400, 100, "The parameter message is required")
        if len(message.get("text", "")) > 2000:
            return graph_error(400, 100, "param message[text] must be UTF-8 encoded, max 2000")
        quick = message.get("quick_replies", [])
        if len(quick) > 13 or any(len(q.get("title", "")) > 20 for q in quick):
            return graph_error(400, 100, "Invalid quick_replies")
        mid = f"m_fake{next(self._ids)}"
        self.received.append({"api": "messenger", "message_id": mid, **body})
        return web.json_response({"recipient_id": recipient["id"], "message_id": mid})


def _check_whatsapp(kind: str, spec: Any) -> str | None:
    if not isinstance(spec, dict):
        return f"Parameter '{kind}' is required."
    if kind == "text":
        body = spec.get("body")
        return None if isinstance(body, str) and 0 < len(body) <= 4096 else "Invalid text body"
    if kind == "interactive":
        action = spec.get("action", {})
        if spec.get("type") == "button":
            buttons = action.get("buttons", [])
            ok = 0 < len(buttons) <= 3 and all(len(b["reply"]["title"]) <= 20 for b in buttons)
            return None if ok else "Invalid buttons"
        if spec.get("type") == "list":
            rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
            ok = 0 < len(rows) <= 10 and all(len(r["title"]) <= 24 for r in rows)
            return None if ok else "Invalid list"
        return "Invalid interactive type"
    if kind == "template":
        return None if spec.get("name") and spec.get("language") else "Invalid template"
    if kind == "image":
        return None if spec.get("link") or spec.get("id") else "Invalid image"
    return f"Unsupported message type {kind}"
