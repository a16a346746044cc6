"""How the gateway builds the shop backend and the refund rules from its settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from .backend import EmbeddedShop, HttpShop, ShopBackend
from .policy import RefundPolicy
from .sample import load_if_empty

if TYPE_CHECKING:
    from gateway.db import Database
    from gateway.settings import Settings

SHOP = web.AppKey("shop", ShopBackend)
REFUND_POLICY = web.AppKey("refund_policy", RefundPolicy)


def build_shop(settings: Settings, db: Database) -> ShopBackend:
    if settings.shop_backend == "embedded":
        return EmbeddedShop(db)
    if settings.shop_backend == "http":
        if not settings.shop_api_url:
            raise ValueError("SHOP_BACKEND=http needs SHOP_API_URL")
        return HttpShop(settings.shop_api_url, settings.shop_api_token)
    raise ValueError(f"SHOP_BACKEND must be embedded or http, not {settings.shop_backend!r}")


def refund_policy(settings: Settings) -> RefundPolicy:
    return RefundPolicy(
        window_days=settings.refund_window_days,
        non_refundable_categories=frozenset(settings.refund_non_refundable_categories),
        auto_approve_cents=settings.refund_auto_approve_cents,
    )


def setup_commerce(app: web.Application, settings: Settings, db: Database) -> None:
    """Puts the shop and the refund rules on the app; the sample shop is loaded at startup
    into an empty embedded store (after the tables exist: register after the database)."""
    app[SHOP] = build_shop(settings, db)
    app[REFUND_POLICY] = refund_policy(settings)

    async def _sample_data(app: web.Application) -> AsyncIterator[None]:
        if settings.shop_sample_data and isinstance(app[SHOP], EmbeddedShop):
            await load_if_empty(db)
        yield

    app.cleanup_ctx.append(_sample_data)


def start_shop(app: web.Application, http: aiohttp.ClientSession) -> None:
    """Hands the one HTTP client session to an HTTP shop backend."""
    shop = app.get(SHOP)
    if isinstance(shop, HttpShop):
        shop.start(http)
