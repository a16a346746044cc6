"""When the bot should stop and a person take over, decided from what the customer wrote
and what the bot answered. Each rule names the reason it records."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .sentiment import sentiment
from .transitions import HandoffReason


def _word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = [re.escape(w.strip().lower()) for w in words if w.strip()]
    if not alternatives:
        return None
    return re.compile(r"\b(?:" + "|".join(sorted(alternatives, key=len, reverse=True)) + r")\b")


@dataclass(frozen=True)
class Trigger:
    reason: HandoffReason
    queue: str = "general"
    detail: str | None = None


class TriggerPolicy:
    """Runs on the customer's text before Rasa sees it: sensitive words (legal threats,
    abuse, self-harm), complaints, sharply negative sentiment."""

    def __init__(
        self,
        *,
        sensitive_words: Sequence[str],
        complaint_words: Sequence[str],
        negative_threshold: float,
    ) -> None:
        self._sensitive = _word_pattern(sensitive_words)
        self._complaint = _word_pattern(complaint_words)
        self.negative_threshold = negative_threshold

    def before_bot(self, text: str | None) -> Trigger | None:
        if not text or text.startswith("/"):
            return None  # button payloads are not the customer's words
        lowered = text.lower()
        if self._sensitive is not None and (match := self._sensitive.search(lowered)):
            return Trigger(HandoffReason.SENSITIVE_WORDS, detail=match.group(0))
        if self._complaint is not None and (match := self._complaint.search(lowered)):
            return Trigger(HandoffReason.COMPLAINT, detail=match.group(0))
        score = sentiment(text)
        if score <= self.negative_threshold:
            return Trigger(HandoffReason.NEGATIVE_SENTIMENT, detail=f"{score:.2f}")
        return None


def request_reason(last_bot_action: str | None, faq_decisions: Sequence[str]) -> HandoffReason:
    """Why a customer who asks for a person asks: after Rasa's two-stage fallback gave up
    (`utter_default`), after a clarification the knowledge base could not answer, or simply."""
    if last_bot_action == "utter_default":
        return HandoffReason.NOT_UNDERSTOOD
    if faq_decisions[-2:] == ["clarify", "not_found"] and last_bot_action == "action_answer_faq":
        return HandoffReason.KNOWLEDGE_NOT_FOUND
    return HandoffReason.CUSTOMER_REQUEST


HANDED_OFF_TEXT = (
    "I'm passing you to a member of our team. They will reply right here, and they can "
    "see everything we talked about. You can keep writing in the meantime."
)
