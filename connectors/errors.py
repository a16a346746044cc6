"""Typed errors at the channel boundary; the gateway maps them to HTTP answers and retries."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every channel error."""


class SignatureError(ConnectorError):
    """The request is not from who it claims to be (403)."""


class PayloadError(ConnectorError):
    """The request is malformed or breaks a limit (400 or 413)."""

    def __init__(self, detail: str, *, code: str = "malformed", status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status = status


class DeliveryError(ConnectorError):
    """Sending to the channel failed."""


class RetryableDeliveryError(DeliveryError):
    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (unknown recipient, channel cannot push, …)."""
