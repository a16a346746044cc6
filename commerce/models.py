"""The embedded shop: customers, orders, their items, payments, shipments and refunds.

Amounts are integer cents. An order's `status` is what the shop recorded; whether a shipment
is late is derived from its promised date, not stored.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from conversations.models import utcnow


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    PACKED = "packed"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


NOT_SHIPPED = frozenset({OrderStatus.AWAITING_PAYMENT, OrderStatus.PAID, OrderStatus.PACKED})
ON_THE_WAY = frozenset({OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT})


class RefundStatus(StrEnum):
    APPROVED = "approved"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"


def _ts(nullable: bool = False) -> object:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ShopCustomer(SQLModel, table=True):
    __tablename__ = "shop_customer"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, index=True)
    phone: str = Field(max_length=32)
    tier: str = Field(default="standard", max_length=32)  # standard | vip | …


class ShopOrder(SQLModel, table=True):
    __tablename__ = "shop_order"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=16, unique=True, index=True)
    customer_id: int = Field(foreign_key="shop_customer.id", index=True)
    status: str = Field(max_length=24, index=True)
    currency: str = Field(default="EUR", max_length=3)
    total_cents: int
    shipping_address: str = Field(sa_column=Column(Text, nullable=False))
    placed_at: datetime = _ts()  # type: ignore[assignment]
    dispatch_by: date
    promised_by: date
    delivered_at: datetime | None = _ts(nullable=True)  # type: ignore[assignment]
    cancelled_at: datetime | None = _ts(nullable=True)  # type: ignore[assignment]


class ShopOrderItem(SQLModel, table=True):
    __tablename__ = "shop_order_item"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    sku: str = Field(max_length=32)
    name: str = Field(max_length=200)
    category: str = Field(max_length=64)
    quantity: int
    unit_price_cents: int


class ShopPayment(SQLModel, table=True):
    __tablename__ = "shop_payment"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    method: str = Field(max_length=32)
    amount_cents: int
    status: str = Field(max_length=16)  # pending | captured | refunded
    created_at: datetime = _ts()  # type: ignore[assignment]


class ShopShipment(SQLModel, table=True):
    __tablename__ = "shop_shipment"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    carrier: str = Field(max_length=64)
    tracking_number: str = Field(max_length=64)
    shipped_at: datetime = _ts()  # type: ignore[assignment]


class ShopTrackingEvent(SQLModel, table=True):
    __tablename__ = "shop_tracking_event"

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shop_shipment.id", index=True)
    at: datetime = _ts()  # type: ignore[assignment]
    location: str = Field(max_length=120)
    description: str = Field(max_length=200)


class ShopRefund(SQLModel, table=True):
    """One refund; `idempotency_key` is unique, so a replayed request finds the first one."""

    __tablename__ = "shop_refund"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=24, unique=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    amount_cents: int
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)
    created_at: datetime = _ts()  # type: ignore[assignment]


class ShopRefundItem(SQLModel, table=True):
    """An order item is refunded at most once: the unique constraint holds across processes."""

    __tablename__ = "shop_refund_item"
    __table_args__ = (UniqueConstraint("order_item_id", name="uq_refund_item_order_item"),)

    id: int | None = Field(default=None, primary_key=True)
    refund_id: int = Field(foreign_key="shop_refund.id", index=True)
    order_item_id: int = Field(foreign_key="shop_order_item.id")
    amount_cents: int
