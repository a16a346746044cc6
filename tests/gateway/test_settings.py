"""Comma-separated settings arrive as lists, whichever part of the system reads them."""

from __future__ import annotations

import warnings

import pytest

from gateway.settings import Settings


def test_comma_separated_settings_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNELS", "webchat, rest")
    monkeypatch.setenv("FAQ_LINT_PROMISE_WORDS", "always, guarantee")
    monkeypatch.setenv("HANDOFF_SENSITIVE_WORDS", "lawyer,sue")
    monkeypatch.setenv("HANDOFF_COMPLAINT_WORDS", "awful")
    monkeypatch.setenv("REFUND_NON_REFUNDABLE_CATEGORIES", "gift-cards")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = Settings()
    assert settings.channels == ["webchat", "rest"]
    assert settings.faq_lint_promise_words == ["always", "guarantee"]
    assert settings.handoff_sensitive_words == ["lawyer", "sue"]
    assert settings.handoff_complaint_words == ["awful"]
    assert settings.refund_non_refundable_categories == ["gift-cards"]
