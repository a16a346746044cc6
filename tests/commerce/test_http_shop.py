"""`HttpShop` against a local server that implements the shop REST contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import select

from commerce import EmbeddedShop, HttpShop, OrderStatus, ShopError, idempotency_key
from commerce.models import ShopCustomer
from gateway.db import Database

from .conftest import find_order
from .shop_api import TOKEN, create_shop_api


@pytest.fixture
async def api(shop: EmbeddedShop) -> AsyncIterator[tuple[TestServer, list[str]]]:
    requests: list[str] = []
    server = TestServer(create_shop_api(shop, requests))
    await server.start_server()
    yield server, requests
    await server.close()


@pytest.fixture
async def client(api: tuple[TestServer, list[str]]) -> AsyncIterator[HttpShop]:
    server, _ = api
    async with aiohttp.ClientSession() as http:
        remote = HttpShop(str(server.make_url("/")), TOKEN)
        remote.start(http)
        yield remote


async def test_order_over_http_equals_the_store(
    client: HttpShop, shop: EmbeddedShop, database: Database
) -> None:
    local = await find_order(shop, database, OrderStatus.PARTIALLY_REFUNDED)
    remote = await client.order(local.number)
    assert remote is not None
    assert remote.model_dump(mode="json") == local.model_dump(mode="json")
    assert await client.order("99999") is None


async def test_customer_tier_over_http_equals_the_store(
    client: HttpShop, shop: EmbeddedShop, database: Database, api: tuple[TestServer, list[str]]
) -> None:
    async with database.transaction() as session:
        vip = (await session.exec(select(ShopCustomer).where(ShopCustomer.tier == "vip"))).first()
    assert vip is not None
    local = await shop.customer(vip.email.upper())  # addresses match whatever their case
    assert local is not None and local.tier == "vip" and local.orders >= 0
    remote = await client.customer(vip.email)
    assert remote is not None and remote.model_dump() == local.model_dump()
    assert await client.customer("nobody@example.org") is None
    _, requests = api
    before = len(requests)
    for hostile in ("", "no-at-sign", "a@" + "b" * 400, "x@y.z&email=other@shop.test"):
        result = await client.customer(hostile)
        assert result is None
    assert len(requests) == before + 1  # only the last one is an address; it is sent quoted


async def test_changes_over_http(client: HttpShop, shop: EmbeddedShop, database: Database) -> None:
    paid = await find_order(shop, database, OrderStatus.PAID)
    moved = await client.change_address(paid.number, "Ada Lovelace, Ring 4, 10115 Berlin")
    assert moved.shipping_address == "Ada Lovelace, Ring 4, 10115 Berlin"
    assert (await client.cancel(paid.number)).status == OrderStatus.CANCELLED
    assert (await client.cancel(paid.number)).status == OrderStatus.CANCELLED
    shipped = await find_order(shop, database, OrderStatus.SHIPPED)
    with pytest.raises(ShopError) as refused:
        await client.cancel(shipped.number)
    assert refused.value.code == "already_shipped"


async def test_refund_over_http_once_per_key(
    client: HttpShop, shop: EmbeddedShop, database: Database
) -> None:
    order = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    ids = [order.items[0].id]
    key = idempotency_key(order.number, ids)
    first = await client.create_refund(order.number, ids, "Arrived damaged", key)
    again = await client.create_refund(order.number, ids, "Arrived damaged", key)
    assert first.created and not again.created
    assert first.refund.reference == again.refund.reference
    with pytest.raises(ShopError) as twice:
        await client.create_refund(order.number, ids, "Arrived damaged", "other-key")
    assert twice.value.code == "already_refunded"
    with pytest.raises(ShopError) as bad:
        await client.create_refund(order.number, [10**9], "Arrived damaged", "k3")
    assert bad.value.code == "invalid_items"


@pytest.mark.parametrize("number", ["../admin", "1' OR '1'='1", "9" * 10_000, "10001/cancel"])
async def test_hostile_numbers_never_reach_the_shop(
    client: HttpShop, api: tuple[TestServer, list[str]], number: str
) -> None:
    _, requests = api
    assert await client.order(number) is None
    with pytest.raises(ShopError):
        await client.cancel(number)
    assert requests == []


async def test_wrong_token_and_broken_server_are_reported_unavailable(
    api: tuple[TestServer, list[str]],
) -> None:
    server, _ = api

    async def broken(request: web.Request) -> web.Response:
        return web.Response(text="<html>oops</html>", status=502)

    broken_app = web.Application()
    broken_app.router.add_get("/orders/{number}", broken)
    broken_server = TestServer(broken_app)
    await broken_server.start_server()
    async with aiohttp.ClientSession() as http:
        wrong = HttpShop(str(server.make_url("/")), "wrong-token")
        wrong.start(http)
        with pytest.raises(ShopError) as unauthorised:
            await wrong.order("10001")
        assert unauthorised.value.code == "unavailable"
        down = HttpShop(str(broken_server.make_url("/")), TOKEN)
        down.start(http)
        with pytest.raises(ShopError) as garbage:
            await down.order("10001")
        assert garbage.value.code == "unavailable"
        gone = HttpShop("http://127.0.0.1:9", TOKEN)
        gone.start(http)
        with pytest.raises(ShopError) as refused:
            await gone.order("10001")
        assert refused.value.code == "unavailable"
    await broken_server.close()
