"""The order form: which order, is it the customer's, and what else the request needs.

Verification lives in slots that only these actions set (`verified_order`,
`verification_attempts`, `verification_failed`); nothing the customer types sets them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from commerce import OrderDetails, OrderStatus, is_order_number
from commerce.policy import choose
from commerce.verification import claim_in, matches
from commerce.views import MAX_ADDRESS_CHARS, MAX_REASON_CHARS, money
from conversations import channel_state, store

from . import order_texts as texts
from .services import ActionServices

MAX_VERIFICATION_ATTEMPTS = 3


# Slots answered in free text, where digits belong to the answer, not to a new order number.
FREE_TEXT_SLOTS = ("new_address", "refund_reason")

# How a question starts; a FAQ question asked at the reason step is answered, not taken as the
# reason ("how long does a refund take?"), while a statement the model files under FAQ is the
# reason ("the zip broke after two days").
QUESTION_WORDS = frozenset(
    "how what when where why which who whom whose can could do does did is are am was were "
    "will would should shall may might have has".split()
)


def is_question(text: str) -> bool:
    words = text.lower().split()
    return text.rstrip().endswith("?") or (bool(words) and words[0].strip(",") in QUESTION_WORDS)


def latest(value: Any) -> str | None:
    """Slot values from entities may be lists (several entities in one message)."""
    if isinstance(value, list):
        value = value[-1] if value else None
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).strip()


async def link_to_shop_customer(
    services: ActionServices, conversation_id: str, order: OrderDetails
) -> None:
    """The customer proved the order is theirs: their record takes the order's email (when
    it has none yet), which links them to the shop's customer (tier, orders)."""
    async with services.transaction() as session:
        conversation = await store.get_conversation(session, conversation_id)
        if conversation is not None:
            await channel_state.remember_contact(
                session, conversation.customer_id, email=order.customer_email.casefold()
            )


async def current_order(services: ActionServices, tracker: Tracker) -> OrderDetails | None:
    number = latest(tracker.get_slot("order_number"))
    if services.shop is None or not is_order_number(number):
        return None
    return await services.shop.order(number or "")


def is_verified(tracker: Tracker) -> bool:
    number = latest(tracker.get_slot("order_number"))
    return number is not None and tracker.get_slot("verified_order") == number


