"""Which items of an order may be refunded, and which refunds need a person's approval."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from .models import OrderStatus
from .views import ItemInfo, OrderDetails

REFUNDABLE_STATES = frozenset(
    {OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.PARTIALLY_REFUNDED}
)


@dataclass(frozen=True)
class Eligibility:
    items: list[ItemInfo] = field(default_factory=list)  # may be refunded now
    refused: dict[int, str] = field(default_factory=dict)  # item id → why not
    reason: str | None = None  # why nothing in the order may be refunded

    @property
    def amount_cents(self) -> int:
        return sum(i.amount_cents for i in self.items)


@dataclass(frozen=True)
class RefundPolicy:
    window_days: int = 30
    non_refundable_categories: frozenset[str] = frozenset({"gift-cards", "personalised"})
    auto_approve_cents: int = 10000

    def eligibility(self, order: OrderDetails, today: date) -> Eligibility:
        if order.status == OrderStatus.REFUNDED:
            return Eligibility(reason="already_refunded")
        if order.status == OrderStatus.CANCELLED:
            return Eligibility(reason="cancelled")
        if order.status not in REFUNDABLE_STATES or order.delivered_at is None:
            return Eligibility(reason="not_delivered")
        if order.delivered_at.date() + timedelta(days=self.window_days) < today:
            return Eligibility(reason="window_closed")
        items: list[ItemInfo] = []
        refused: dict[int, str] = {}
        for item in order.items:
            if item.refunded:
                refused[item.id] = "already_refunded"
            elif item.category in self.non_refundable_categories:
                refused[item.id] = "non_refundable"
            else:
                items.append(item)
        reason = None if items else "no_refundable_items"
        return Eligibility(items=items, refused=refused, reason=reason)

    def auto_approves(self, amount_cents: int) -> bool:
        return amount_cents <= self.auto_approve_cents


def idempotency_key(order_number: str, item_ids: Iterable[int]) -> str:
    """The same request for the same items of the same order always gives the same key,
    so a retried or duplicated message finds the first refund instead of making a second."""
    items = ",".join(str(i) for i in sorted(set(item_ids)))
    return hashlib.sha256(f"refund:{order_number}:{items}".encode()).hexdigest()


def choose(eligible: Sequence[ItemInfo], choice: str) -> list[ItemInfo]:
    """`all`, or one item id among the eligible ones; an unknown choice selects nothing."""
    if choice == "all":
        return list(eligible)
    return [i for i in eligible if str(i.id) == choice]
