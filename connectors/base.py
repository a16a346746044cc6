"""The adapter contract: each channel mounts its inbound routes and sends replies.

Adapters never import the gateway: the gateway hands each one a `GatewayPort` when it
mounts it (the way Rasa hands `on_new_message` to a channel's blueprint).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol, Self

import aiohttp
from aiohttp import web

from .envelope import Accepted, HistoryItem, InboundMessage, OutboundMessage


class GatewayPort(Protocol):
    """What the gateway offers adapters."""

    async def accept(self, message: InboundMessage) -> Accepted:
        """Store the message (deduped) and route it in the background."""

    async def exchange(self, message: InboundMessage) -> tuple[Accepted, list[OutboundMessage]]:
        """Store the message and route it now; return the replies (synchronous channels)."""

    async def history(self, channel: str, address: str, after_id: int = 0) -> list[HistoryItem]:
        """Messages of the address's current conversation with an id above `after_id`."""

    async def record(self, message: InboundMessage) -> Accepted:
        """Store the message (deduped) without routing it: a keyword the channel answers."""

    async def last_inbound_at(self, channel: str, address: str) -> datetime | None:
        """When the address last wrote on the channel."""

    async def set_opt_out(self, channel: str, address: str, opted_out: bool) -> None:
        """Remember that the address asked (not) to be messaged on the channel."""

    async def is_opted_out(self, channel: str, address: str) -> bool:
        """Whether the address asked not to be messaged on the channel."""

    async def latest_inbound_metadata(self, channel: str, address: str) -> Mapping[str, Any]:
        """Channel metadata of the address's latest inbound message (email threads on it)."""


class ChannelAdapter(ABC):
    name: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        """Build from the gateway's settings; no I/O here."""
        return cls()

    @abstractmethod
    def mount(self, app: web.Application, port: GatewayPort) -> None:
        """Add this channel's inbound routes to the gateway application."""

    @abstractmethod
    async def send(self, address: str, message: OutboundMessage) -> str | None:
        """Deliver one reply; return the provider's message id when it gives one.

        Raise `RetryableDeliveryError` or `PermanentDeliveryError` on failure.
        """

    async def start(self, http: aiohttp.ClientSession) -> None:
        """Called once the event loop runs, with the gateway's one HTTP client."""

    async def typing(self, address: str, active: bool) -> None:
        """Show or hide a typing indicator where the channel has one."""

    async def close(self) -> None:
        """Release connections at shutdown."""

    @staticmethod
    def render_text(message: OutboundMessage) -> str:
        """Plain-text rendering for channels without buttons: numbered options."""
        lines = [message.text or ""]
        if message.buttons:
            lines.append("")
            lines += [f"{i}. {b.title}" for i, b in enumerate(message.buttons, start=1)]
        if message.image:
            lines.append(message.image)
        return "\n".join(lines).strip()
