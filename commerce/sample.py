"""A deterministic sample shop: hundreds of orders in every state, relative to a given day.

The same seed and day always give the same rows. Rows are written with bulk INSERTs (and
explicit ids, so children can point at parents without a round trip per row).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from .models import (
    OrderStatus,
    RefundStatus,
    ShopCustomer,
    ShopOrder,
    ShopOrderItem,
    ShopPayment,
    ShopRefund,
    ShopRefundItem,
    ShopShipment,
    ShopTrackingEvent,
)

if TYPE_CHECKING:
    from gateway.db import Database

log = structlog.get_logger(__name__)

FIRST_NAMES = (
    "Anna Ben Clara David Elif Felix Greta Hugo Ines Jonas Katja Luca Mila Noah Olga Paul "
    "Rosa Sami Tara Umut Vera Wim Yara Zoe Lena Marco Nina Oskar Pia Raul"
).split()
LAST_NAMES = (
    "Schmidt Rossi Dubois Novak Jansen Silva Kowalski Berg Moreau Fischer Costa Weber "
    "Lindqvist Horvat Meyer Garcia Bauer Russo Keller Nagy"
).split()
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
STREETS = (
    "Lindenstraße Hauptweg Rue des Fleurs Via Roma Kanaalweg Ulica Długa Calle Mayor "
    "Birkenallee Rua Nova Storgatan"
).split()
CITIES = ("Berlin", "Lyon", "Milano", "Utrecht", "Kraków", "Sevilla", "Porto", "Göteborg")
CARRIERS = {"DHL": "JJD", "DPD": "DP", "GLS": "GL", "UPS": "1Z", "PostNL": "3S"}
CATALOGUE: tuple[tuple[str, str, str, int], ...] = (
    ("NW-1001", "Merino wool jumper", "clothing", 8900),
    ("NW-1002", "Linen shirt", "clothing", 5400),
    ("NW-1003", "Rain jacket", "clothing", 12900),
    ("NW-2001", "Ceramic mug set", "home", 3200),
    ("NW-2002", "Cast-iron pan", "home", 6900),
    ("NW-2003", "Wool blanket", "home", 11900),
    ("NW-3001", "Wireless headphones", "electronics", 14900),
    ("NW-3002", "USB-C charger", "electronics", 2900),
    ("NW-3003", "E-reader", "electronics", 13900),
    ("NW-4001", "Trail running shoes", "shoes", 11500),
    ("NW-4002", "Leather boots", "shoes", 17900),
    ("NW-5001", "Engraved pen", "personalised", 4500),
    ("NW-5002", "Monogrammed tote bag", "personalised", 3900),
    ("NW-6001", "Gift card 50", "gift-cards", 5000),
    ("NW-7001", "Notebook, dotted", "stationery", 1400),
    ("NW-7002", "Fountain pen ink", "stationery", 900),
)
# How many orders of each state the sample holds (IN_TRANSIT includes the late ones).
STATE_COUNTS: dict[str, int] = {
    OrderStatus.AWAITING_PAYMENT: 40,
    OrderStatus.PAID: 50,
    OrderStatus.PACKED: 40,
    OrderStatus.SHIPPED: 50,
    OrderStatus.IN_TRANSIT: 50,
    "delayed": 40,
    OrderStatus.DELIVERED: 180,
    OrderStatus.CANCELLED: 40,
    OrderStatus.RETURNED: 30,
    OrderStatus.REFUNDED: 40,
    OrderStatus.PARTIALLY_REFUNDED: 40,
}
FIRST_ORDER_NUMBER = 10001


@dataclass
class SampleShop:
    rows: dict[type[SQLModel], list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: type[SQLModel], **values: Any) -> int:
        rows = self.rows.setdefault(table, [])
        values["id"] = len(rows) + 1
        rows.append(values)
        return values["id"]

    def count(self, table: type[SQLModel]) -> int:
        return len(self.rows.get(table, []))


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(7, 20), rng.randint(0, 59)), tzinfo=UTC)


def generate(seed: int = 4242, today: date | None = None) -> SampleShop:
    today = today or datetime.now(UTC).date()
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    shop = SampleShop()
    customers = []
    for n in range(220):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{n}@{rng.choice(EMAIL_DOMAINS)}".lower()
        phone = f"+49 15{rng.randint(1, 9)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
        address = (
            f"{first} {last}, {rng.choice(STREETS)} {rng.randint(1, 120)}, "
            f"{rng.randint(10000, 99999)} {rng.choice(CITIES)}"
        )
        customers.append(
            (
                shop.add(
                    ShopCustomer,
                    name=f"{first} {last}",
                    email=email,
                    phone=phone,
                    tier="vip" if n % 20 == 0 else "standard",  # 11 of the 220
                ),
                address,
            )
        )
    states = [state for state, count in STATE_COUNTS.items() for _ in range(count)]
    rng.shuffle(states)
    for index, state in enumerate(states):
        customer_id, address = rng.choice(customers)
        _order(shop, rng, today, FIRST_ORDER_NUMBER + index, state, customer_id, address)
    return shop


def _order(
    shop: SampleShop,
    rng: random.Random,
    today: date,
    number: int,
    state: str,
    customer_id: int,
    address: str,
) -> None:
    age = {
        OrderStatus.AWAITING_PAYMENT: (0, 2),
        OrderStatus.PAID: (0, 1),
        OrderStatus.PACKED: (1, 2),
        OrderStatus.SHIPPED: (1, 3),
        OrderStatus.IN_TRANSIT: (2, 4),
        "delayed": (9, 16),
        OrderStatus.CANCELLED: (1, 40),
    }.get(state, (6, 75))
    placed = today - timedelta(days=rng.randint(*age))
    status = OrderStatus.IN_TRANSIT if state == "delayed" else OrderStatus(state)
    lines = rng.sample(CATALOGUE, rng.choice((1, 1, 2, 2, 3)))
    order_id = shop.count(ShopOrder) + 1
    total = 0
    item_ids = []
    for sku, name, category, price in lines:
        quantity = 1 if category in ("gift-cards", "electronics") else rng.choice((1, 1, 2))
        total += quantity * price
        item_ids.append(
            shop.add(
                ShopOrderItem,
                order_id=order_id,
                sku=sku,
                name=name,
                category=category,
                quantity=quantity,
                unit_price_cents=price,
            )
        )
    delivered_at = None
    if status in (
        OrderStatus.DELIVERED,
        OrderStatus.RETURNED,
        OrderStatus.REFUNDED,
        OrderStatus.PARTIALLY_REFUNDED,
    ):
        delivered_at = _at(placed + timedelta(days=rng.randint(2, 5)), rng)
    shop.add(
        ShopOrder,
        number=str(number),
        customer_id=customer_id,
        status=status,
        currency="EUR",
        total_cents=total,
        shipping_address=address,
        placed_at=_at(placed, rng),
        dispatch_by=placed + timedelta(days=2),
        promised_by=placed + timedelta(days=5),
        delivered_at=delivered_at,
        cancelled_at=_at(placed, rng) if status == OrderStatus.CANCELLED else None,
    )
    paid = status != OrderStatus.AWAITING_PAYMENT
    shop.add(
        ShopPayment,
        order_id=order_id,
        method=rng.choice(("card", "card", "paypal", "klarna", "bank_transfer")),
        amount_cents=total,
        status="pending"
        if not paid
        else "refunded"
        if status == OrderStatus.REFUNDED
        else "captured",
        created_at=_at(placed, rng),
    )
    if status in (
        OrderStatus.AWAITING_PAYMENT,
        OrderStatus.PAID,
        OrderStatus.PACKED,
        OrderStatus.CANCELLED,
    ):
        return
    carrier = rng.choice(list(CARRIERS))
    shipped = placed + timedelta(days=1)
    shipment_id = shop.add(
        ShopShipment,
        order_id=order_id,
        carrier=carrier,
        tracking_number=f"{CARRIERS[carrier]}{rng.randint(10**11, 10**12 - 1)}",
        shipped_at=_at(shipped, rng),
    )
    events = [(shipped, "Northwind warehouse, Leipzig", "Handed to the carrier")]
    if status != OrderStatus.SHIPPED:
        events.append(
            (shipped + timedelta(days=1), f"{carrier} hub, {rng.choice(CITIES)}", "In transit")
        )
    if state == "delayed":
        events.append(
            (
                min(today, shipped + timedelta(days=3)),
                f"{carrier} hub",
                "Delayed: held at the sorting centre",
            )
        )
    if delivered_at is not None:
        events.append((delivered_at.date(), address.rsplit(", ", 1)[-1], "Delivered"))
    for day, location, description in events:
        shop.add(
            ShopTrackingEvent,
            shipment_id=shipment_id,
            at=_at(day, rng),
            location=location,
            description=description,
        )
    refunded = {
        OrderStatus.REFUNDED: item_ids,
        OrderStatus.PARTIALLY_REFUNDED: item_ids[:1],
    }.get(status)
    if refunded and delivered_at is not None:
        items = {row["id"]: row for row in shop.rows[ShopOrderItem]}
        amounts = {i: items[i]["quantity"] * items[i]["unit_price_cents"] for i in refunded}
        refund_id = shop.add(
            ShopRefund,
            reference=f"RF-S{number}",
            order_id=order_id,
            idempotency_key=f"sample-{number}",
            amount_cents=sum(amounts.values()),
            reason=rng.choice(
                ("Arrived damaged", "Wrong size", "Changed my mind", "Not as described")
            ),
            status=RefundStatus.APPROVED,
            created_at=delivered_at + timedelta(days=rng.randint(3, 10)),
        )
        for item_id, amount in amounts.items():
            shop.add(
                ShopRefundItem, refund_id=refund_id, order_item_id=item_id, amount_cents=amount
            )


INSERT_ORDER: tuple[type[SQLModel], ...] = (
    ShopCustomer,
    ShopOrder,
    ShopOrderItem,
    ShopPayment,
    ShopShipment,
    ShopTrackingEvent,
    ShopRefund,
    ShopRefundItem,
)


async def load_if_empty(db: Database, seed: int = 4242, today: date | None = None) -> int:
    """Load the sample shop into an empty store; returns the number of orders loaded."""
    try:
        async with db.transaction() as session:
            if (await session.exec(select(func.count()).select_from(ShopOrder))).one():
                return 0
            shop = generate(seed, today)
            for table in INSERT_ORDER:
                if rows := shop.rows.get(table):
                    await session.execute(insert(table), rows)
            if not db.is_sqlite:
                for table in INSERT_ORDER:
                    name = table.__tablename__
                    sequence = f"pg_get_serial_sequence('{name}', 'id')"
                    highest = f"SELECT MAX(id) FROM {name}"  # noqa: S608 - our own table names
                    await session.execute(text(f"SELECT setval({sequence}, ({highest}))"))
    except IntegrityError:
        log.info("commerce.sample_already_loaded")  # another process loaded it first
        return 0
    count = shop.count(ShopOrder)
    log.info("commerce.sample_loaded", orders=count)
    return count
