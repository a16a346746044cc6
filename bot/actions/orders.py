"""Carrying out an order request once the form has what it needs, and leaving the form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from commerce import OrderDetails, OrderStatus, ShopError, idempotency_key
from commerce.policy import choose
from commerce.views import money
from conversations import store
from handoff import hand_off

from . import order_texts as texts
from .order_form import current_order, is_verified, latest
from .services import ActionServices

log = structlog.get_logger(__name__)

REQUEST_SLOTS = (
    "order_request",
    "confirm_cancel",
    "new_address",
    "refund_item",
    "refund_reason",
    "verification_failed",
)
PASSED_ON = "A member of our team will reply right here; they can see everything we talked about."


def reset(*names: str) -> list[dict[str, Any]]:
    return [SlotSet(name, None) for name in names]


async def hand_over(
    services: ActionServices, conversation_id: str, reason: str, queue: str, note: str
) -> None:
    async with services.transaction() as session:
        if await store.get_conversation(session, conversation_id) is None:
            return  # a conversation Rasa holds but the gateway never stored (test runs)
        await hand_off(session, conversation_id, reason, queue=queue, note=note)
        await store.append_event(
            session, conversation_id, "order.case_prepared", queue=queue, reason=reason, note=note
        )


class ActionOrderRequest(Action):
    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_order_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        done = reset(*REQUEST_SLOTS)
        number = latest(tracker.get_slot("order_number")) or ""
        if tracker.get_slot("verification_failed"):
            await hand_over(
                self.services,
                tracker.sender_id,
                "verification_failed",
                "general",
                f"Order {number}: the customer could not confirm the email or phone on it.",
            )
            return [*done, *reset("order_number", "verification", "verification_attempts")]
        if not is_verified(tracker):
            dispatcher.utter_message(text=texts.NOT_VERIFIED)
            return done
        try:
            order = await current_order(self.services, tracker)
            if order is None:
                dispatcher.utter_message(text=texts.NO_SUCH_ORDER.format(number=number))
                return [*done, *reset("order_number")]
            request = tracker.get_slot("order_request") or "status"
            handler = {
                "cancel": self._cancel,
                "change_address": self._change_address,
                "return": self._refund,
                "refund_status": self._refund_status,
            }.get(request, self._status)
            return [*done, *await handler(dispatcher, tracker, order)]
        except ShopError as exc:
            log.warning("orders.shop_error", code=exc.code, error=str(exc))
            dispatcher.utter_message(
                text="Sorry, I can't reach our order system right now. Please try again in a "
                "few minutes, or ask for a person."
            )
            return done

    async def _status(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: OrderDetails
    ) -> list[dict[str, Any]]:
        text, buttons = texts.status_text(order, datetime.now(UTC).date())
        dispatcher.utter_message(text=text, buttons=buttons)
        return []

    async def _refund_status(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: OrderDetails
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=texts.refunds_text(order))
        return []

    async def _cancel(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: OrderDetails
    ) -> list[dict[str, Any]]:
        n = order.number
        if order.status == OrderStatus.CANCELLED:
            dispatcher.utter_message(text=f"Order {n} is already cancelled; nothing else to do.")
            return []
        if order.shipped:
            dispatcher.utter_message(
                text=f"Order {n} has already shipped, so I can't cancel it any more. You can "
                f"return it within {self.services.refund_policy.window_days} days of delivery "
                "for a refund.",
                buttons=[{"title": "Start a return", "payload": "/request_refund"}],
            )
            return []
        if tracker.get_slot("confirm_cancel") is not True:
            dispatcher.utter_message(text=f"Alright, order {n} stays as it is.")
            return []
        assert self.services.shop is not None
        try:
            cancelled = await self.services.shop.cancel(n)
        except ShopError as exc:
            if exc.code != "already_shipped":
                raise
            dispatcher.utter_message(text=f"Order {n} has just shipped, so I can't cancel it.")
            return []
        paid = cancelled.status != OrderStatus.AWAITING_PAYMENT
        refund = (
            f" Your payment of {money(cancelled.total_cents, cancelled.currency)} goes back to "
            "your original payment method within 5 business days."
            if paid
            else ""
        )
        dispatcher.utter_message(text=f"Done: order {n} is cancelled.{refund}")
        return []

    async def _change_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: OrderDetails
    ) -> list[dict[str, Any]]:
        n = order.number
        if order.shipped or order.status == OrderStatus.CANCELLED:
            state = "been cancelled" if order.status == OrderStatus.CANCELLED else "shipped"
            dispatcher.utter_message(
                text=f"Order {n} has already {state}, so its delivery address can't be changed "
                "any more."
            )
            return []
        assert self.services.shop is not None
        changed = await self.services.shop.change_address(n, tracker.get_slot("new_address") or "")
        dispatcher.utter_message(
            text=f"Done: order {n} will be delivered to {changed.shipping_address}."
        )
        return []

    async def _refund(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, order: OrderDetails
    ) -> list[dict[str, Any]]:
        policy = self.services.refund_policy
        eligibility = policy.eligibility(order, datetime.now(UTC).date())
        if eligibility.reason is not None:
            dispatcher.utter_message(
                text=texts.not_refundable_text(order, eligibility.reason, policy.window_days),
                buttons=(
                    texts.DISPUTE_BUTTONS
                    if eligibility.reason in ("window_closed", "no_refundable_items")
                    else []
                ),
            )
            case = f"Order {order.number}: refund refused ({eligibility.reason})."
            return [SlotSet("refund_case", case)]
        items = choose(eligibility.items, latest(tracker.get_slot("refund_item")) or "")
        reason = tracker.get_slot("refund_reason") or ""
        if not items or not reason:
            dispatcher.utter_message(text="I didn't get which item to refund; let's start again.")
            return []
        amount = sum(i.amount_cents for i in items)
        amount_text = money(amount, order.currency)
        summary = (
            f"Order {order.number}: refund of {amount_text} requested for "
            f"{texts.items_text(items)}. Reason: {reason}. Customer verified."
        )
        if not policy.auto_approves(amount):
            await hand_over(self.services, tracker.sender_id, "refund_review", "refunds", summary)
            dispatcher.utter_message(
                text=f"Refunds above {money(policy.auto_approve_cents, order.currency)} are "
                f"checked by our refunds team. I've passed your case on ({summary}) {PASSED_ON}"
            )
            return []
        assert self.services.shop is not None
        key = idempotency_key(order.number, [i.id for i in items])
        try:
            outcome = await self.services.shop.create_refund(
                order.number, [i.id for i in items], reason, key
            )
        except ShopError as exc:
            if exc.code != "already_refunded":
                raise
            dispatcher.utter_message(text="Those items have been refunded already.")
            return []
        refund = outcome.refund
        money_back = money(refund.amount_cents, order.currency)
        if outcome.created:
            dispatcher.utter_message(
                text=f"Your refund of {money_back} for {texts.items_text(items)} is approved. "
                f"Reference: {refund.reference}. The money goes back to your original payment "
                "method within 5 to 10 business days; please send the items back with the "
                "return label from your confirmation email."
            )
        else:
            dispatcher.utter_message(
                text=f"This refund was already made: {money_back}, reference {refund.reference}."
            )
        return []


class ActionRefundDispute(Action):
    """The customer disagrees with a refusal: the refunds team gets the prepared case."""

    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_refund_dispute"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        case = tracker.get_slot("refund_case") or "The customer disputes a refund decision."
        await hand_over(self.services, tracker.sender_id, "refund_dispute", "refunds", case)
        dispatcher.utter_message(
            text=f"I've passed your case to our refunds team for review. {PASSED_ON}"
        )
        return reset("refund_case")


class ActionStopOrderForm(Action):
    def __init__(self, services: ActionServices) -> None:
        self.services = services

    def name(self) -> str:
        return "action_stop_order_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=texts.STOPPED)
        return reset(*REQUEST_SLOTS, "verification")
