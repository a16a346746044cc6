"""Channel adapters: parse inbound traffic into one envelope, send replies back."""

from .base import ChannelAdapter, GatewayPort
from .envelope import (
    Accepted,
    Attachment,
    Button,
    HistoryItem,
    InboundMessage,
    OutboundMessage,
    utcnow,
)
from .errors import (
    ConnectorError,
    DeliveryError,
    PayloadError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SignatureError,
)
from .registry import ADAPTERS, build_adapters

__all__ = [
    "ADAPTERS",
    "Accepted",
    "Attachment",
    "Button",
    "ChannelAdapter",
    "ConnectorError",
    "DeliveryError",
    "GatewayPort",
    "HistoryItem",
    "InboundMessage",
    "OutboundMessage",
    "PayloadError",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "SignatureError",
    "build_adapters",
    "utcnow",
]
