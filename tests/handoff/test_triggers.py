"""Which words call for a person, and why a customer who asks for one asks."""

from __future__ import annotations

import pytest

from bot.actions.handoff import last_bot_action
from gateway.settings import Settings
from handoff import HandoffReason
from handoff.app import build_triggers
from handoff.triggers import request_reason

POLICY = build_triggers(Settings())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I will talk to my lawyer about this", HandoffReason.SENSITIVE_WORDS),
        ("I want to KILL MYSELF", HandoffReason.SENSITIVE_WORDS),
        ("I'd like to make a complaint", HandoffReason.COMPLAINT),
        ("This is the worst, most horrible service, I hate it", HandoffReason.NEGATIVE_SENTIMENT),
        ("where is my order?", None),
        ("thanks, that was great", None),
        ("/human_handoff", None),
        ("", None),
        ("courtesy call please", None),  # "court" only as a word
        ("x" * 10_000, None),
    ],
)
def test_before_bot(text: str, reason: HandoffReason | None) -> None:
    trigger = POLICY.before_bot(text)
    assert (trigger.reason if trigger else None) == reason


def test_request_reason_after_fallback_and_not_found() -> None:
    assert request_reason("utter_default", []) == HandoffReason.NOT_UNDERSTOOD
    faq = ["answer", "clarify", "not_found"]
    assert request_reason("action_answer_faq", faq) == HandoffReason.KNOWLEDGE_NOT_FOUND
    assert request_reason("action_answer_faq", ["not_found"]) == HandoffReason.CUSTOMER_REQUEST
    assert request_reason(None, []) == HandoffReason.CUSTOMER_REQUEST


def test_last_bot_action_reads_the_tracker() -> None:
    events = [
        {"event": "user", "text": "???"},
        {"event": "action", "name": "action_default_fallback"},
        {"event": "bot", "text": "Sorry", "metadata": {"utter_action": "utter_default"}},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "/human_handoff"},
        {"event": "action", "name": "action_handoff"},
    ]
    assert last_bot_action(events) == "utter_default"
    assert last_bot_action(events[-2:]) is None
    faq = [
        {"event": "user", "text": "q"},
        {"event": "action", "name": "action_answer_faq"},
        {"event": "bot", "text": "not found", "metadata": {}},
        {"event": "user", "text": "/human_handoff"},
    ]
    assert last_bot_action(faq) == "action_answer_faq"
