"""The embedded shop on a real database (SQLite and PostgreSQL), loaded with the sample shop."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from commerce import EmbeddedShop, OrderDetails, OrderStatus, RefundPolicy
from commerce.models import ShopOrder
from gateway.db import Database


async def find_order(
    shop: EmbeddedShop, database: Database, status: OrderStatus, *, refundable: bool = False
) -> OrderDetails:
    """The first sample order in `status` (with something refundable now, if asked)."""
    async with database.transaction() as session:
        numbers = (
            await session.exec(
                select(ShopOrder.number)
                .where(ShopOrder.status == status)
                .order_by(ShopOrder.number)
            )
        ).all()
    today = datetime.now(UTC).date()
    for number in numbers:
        order = await shop.order(number)
        assert order is not None
        if not refundable or RefundPolicy(auto_approve_cents=10**9).eligibility(order, today).items:
            return order
    raise AssertionError(f"the sample shop has no {status} order (refundable={refundable})")
