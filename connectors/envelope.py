"""The one inbound envelope and the one channel-neutral reply every adapter speaks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # image | document | audio | video | file
    url: str | None = None
    name: str | None = None
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message as every channel hands it to the gateway.

    `(channel, channel_message_id)` is the dedupe key everywhere; `address` is the
    customer's identity on that channel (chat id, phone number, session id, …).
    `payload` is set when the customer pressed a quick reply. `verified` holds the
    contacts the channel itself vouches for the sender (`phone`, `email`): set by the
    adapter from the provider's own fields, never from what a customer typed or a client
    sent; it links customers across channels.
    """

    channel: str
    channel_message_id: str
    address: str
    text: str
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    received_at: datetime = field(default_factory=utcnow)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    verified: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply in neutral form; adapters render it for their channel.

    `message_id`, `sender` and `created_at` identify the stored row it came from.
    """

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: Mapping[str, Any] | None = None
    message_id: int | None = None
    sender: str = "bot"
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One stored message of a conversation, in either direction, as a channel shows it."""

    id: int
    direction: str  # in | out
    sender: str  # customer | bot | agent | system
    text: str | None
    buttons: tuple[Button, ...]
    image: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": self.direction,
            "sender": self.sender,
            "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
            "image": self.image,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Accepted:
    """What storing an inbound message produced."""

    message_id: int
    conversation_id: str
    duplicate: bool
