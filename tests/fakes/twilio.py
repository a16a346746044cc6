"""Twilio's Programmable Messaging API: `POST /2010-04-01/Accounts/<sid>/Messages.json`,
form-encoded, HTTP basic auth with the account SID and auth token; 201 with the message
resource, or `{"code", "message", "more_info", "status"}` (21610: unsubscribed recipient,
20429: too many requests)."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .server import FakeProvider


def twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
        },
        status=status,
    )


@dataclass
class FakeTwilio(FakeProvider):
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "twilio-test-token"
    unsubscribed: set[str] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    async def _create(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return twilio_error(401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return twilio_error(404, 20404, "The requested resource was not found")
        failure = await self.gate()
        if failure is not None:
            if failure.status == 429:
                return twilio_error(429, 20429, "Too Many Requests")
            return twilio_error(failure.status, 20500, "Internal Server Error")
        form = await request.post()
        to, sender, body = form.get("To"), form.get("From"), form.get("Body")
        if not to or not sender:
            return twilio_error(400, 21604, "A 'To' and a 'From' phone number are required")
        if not body and not form.get("MediaUrl"):
            return twilio_error(400, 21602, "Message body is required")
        if to in self.unsubscribed:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        if body and len(str(body)) > 1600:
            return twilio_error(400, 21617, "The concatenated message body exceeds 1600 characters")
        sid = f"SM{next(self._ids):032x}"
        self.received.append(
            {
                "sid": sid,
                "To": to,
                "From": sender,
                "Body": body,
                "MediaUrl": form.getall("MediaUrl", []),
            }
        )
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": sender,
                "body": body,
                "status": "queued",
                "num_media": "0",
                "num_segments": "1",
            },
            status=201,
        )
