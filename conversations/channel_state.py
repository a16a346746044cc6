"""What a channel must remember about an address beyond its messages: opt-outs (SMS STOP),
the time of the customer's last message (WhatsApp's 24-hour window), and contact details
to fill in on the customer's record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .models import ChannelIdentity, Customer, Direction, Message, utcnow
from .store import as_utc


class ChannelOptOut(SQLModel, table=True):
    """An address that asked not to be messaged on a channel (removed when it opts back in)."""

    __tablename__ = "channel_opt_out"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_opt_out_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    address: str = Field(max_length=255)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


async def set_opt_out(session: AsyncSession, channel: str, address: str, opted_out: bool) -> None:
    existing = (
        await session.exec(
            select(ChannelOptOut).where(
                ChannelOptOut.channel == channel, ChannelOptOut.address == address
            )
        )
    ).first()
    if not opted_out:
        if existing is not None:
            await session.delete(existing)
        return
    if existing is not None:
        return
    try:
        async with session.begin_nested():
            session.add(ChannelOptOut(channel=channel, address=address))
    except IntegrityError:
        pass  # a concurrent STOP stored it first


async def is_opted_out(session: AsyncSession, channel: str, address: str) -> bool:
    query = select(ChannelOptOut.id).where(
        ChannelOptOut.channel == channel, ChannelOptOut.address == address
    )
    return (await session.exec(query)).first() is not None


async def last_inbound_at(session: AsyncSession, channel: str, address: str) -> datetime | None:
    query = (
        select(func.max(Message.created_at))
        .join(ChannelIdentity, col(Message.identity_id) == col(ChannelIdentity.id))
        .where(
            ChannelIdentity.channel == channel,
            ChannelIdentity.external_id == address,
            Message.direction == Direction.IN,
        )
    )
    value = (await session.exec(query)).first()
    return as_utc(value) if value is not None else None


async def remember_contact(
    session: AsyncSession,
    customer_id: int,
    *,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
) -> None:
    """Fill the customer's phone, email and name when they are unknown; never overwrite a
    value already known. One conditional UPDATE per value, no read. (It links nothing:
    only `InboundMessage.verified` links customers across channels.)"""
    for column, value, limit in (
        (Customer.phone, phone, 32),
        (Customer.email, email, 320),
        (Customer.display_name, name, 200),
    ):
        if value:
            await session.exec(
                update(Customer)
                .where(col(Customer.id) == customer_id, col(column).is_(None))
                .values({column: value[:limit]})
            )
