"""Enabling a messenger channel without its credentials stops startup and names them."""

from __future__ import annotations

import pytest

from connectors import build_adapters
from gateway import Settings


@pytest.mark.parametrize(
    ("channel", "missing"),
    [
        ("telegram", "TELEGRAM_TOKEN"),
        ("whatsapp", "WHATSAPP_TOKEN"),
        ("messenger", "MESSENGER_PAGE_TOKEN"),
        ("sms", "TWILIO_AUTH_TOKEN"),
    ],
)
def test_a_channel_without_credentials_names_what_is_missing(channel: str, missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        build_adapters([channel], Settings(CHANNELS=channel))  # type: ignore[call-arg]


def test_telegram_webhook_mode_needs_a_secret_token_and_a_known_mode() -> None:
    token = {"TELEGRAM_TOKEN": "1:x"}
    with pytest.raises(ValueError, match="TELEGRAM_SECRET_TOKEN"):
        build_adapters(["telegram"], Settings(**token))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="webhook or polling"):
        build_adapters(["telegram"], Settings(**token, TELEGRAM_MODE="push"))  # type: ignore[arg-type]
    adapters = build_adapters(["telegram"], Settings(**token, TELEGRAM_MODE="polling"))  # type: ignore[arg-type]
    assert list(adapters) == ["telegram"]
