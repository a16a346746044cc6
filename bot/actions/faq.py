"""Answering customers' questions from the knowledge base."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from conversations import store
from knowledge import Decision, FaqEntry, Match, repository

from .services import ActionServices

NOT_FOUND_TEXT = (
    "I'm sorry, I don't have an answer to that yet. Would you like me to connect you "
    "with a member of our team?"
)
CLARIFY_TEXT = "I want to be sure I answer the right question. Did you mean one of these?"
OFFER_HUMAN_BUTTONS = [
    {"title": "Yes, connect me", "payload": "/human_handoff"},
    {"title": "No, thanks", "payload": "/deny"},
]


def faq_payload(entry_id: str) -> str:
    return "/faq" + json.dumps({"faq_id": entry_id}, separators=(",", ":"))


def answer_text(entry: FaqEntry) -> str:
    lines = [entry.answer]
    lines += [f"{link.title}: {link.url}" for link in entry.links]
    return "\n".join(lines)


class ActionAnswerFaq(Action):
    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        kb = self.services.knowledge
        chosen = next(tracker.get_latest_entity_values("faq_id"), None)
        entry = kb.get(chosen) if isinstance(chosen, str) else None
        if entry is not None:
            self._answer(dispatcher, entry)
            await self._record(tracker.sender_id, "chosen", entry, None)
            return []

        question = (tracker.latest_message or {}).get("text") or ""
        # Embedding the question is CPU work: keep it off the gateway's event loop.
        result = await asyncio.to_thread(kb.ask, question)
        best = result.best
        if result.decision == Decision.ANSWER and best is not None:
            self._answer(dispatcher, best.entry)
            await self._record(tracker.sender_id, "answer", best.entry, best)
        elif result.decision == Decision.CLARIFY:
            buttons = [
                {"title": m.entry.question, "payload": faq_payload(m.entry.id)}
                for m in result.matches
            ]
            buttons.append({"title": "Something else", "payload": "/deny"})
            dispatcher.utter_message(text=CLARIFY_TEXT, buttons=buttons)
            await self._record(tracker.sender_id, "clarify", None, best, question)
        else:
            dispatcher.utter_message(text=NOT_FOUND_TEXT, buttons=OFFER_HUMAN_BUTTONS)
            await self._record(tracker.sender_id, "not_found", None, best, question)
        return []

    @staticmethod
    def _answer(dispatcher: CollectingDispatcher, entry: FaqEntry) -> None:
        buttons = [{"title": b.title, "payload": b.payload} for b in entry.buttons]
        dispatcher.utter_message(text=answer_text(entry), buttons=buttons)

    async def _record(
        self,
        conversation_id: str,
        decision: str,
        entry: FaqEntry | None,
        best: Match | None,
        question: str | None = None,
    ) -> None:
        """Every answer records the entry, its version and the score; a question left
        unanswered (not found, clarify) is also kept for content staff to act on."""
        score = best.score if best is not None else (1.0 if entry is not None else 0.0)
        async with self.services.transaction() as session:
            if entry is None and question and not question.startswith("/"):  # not a payload
                await repository.record_unanswered(
                    session,
                    question,
                    decision,
                    score,
                    best_entry=best.entry.id if best else None,
                    conversation_id=conversation_id,
                )
            if await store.get_conversation(session, conversation_id) is None:
                return  # a conversation Rasa holds but the gateway never stored (test runs)
            await store.append_event(
                session,
                conversation_id,
                "faq.answered" if entry is not None else f"faq.{decision}",
                decision=decision,
                entry_id=entry.id if entry else None,
                entry_version=entry.version if entry else None,
                score=score,
                question=question,
            )