class ValidateOrderForm(FormValidationAction):
    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "validate_order_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        if tracker.get_slot("verification_failed"):
            return []
        if not is_verified(tracker):
            return ["order_number", "verification"]
        request = tracker.get_slot("order_request") or "status"
        if request not in ("cancel", "change_address", "return"):
            return ["order_number"]
        order = await current_order(self.services, tracker)
        if order is None:
            return ["order_number"]
        open_order = not order.shipped and order.status != OrderStatus.CANCELLED
        if request == "cancel" and open_order:
            return ["order_number", "confirm_cancel"]
        if request == "change_address" and open_order:
            return ["order_number", "new_address"]
        if request == "return":
            today = datetime.now(UTC).date()
            if self.services.refund_policy.eligibility(order, today).items:
                return ["order_number", "refund_item", "refund_reason"]
        return ["order_number"]

    async def validate_order_number(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:
        verified_order = tracker.get_slot("verified_order")
        if tracker.get_slot("requested_slot") in FREE_TEXT_SLOTS and verified_order:
            # A number inside an address or a reason (a postcode) is part of that answer.
            return {"order_number": verified_order}
        number, order = await self._first_known_order(slot_value, tracker)
        if number is None or not is_order_number(number):
            dispatcher.utter_message(text=texts.ASK_AGAIN_ORDER)
            return {"order_number": None}
        if order is None:
            dispatcher.utter_message(text=texts.NO_SUCH_ORDER.format(number=number))
            return {"order_number": None}
        if tracker.get_slot("verified_order") != number:
            return {"order_number": number, "verification": None}
        return {"order_number": number}

    async def _first_known_order(
        self, slot_value: Any, tracker: Tracker
    ) -> tuple[str | None, OrderDetails | None]:
        """A message with several five-digit numbers ("send order 10482 to Ring 4, 75001
        Paris") names the one that is an order; Rasa keeps only the last in the slot."""
        numbers = [
            n
            for n in (latest(v) for v in tracker.get_latest_entity_values("order_number"))
            if is_order_number(n)
        ]
        if len(numbers) > 1:
            for number in numbers:
                order = await current_order_by_number(self.services, number or "")
                if order is not None:
                    return number, order
        number = latest(slot_value)
        if number is None or not is_order_number(number):
            return number, None
        return number, await current_order_by_number(self.services, number)

    async def validate_verification(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:
        if next(tracker.get_latest_entity_values("order_number"), None) is not None:
            return {"verification": None}  # a corrected order number, not a verification
        order = await current_order(self.services, tracker)
        if order is None:
            return {"verification": None}
        claim = claim_in(latest(slot_value) or "")
        if claim is None:
            dispatcher.utter_message(text=texts.NEED_CLAIM)
            return {"verification": None}
        if matches(order, claim):
            await link_to_shop_customer(self.services, tracker.sender_id, order)
            return {
                "verification": "verified",
                "verified_order": order.number,
                "verification_attempts": 0,
            }
        attempts = int(tracker.get_slot("verification_attempts") or 0) + 1
        if attempts >= MAX_VERIFICATION_ATTEMPTS:
            dispatcher.utter_message(text=texts.VERIFICATION_FAILED)
            return {
                "verification": None,
                "verification_attempts": attempts,
                "verification_failed": True,
            }
        dispatcher.utter_message(text=texts.CLAIM_MISMATCH.format(attempt=attempts))
        return {"verification": None, "verification_attempts": attempts}

    async def validate_confirm_cancel(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:
        return {"confirm_cancel": slot_value if isinstance(slot_value, bool) else None}

    async def validate_new_address(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:
        address = " ".join((latest(slot_value) or "").split())
        if not 10 <= len(address) <= MAX_ADDRESS_CHARS:
            dispatcher.utter_message(
                text="Please send the full delivery address on one line: name, street and "
                "number, postcode and city."
            )
            return {"new_address": None}
        return {"new_address": address}

    async def validate_refund_item(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:
        order = await current_order(self.services, tracker)
        choice = latest(slot_value) or ""
        if order is not None:
            eligibility = self.services.refund_policy.eligibility(order, datetime.now(UTC).date())
            if choose(eligibility.items, choice):
                return {"refund_item": choice}
        dispatcher.utter_message(text="Please choose one of the items with the buttons.")
        return {"refund_item": None}

    async def extract_refund_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """Any words answer the reason question, even a statement the model reads as a FAQ
        question; a real question is left to the FAQ rule, and the form asks again."""
        if tracker.get_slot("requested_slot") != "refund_reason" or tracker.get_slot(
            "refund_reason"
        ):
            return {}
        latest_message = tracker.latest_message or {}
        intent = (latest_message.get("intent") or {}).get("name")
        text = (latest_message.get("text") or "").strip()
        if intent in ("stop", "human_handoff") or not text or text.startswith("/"):
            return {}
        if intent == "faq" and is_question(text):
            return {}
        return {"refund_reason": text}

    async def validate_refund_reason(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:
        reason = " ".join((latest(slot_value) or "").split())
        if not 3 <= len(reason) <= MAX_REASON_CHARS:
            dispatcher.utter_message(
                text=f"Please tell me briefly why (at most {MAX_REASON_CHARS} characters)."
            )
            return {"refund_reason": None}
        return {"refund_reason": reason}


async def current_order_by_number(services: ActionServices, number: str) -> OrderDetails | None:
    if services.shop is None:
        return None
    return await services.shop.order(number)


class ActionAskRefundItem(Action):
    """Offers the order's refundable items as buttons, and says which ones are not."""

    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_ask_refund_item"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await current_order(self.services, tracker)
        if order is None or not is_verified(tracker):
            dispatcher.utter_message(text=texts.NOT_VERIFIED)
            return []
        eligibility = self.services.refund_policy.eligibility(order, datetime.now(UTC).date())
        buttons = [
            {
                "title": f"{item.name} ({money(item.amount_cents, order.currency)})",
                "payload": texts.payload("inform", refund_item=str(item.id)),
            }
            for item in eligibility.items
        ]
        if len(buttons) > 1:
            total = money(eligibility.amount_cents, order.currency)
            buttons.append(
                {
                    "title": f"All of them ({total})",
                    "payload": texts.payload("inform", refund_item="all"),
                }
            )
        text = "Which item would you like to return and get refunded?"
        refused = [i for i in order.items if i.id in eligibility.refused]
        if refused:
            text += f" ({texts.items_text(refused)} can't be refunded.)"
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ActionAskRefundReason(Action):
    """Asks why, with the usual reasons as buttons. Built here rather than as a domain response:
    Rasa reads the braces of a `/inform{...}` payload in a response as a slot to fill."""

    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_ask_refund_reason"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        buttons = [
            {"title": reason, "payload": texts.payload("inform", refund_reason=reason)}
            for reason in texts.REFUND_REASONS
        ]
        dispatcher.utter_message(text=texts.ASK_REFUND_REASON, buttons=buttons)
        return []
