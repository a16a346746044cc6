"""What the bot says about orders and refunds, built from the order's facts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from commerce import OrderDetails, OrderStatus, RefundInfo
from commerce.views import ItemInfo, money

ASK_AGAIN_ORDER = (
    "That doesn't look like one of our order numbers: they have five digits, like 10482. "
    "You'll find yours in the order confirmation email."
)
NO_SUCH_ORDER = (
    "I can't find an order with the number {number}. Please check the number in your "
    "confirmation email and send it again."
)
NEED_CLAIM = (
    "To protect your details I need the email address on the order, or the last four digits "
    "of the phone number on it."
)
CLAIM_MISMATCH = (
    "Sorry, that doesn't match our records for this order. Please try again "
    "(attempt {attempt} of 3)."
)
VERIFICATION_FAILED = (
    "Sorry, I still can't confirm that this order is yours, so I can't share its details. "
    "I'm passing you to a member of our team, who can check in another way."
)
NOT_VERIFIED = "I need to confirm the order is yours before I can share anything about it."
STOPPED = "Okay, I've stopped that. Is there anything else I can help you with?"
ESCALATE_BUTTONS = [
    {"title": "Yes, ask a person", "payload": "/human_handoff"},
    {"title": "No, thanks", "payload": "/deny"},
]
ASK_REFUND_REASON = "Why are you returning it? Pick a reason or tell me in your own words."
REFUND_REASONS = ("Arrived damaged", "Wrong size or fit", "Not as described", "Changed my mind")
DISPUTE_BUTTONS = [
    {"title": "I disagree, ask a person", "payload": "/dispute"},
    {"title": "OK", "payload": "/deny"},
]
REASON_TEXT = {
    "window_closed": "it was delivered on {delivered}, more than {days} days ago, so it is "
    "outside our return window",
    "no_refundable_items": "what is left in it can't be returned (personalised items and "
    "gift cards are final sale, and refunded items can't be refunded twice)",
    "already_refunded": "it has been refunded in full already",
    "cancelled": "it was cancelled, and cancelled orders are refunded automatically",
}


def day(value: date | datetime) -> str:
    return f"{value:%A} {value.day} {value:%B}"


def payload(intent: str, **entities: str) -> str:
    return f"/{intent}" + (json.dumps(entities, separators=(",", ":")) if entities else "")


def items_text(items: Sequence[ItemInfo]) -> str:
    return ", ".join(f"{i.quantity} x {i.name}" if i.quantity > 1 else i.name for i in items)


def status_text(order: OrderDetails, today: date) -> tuple[str, list[dict[str, str]]]:
    """The answer to "where is my order?" for each state, with buttons to offer."""
    n = order.number
    dispatch = day(order.dispatch_by)
    if order.status == OrderStatus.AWAITING_PAYMENT:
        return (
            f"Order {n} is waiting for payment. Once the payment arrives we dispatch it, "
            f"expected by {dispatch}.",
            [],
        )
    if order.status in (OrderStatus.PAID, OrderStatus.PACKED):
        stage = "packed and ready to go" if order.status == OrderStatus.PACKED else "being prepared"
        return f"Order {n} is {stage}. Expected dispatch: {dispatch}.", []
    if order.status == OrderStatus.CANCELLED:
        return f"Order {n} was cancelled, so it will not be shipped.", []
    shipment = order.shipment
    tracking = ""
    if shipment is not None:
        tracking = f" with {shipment.carrier}, tracking number {shipment.tracking_number}"
        if shipment.events:
            latest = shipment.events[-1]
            tracking += (
                f". Latest update ({day(latest.at)}): {latest.description}, {latest.location}"
            )
    if order.is_late(today):
        return (
            f"I'm sorry: order {n} should have arrived by {day(order.promised_by)} and it is "
            f"late. It is on its way{tracking}. Would you like me to pass this to a colleague "
            "who can chase it with the carrier?",
            ESCALATE_BUTTONS,
        )
    if order.delivered_at is None:
        return (
            f"Order {n} is on its way{tracking}. Expected delivery by {day(order.promised_by)}.",
            [],
        )
    text = f"Order {n} was delivered on {day(order.delivered_at)}."
    if order.refunds:
        text += " " + refunds_text(order)
    return text, []


def refunds_text(order: OrderDetails) -> str:
    if not order.refunds:
        if order.status == OrderStatus.RETURNED:
            return (
                f"We have received the return of order {order.number}; its refund is being "
                "prepared."
            )
        return f"There are no refunds on order {order.number}."
    lines = [f"Refunds on order {order.number}:"]
    lines += [refund_line(r, order.currency) for r in order.refunds]
    return "\n".join(lines)


def refund_line(refund: RefundInfo, currency: str) -> str:
    status = refund.status.replace("_", " ")
    amount = money(refund.amount_cents, currency)
    return f"{refund.reference}: {amount}, {status} on {day(refund.created_at)} ({refund.reason})"


def not_refundable_text(order: OrderDetails, reason: str, window_days: int) -> str:
    if reason == "not_delivered":
        if order.shipped:
            return (
                f"Order {order.number} hasn't been delivered yet. Once it arrives you can "
                f"return it within {window_days} days."
            )
        return (
            f"Order {order.number} hasn't shipped yet, so there is nothing to return. "
            "I can cancel it instead if you like."
        )
    delivered = day(order.delivered_at) if order.delivered_at else "?"
    why = REASON_TEXT[reason].format(delivered=delivered, days=window_days)
    return f"I'm afraid I can't refund order {order.number}: {why}."
