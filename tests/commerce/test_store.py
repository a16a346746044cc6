"""The embedded shop on both databases: sample data, cancellations, address changes, refunds
exactly once, and hostile order numbers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func
from sqlmodel import select

from commerce import EmbeddedShop, OrderStatus, ShopError, idempotency_key
from commerce.models import ShopOrder, ShopRefund, ShopRefundItem
from commerce.sample import STATE_COUNTS, generate, load_if_empty
from gateway.db import Database

from .conftest import find_order


async def count(database: Database, table: type, **where: object) -> int:
    async with database.transaction() as session:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(getattr(table, name) == value)
        return (await session.exec(query)).one()


def test_sample_data_is_deterministic_and_covers_every_state() -> None:
    day = date(2026, 11, 23)
    first, second = generate(seed=1, today=day), generate(seed=1, today=day)
    assert first.rows == second.rows
    orders = first.rows[ShopOrder]
    assert len(orders) == sum(STATE_COUNTS.values()) >= 500
    states = Counter(o["status"] for o in orders)
    assert set(states) == set(OrderStatus)
    late = [o for o in orders if o["status"] == OrderStatus.IN_TRANSIT and o["promised_by"] < day]
    assert len(late) == STATE_COUNTS["delayed"]
    assert generate(seed=2, today=day).rows != first.rows


async def test_sample_loads_once_and_fast(database: Database) -> None:
    started = asyncio.get_running_loop().time()
    loaded = await load_if_empty(database)
    elapsed = asyncio.get_running_loop().time() - started
    assert loaded == sum(STATE_COUNTS.values())
    assert elapsed < 5, f"loading the sample shop took {elapsed:.1f}s"
    assert await load_if_empty(database) == 0
    assert await count(database, ShopOrder) == loaded
    # Ids keep counting after the bulk insert with explicit ids (PostgreSQL sequences).
    shop = EmbeddedShop(database)
    order = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    item = order.items[0]
    outcome = await shop.create_refund(order.number, [item.id], "Wrong size", "k-seq")
    assert outcome.created


async def test_order_details(shop: EmbeddedShop, database: Database) -> None:
    order = await find_order(shop, database, OrderStatus.IN_TRANSIT)
    assert order.shipment is not None and order.shipment.events
    assert order.customer_email.endswith(("example.com", "example.org", "example.net", "example"))
    assert sum(i.amount_cents for i in order.items) == order.total_cents
    assert await shop.order("99999") is None


@pytest.mark.parametrize(
    "number",
    [
        "1' OR '1'='1",
        "10001; DROP TABLE shop_order; --",
        "9" * 10_000,
        "",
        "\uff11\uff10\uff10\uff10\uff11",
        "10001\x00",
    ],
)
async def test_hostile_order_numbers_find_nothing(
    shop: EmbeddedShop, database: Database, number: str
) -> None:
    assert await shop.order(number) is None
    with pytest.raises(ShopError) as refused:
        await shop.cancel(number)
    assert refused.value.code == "not_found"
    assert await count(database, ShopOrder) == sum(STATE_COUNTS.values())


async def test_cancel_is_idempotent_and_refused_once_shipped(
    shop: EmbeddedShop, database: Database
) -> None:
    paid = await find_order(shop, database, OrderStatus.PAID)
    first = await shop.cancel(paid.number)
    again = await shop.cancel(paid.number)
    assert first.status == again.status == OrderStatus.CANCELLED
    shipped = await find_order(shop, database, OrderStatus.SHIPPED)
    with pytest.raises(ShopError) as refused:
        await shop.cancel(shipped.number)
    assert refused.value.code == "already_shipped"
    assert (await shop.order(shipped.number)).status == OrderStatus.SHIPPED  # type: ignore[union-attr]


async def test_change_address_only_before_shipping(shop: EmbeddedShop, database: Database) -> None:
    packed = await find_order(shop, database, OrderStatus.PACKED)
    changed = await shop.change_address(packed.number, "  Ada  Lovelace, Ring 4, 10115 Berlin ")
    assert changed.shipping_address == "Ada Lovelace, Ring 4, 10115 Berlin"
    with pytest.raises(ShopError) as short:
        await shop.change_address(packed.number, "x")
    assert short.value.code == "invalid_address"
    with pytest.raises(ShopError) as long:
        await shop.change_address(packed.number, "a" * 10_000)
    assert long.value.code == "invalid_address"
    shipped = await find_order(shop, database, OrderStatus.IN_TRANSIT)
    with pytest.raises(ShopError) as refused:
        await shop.change_address(shipped.number, "Ada Lovelace, Ring 4, 10115 Berlin")
    assert refused.value.code == "already_shipped"
    assert (await shop.order(packed.number)).shipping_address == changed.shipping_address  # type: ignore[union-attr]


async def test_refund_once_per_idempotency_key(shop: EmbeddedShop, database: Database) -> None:
    order = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    item = order.items[0]
    key = idempotency_key(order.number, [item.id])
    first = await shop.create_refund(order.number, [item.id], "Arrived damaged", key)
    replay = await shop.create_refund(order.number, [item.id], "Arrived damaged", key)
    assert first.created and not replay.created
    assert replay.refund.reference == first.refund.reference
    assert first.refund.amount_cents == item.amount_cents
    after = await shop.order(order.number)
    assert after is not None and after.items[0].refunded
    assert after.status in (OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED)
    with pytest.raises(ShopError) as twice:
        await shop.create_refund(order.number, [item.id], "Arrived damaged", "another-key")
    assert twice.value.code == "already_refunded"


@pytest.mark.parametrize("same_key", [True, False])
async def test_two_simultaneous_refunds_for_one_order_create_one(
    shop: EmbeddedShop, database: Database, same_key: bool
) -> None:
    order = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    ids = [order.items[0].id]
    before = await count(database, ShopRefund)

    async def request(n: int) -> object:
        key = idempotency_key(order.number, ids) if same_key else f"key-{n}"
        try:
            return await shop.create_refund(order.number, ids, "Wrong size", key)
        except ShopError as exc:
            return exc.code

    results = await asyncio.gather(request(1), request(2))
    assert await count(database, ShopRefund) == before + 1
    assert await count(database, ShopRefundItem, order_item_id=ids[0]) == 1
    created = [r for r in results if not isinstance(r, str) and r.created]  # type: ignore[attr-defined]
    assert len(created) == 1
    if same_key:
        refs = {r.refund.reference for r in results}  # type: ignore[union-attr]
        assert len(refs) == 1
    else:
        assert "already_refunded" in results


@pytest.mark.parametrize(
    ("items", "reason", "key", "code"),
    [
        ([], "Wrong size", "k1", "invalid_items"),
        ([10**9], "Wrong size", "k2", "invalid_items"),
        (None, "", "k3", "invalid_reason"),
        (None, "x" * 501, "k4", "invalid_reason"),
        (None, "Wrong size", "k" * 129, "invalid_key"),
    ],
)
async def test_malformed_refunds_store_nothing(
    shop: EmbeddedShop,
    database: Database,
    items: list[int] | None,
    reason: str,
    key: str,
    code: str,
) -> None:
    order = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    before = await count(database, ShopRefund)
    with pytest.raises(ShopError) as refused:
        await shop.create_refund(
            order.number, [order.items[0].id] if items is None else items, reason, key
        )
    assert refused.value.code == code
    assert await count(database, ShopRefund) == before
    assert (await shop.order(order.number)).status == OrderStatus.DELIVERED  # type: ignore[union-attr]


async def test_items_of_another_order_are_refused(shop: EmbeddedShop, database: Database) -> None:
    mine = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    other = await find_order(shop, database, OrderStatus.PARTIALLY_REFUNDED)
    with pytest.raises(ShopError) as refused:
        await shop.create_refund(mine.number, [other.items[-1].id], "Wrong size", "k-other")
    assert refused.value.code == "invalid_items"
    assert datetime.now(UTC)  # the store is unchanged
    assert (await shop.order(other.number)) == other
