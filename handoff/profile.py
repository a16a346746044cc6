"""Who the customer is to the shop: their tier (`vip` customers are served first) and their
orders, read from the shop backend for customers linked to a shop customer.

The link is the customer's email address: the one their record holds (a channel verified
it, or they proved an order is theirs) or the address they wrote from by email. A customer
without one, or unknown to the shop, is `standard`. Nothing about the tier is stored here:
the shop stays the one place it lives.
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import customers

log = structlog.get_logger(__name__)

VIP = "vip"


class ShopCustomer(Protocol):
    name: str
    tier: str
    orders: int


class CustomerDirectory(Protocol):
    """What the handoff needs from the shop backend (`commerce.ShopBackend` is one)."""

    async def customer(self, email: str) -> Any:
        """A `ShopCustomer`-like record for the address, or None."""


async def linked_email(session: AsyncSession, customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    customer = await customers.survivor(session, customer_id)  # merged: the person's record
    if customer is not None and customer.email:
        return customer.email
    identities = await customers.group_identities(session, customer_id)  # oldest first
    return next((i.external_id for i in identities if i.channel == "email"), None)


async def shop_profile(shop: CustomerDirectory | None, email: str | None) -> dict[str, Any]:
    """`{"linked", "tier", "shop_name", "orders", "shop_available"}` for the context package.

    Call it outside a database transaction: the embedded shop opens its own."""
    profile: dict[str, Any] = {"linked": False, "tier": "standard", "shop_available": True}
    if shop is None or email is None:
        return profile
    try:
        found = await shop.customer(email)
    except Exception as exc:  # the shop being down must not break the console or a handoff
        log.warning("handoff.shop_profile_unavailable", error=str(exc))
        return {**profile, "shop_available": False}
    if found is None:
        return profile
    return {
        **profile,
        "linked": True,
        "tier": found.tier,
        "shop_name": found.name,
        "orders": found.orders,
    }


def is_vip(profile: dict[str, Any]) -> bool:
    return bool(profile.get("tier") == VIP)
