"""First stage of the two-stage fallback: offer the likeliest meanings as buttons."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from knowledge import Decision

from .faq import faq_payload
from .services import ActionServices

INTENT_LABELS = {
    "human_handoff": "Talk to a person",
    "help": "What can you help with?",
    "greet": "Just saying hello",
    "goodbye": "I'm done, goodbye",
    "thanks": "Just saying thanks",
    "bot_challenge": "Am I talking to a bot?",
}
CLARIFY_TEXT = "Sorry, I'm not sure I understood. Did you mean one of these?"


class ActionAskAffirmation(Action):
    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        latest = tracker.latest_message or {}
        ranking = [r for r in latest.get("intent_ranking") or [] if isinstance(r, dict)]
        buttons: list[dict[str, str]] = []
        for guess in ranking:
            name = guess.get("name")
            if name == "faq":
                answer = await asyncio.to_thread(
                    self.services.knowledge.ask, latest.get("text") or ""
                )
                if answer.decision != Decision.NOT_FOUND:
                    buttons += [
                        {"title": m.entry.question, "payload": faq_payload(m.entry.id)}
                        for m in answer.matches[:2]
                    ]
            elif name in INTENT_LABELS:
                buttons.append({"title": INTENT_LABELS[name], "payload": f"/{name}"})
            if len(buttons) >= 3:
                break
        buttons = buttons[:3]
        # Rasa's two-stage fallback reads `out_of_scope` as "none of these": it asks to rephrase.
        buttons.append({"title": "Something else", "payload": "/out_of_scope"})
        dispatcher.utter_message(text=CLARIFY_TEXT, buttons=buttons)
        return []
