"""What a shop backend answers, whichever backend it is: the REST contract's JSON shapes."""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import BaseModel, Field

from .models import NOT_SHIPPED, ON_THE_WAY, OrderStatus

ORDER_NUMBER = re.compile(r"[0-9]{4,8}")
MAX_ADDRESS_CHARS = 300
MAX_REASON_CHARS = 500


def is_order_number(value: object) -> bool:
    return isinstance(value, str) and ORDER_NUMBER.fullmatch(value) is not None


class ItemInfo(BaseModel):
    id: int
    sku: str
    name: str
    category: str
    quantity: int
    unit_price_cents: int
    refunded: bool = False

    @property
    def amount_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class TrackingInfo(BaseModel):
    at: datetime
    location: str
    description: str


class ShipmentInfo(BaseModel):
    carrier: str
    tracking_number: str
    shipped_at: datetime
    events: list[TrackingInfo] = Field(default_factory=list)  # oldest first


class RefundInfo(BaseModel):
    reference: str
    amount_cents: int
    status: str
    reason: str
    created_at: datetime
    item_ids: list[int] = Field(default_factory=list)


class OrderDetails(BaseModel):
    number: str
    status: OrderStatus
    currency: str
    total_cents: int
    placed_at: datetime
    dispatch_by: date
    promised_by: date
    delivered_at: datetime | None = None
    shipping_address: str
    customer_email: str
    customer_phone: str
    items: list[ItemInfo]
    shipment: ShipmentInfo | None = None
    refunds: list[RefundInfo] = Field(default_factory=list)

    @property
    def shipped(self) -> bool:
        return self.status not in NOT_SHIPPED and self.status != OrderStatus.CANCELLED

    def is_late(self, today: date) -> bool:
        return self.status in ON_THE_WAY and self.promised_by < today


class CustomerInfo(BaseModel):
    """The shop's customer behind an email address: who they are to the shop."""

    email: str
    name: str
    tier: str = "standard"  # `vip` customers are served first by people
    orders: int = 0


class RefundOutcome(BaseModel):
    refund: RefundInfo
    created: bool  # False: the idempotency key had been used, this is the first refund


class ShopError(Exception):
    """The shop refused a change; `code` is machine-readable, the message is for logs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def money(cents: int, currency: str = "EUR") -> str:
    symbol = {"EUR": "€", "GBP": "£", "USD": "$"}.get(currency, currency + " ")
    return f"{symbol}{cents / 100:.2f}"
