"""What the handoff knows about a customer beyond their messages: their service tier."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from .models import CustomerTier


async def is_vip(session: AsyncSession, customer_id: int | None) -> bool:
    if customer_id is None:
        return False
    row = await session.get(CustomerTier, customer_id)
    return row is not None and row.tier == "vip"


async def set_tier(session: AsyncSession, customer_id: int, tier: str) -> None:
    row = await session.get(CustomerTier, customer_id) or CustomerTier(customer_id=customer_id)
    row.tier = tier
    session.add(row)
