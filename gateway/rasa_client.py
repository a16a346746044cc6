"""The gateway's only way to Rasa: its REST channel and its HTTP API."""

from __future__ import annotations

from typing import Any

import aiohttp

from connectors.envelope import Button, OutboundMessage


class RasaUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


def parse_rasa_reply(reply: dict[str, Any]) -> OutboundMessage:
    buttons = tuple(
        Button(str(b.get("title", "")), str(b.get("payload", "")))
        for b in reply.get("buttons") or ()
        if isinstance(b, dict)
    )
    custom = reply.get("custom")
    if custom is None and reply.get("attachment") is not None:
        custom = {"attachment": reply["attachment"]}
    text = reply.get("text")
    return OutboundMessage(
        text=text if isinstance(text, str) else None,
        buttons=buttons,
        image=reply.get("image") if isinstance(reply.get("image"), str) else None,
        custom=custom if isinstance(custom, dict) else None,
    )


class RasaClient:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._http: aiohttp.ClientSession | None = None
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def start(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("RasaClient used before start()")
        return self._http

    async def send(
        self, sender_id: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[OutboundMessage]:
        body = {"sender": sender_id, "message": text, "metadata": metadata or {}}
        try:
            async with self.http.post(
                f"{self.base_url}/webhooks/rest/webhook", json=body, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                replies = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(replies, list):
            raise RasaUnavailable("Rasa's reply is not a list")
        return [parse_rasa_reply(r) for r in replies if isinstance(r, dict)]

    async def version(self) -> str:
        """Rasa's root answers `Hello from Rasa: <version>` once the server is up."""
        try:
            async with self.http.get(
                f"{self.base_url}/", timeout=aiohttp.ClientTimeout(total=3)
            ) as response:
                text = await response.text()
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa answered HTTP {response.status}")
                return text.rsplit(":", 1)[-1].strip()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
