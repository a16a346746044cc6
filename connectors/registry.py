"""Channel name → adapter class. The gateway builds the enabled channels from this table."""

from __future__ import annotations

from typing import Any

from .base import ChannelAdapter
from .email import EmailAdapter
from .messenger import MessengerAdapter
from .rest import RestAdapter
from .sms import SmsAdapter
from .socketio import SocketIOAdapter
from .telegram import TelegramAdapter
from .webchat import WebchatAdapter
from .whatsapp import WhatsAppAdapter

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    cls.name: cls
    for cls in (
        WebchatAdapter,
        RestAdapter,
        SocketIOAdapter,
        TelegramAdapter,
        WhatsAppAdapter,
        MessengerAdapter,
        SmsAdapter,
        EmailAdapter,
    )
}


def build_adapters(names: list[str], settings: Any) -> dict[str, ChannelAdapter]:
    unknown = [name for name in names if name not in ADAPTERS]
    if unknown:
        known = ", ".join(sorted(ADAPTERS))
        raise ValueError(f"unknown channel(s) {', '.join(unknown)}; known channels: {known}")
    return {name: ADAPTERS[name].from_settings(settings) for name in names}
