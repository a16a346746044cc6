"""Handing the conversation to a person when the customer asks for one."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from conversations import store
from handoff import HandoffReason, hand_off

from .services import ActionServices

HANDOFF_TEXT = (
    "I'm passing you to a member of our team. They will reply right here, and they can "
    "see everything we talked about. You can keep writing in the meantime."
)


class ActionHandoff(Action):
    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        async with self.services.transaction() as session:
            if await store.get_conversation(session, tracker.sender_id) is not None:
                await hand_off(session, tracker.sender_id, HandoffReason.CUSTOMER_REQUEST)
        dispatcher.utter_message(text=HANDOFF_TEXT)
        return []
