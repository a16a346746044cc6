"""Handing the conversation to a person when the customer asks for one or complains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import ConversationEvent, store
from handoff import HandoffReason, Priority, hand_off
from handoff.profile import is_vip, linked_email, shop_profile
from handoff.triggers import HANDED_OFF_TEXT, request_reason

from .services import ActionServices

HANDOFF_TEXT = HANDED_OFF_TEXT
COMPLAINT_TEXT = "I'm sorry to hear that. " + HANDED_OFF_TEXT


def latest_intent(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def last_bot_action(events: Sequence[dict[str, Any]]) -> str | None:
    """What the bot did just before the customer's latest message: the response it uttered
    (`utter_default` at the end of the two-stage fallback) or the action it ran."""
    seen_user = False
    for event in reversed(events):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return None
            seen_user = True
        elif seen_user and kind == "bot":
            utter = (event.get("metadata") or {}).get("utter_action")
            if utter:
                return str(utter)
        elif seen_user and kind == "action" and event.get("name") not in (None, "action_listen"):
            name = str(event["name"])
            return "utter_default" if name == "action_default_fallback" else name
    return None


async def request_reason_of(
    session: AsyncSession, conversation_id: str, tracker: Tracker
) -> HandoffReason:
    decisions = (
        await session.exec(
            select(ConversationEvent.data)
            .where(
                ConversationEvent.conversation_id == conversation_id,
                col(ConversationEvent.type).startswith("faq."),
            )
            .order_by(col(ConversationEvent.id))
        )
    ).all()
    return request_reason(
        last_bot_action(tracker.events),
        [str(d.get("decision")) for d in decisions if isinstance(d, dict)],
    )


class ActionHandoff(Action):
    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        complaint = latest_intent(tracker) == "complaint"
        async with self.services.transaction() as session:
            conversation = await store.get_conversation(session, tracker.sender_id)
            if conversation is None:
                reason, email = None, None
            else:
                reason = (
                    HandoffReason.COMPLAINT
                    if complaint
                    else await request_reason_of(session, conversation.id, tracker)
                )
                email = await linked_email(session, conversation.customer_id)
        if conversation is not None and reason is not None:
            priority = Priority.NORMAL
            if is_vip(await shop_profile(self.services.shop, email)):  # the shop's tier
                priority = Priority.VIP
                if reason == HandoffReason.CUSTOMER_REQUEST:
                    reason = HandoffReason.VIP_REQUEST
            async with self.services.transaction() as session:
                await hand_off(session, conversation.id, reason, priority=priority)
        dispatcher.utter_message(text=COMPLAINT_TEXT if complaint else HANDOFF_TEXT)
        return []
