"""A local server implementing the shop REST contract (docs/shop-api.md) over the embedded
store, for testing `HttpShop` as a client of that contract."""

from __future__ import annotations

import json

from aiohttp import web

from commerce import EmbeddedShop, ShopError

TOKEN = "shop-test-token"
STATUS = {
    "not_found": 404,
    "already_shipped": 409,
    "already_refunded": 409,
    "invalid_items": 422,
    "invalid_reason": 422,
    "invalid_address": 422,
    "invalid_key": 422,
}


def error(status: int, code: str, detail: str = "") -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def create_shop_api(shop: EmbeddedShop, requests: list[str]) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        requests.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return error(401, "unauthorized")
        try:
            return await handler(request)
        except ShopError as exc:
            return error(STATUS.get(exc.code, 422), exc.code, str(exc))

    async def body(request: web.Request) -> dict[str, object]:
        try:
            data = await request.json()
        except json.JSONDecodeError:
            raise ShopError("invalid_body", "not JSON") from None
        if not isinstance(data, dict):
            raise ShopError("invalid_body", "not an object")
        return data

    async def get_order(request: web.Request) -> web.Response:
        order = await shop.order(request.match_info["number"])
        if order is None:
            return error(404, "not_found")
        return web.json_response(text=order.model_dump_json())

    async def cancel(request: web.Request) -> web.Response:
        order = await shop.cancel(request.match_info["number"])
        return web.json_response(text=order.model_dump_json())

    async def address(request: web.Request) -> web.Response:
        data = await body(request)
        order = await shop.change_address(
            request.match_info["number"], str(data.get("shipping_address", ""))
        )
        return web.json_response(text=order.model_dump_json())

    async def refunds(request: web.Request) -> web.Response:
        data = await body(request)
        items = data.get("item_ids")
        if not isinstance(items, list) or not all(isinstance(i, int) for i in items):
            raise ShopError("invalid_items", "item_ids must be a list of integers")
        outcome = await shop.create_refund(
            request.match_info["number"],
            items,
            str(data.get("reason", "")),
            request.headers.get("Idempotency-Key", ""),
        )
        return web.json_response(
            text=outcome.refund.model_dump_json(), status=201 if outcome.created else 200
        )

    async def get_customer(request: web.Request) -> web.Response:
        customer = await shop.customer(request.query.get("email", ""))
        if customer is None:
            return error(404, "not_found")
        return web.json_response(text=customer.model_dump_json())

    app = web.Application(middlewares=[auth])
    app.router.add_get("/customers", get_customer)
    app.router.add_get("/orders/{number}", get_order)
    app.router.add_post("/orders/{number}/cancel", cancel)
    app.router.add_post("/orders/{number}/address", address)
    app.router.add_post("/orders/{number}/refunds", refunds)
    return app
