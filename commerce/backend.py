"""The shop backend behind the conversations: one interface, two implementations.

`EmbeddedShop` keeps orders in the project database (the sample shop, and shops that have
no other system). `HttpShop` is a client of the REST contract in `docs/shop-api.md`, for a
real shop system that implements it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

import aiohttp
import structlog
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .models import (
    NOT_SHIPPED,
    OrderStatus,
    RefundStatus,
    ShopCustomer,
    ShopOrder,
    ShopOrderItem,
    ShopRefund,
    ShopRefundItem,
    ShopShipment,
    ShopTrackingEvent,
)
from .views import (
    MAX_ADDRESS_CHARS,
    MAX_REASON_CHARS,
    CustomerInfo,
    ItemInfo,
    OrderDetails,
    RefundInfo,
    RefundOutcome,
    ShipmentInfo,
    ShopError,
    TrackingInfo,
    is_order_number,
)

if TYPE_CHECKING:
    from gateway.db import Database

log = structlog.get_logger(__name__)


class ShopBackend(Protocol):
    async def customer(self, email: str) -> CustomerInfo | None:
        """The shop's customer with this email address (case-insensitive); None if none."""

    async def order(self, number: str) -> OrderDetails | None:
        """The order with its items, shipment and refunds; None when there is no such order."""

    async def cancel(self, number: str) -> OrderDetails:
        """Cancel an order that has not shipped. Cancelling a cancelled order changes nothing.
        Raises ShopError(`not_found` | `already_shipped`)."""

    async def change_address(self, number: str, address: str) -> OrderDetails:
        """Raises ShopError(`not_found` | `already_shipped` | `invalid_address`)."""

    async def create_refund(
        self, number: str, item_ids: Sequence[int], reason: str, idempotency_key: str
    ) -> RefundOutcome:
        """Refund whole items, exactly once per idempotency key. Raises
        ShopError(`not_found` | `invalid_items` | `already_refunded` | `invalid_reason`)."""


def _check_address(address: str) -> str:
    cleaned = " ".join(address.split())
    if not 10 <= len(cleaned) <= MAX_ADDRESS_CHARS:
        raise ShopError("invalid_address", "an address has 10 to 300 characters")
    return cleaned


def _check_reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not 1 <= len(cleaned) <= MAX_REASON_CHARS:
        raise ShopError("invalid_reason", "a reason has 1 to 500 characters")
    return cleaned


def new_refund_reference() -> str:
    return "RF-" + secrets.token_hex(4).upper()


class EmbeddedShop:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def customer(self, email: str) -> CustomerInfo | None:
        address = email.strip().casefold()
        if not 3 <= len(address) <= 320 or "@" not in address:
            return None
        async with self._db.autocommit() as session:
            row = (
                await session.exec(
                    select(ShopCustomer, func.count(col(ShopOrder.id)))
                    .outerjoin(ShopOrder, col(ShopOrder.customer_id) == col(ShopCustomer.id))
                    .where(func.lower(ShopCustomer.email) == address)
                    .group_by(col(ShopCustomer.id))
                    .order_by(col(ShopCustomer.id))
                )
            ).first()
        if row is None:
            return None
        customer, orders = row
        return CustomerInfo(
            email=customer.email, name=customer.name, tier=customer.tier, orders=int(orders)
        )

    async def order(self, number: str) -> OrderDetails | None:
        if not is_order_number(number):
            return None
        async with self._db.transaction() as session:
            row = await _find(session, number)
            return await _details(session, row) if row else None

    async def cancel(self, number: str) -> OrderDetails:
        async with self._db.transaction() as session:
            row = await _locked(session, number)
            if row.status != OrderStatus.CANCELLED:
                if row.status not in NOT_SHIPPED:
                    raise ShopError("already_shipped", f"order {number} is {row.status}")
                row.status = OrderStatus.CANCELLED
                row.cancelled_at = datetime.now(UTC)
                session.add(row)
                log.info("shop.order_cancelled", order=number)
            return await _details(session, row)

    async def change_address(self, number: str, address: str) -> OrderDetails:
        cleaned = _check_address(address)
        async with self._db.transaction() as session:
            row = await _locked(session, number)
            if row.status not in NOT_SHIPPED:
                raise ShopError("already_shipped", f"order {number} is {row.status}")
            row.shipping_address = cleaned
            session.add(row)
            return await _details(session, row)

    async def create_refund(
        self, number: str, item_ids: Sequence[int], reason: str, idempotency_key: str
    ) -> RefundOutcome:
        cleaned = _check_reason(reason)
        if not 1 <= len(idempotency_key) <= 128:
            raise ShopError("invalid_key", "an idempotency key has 1 to 128 characters")
        async with self._db.transaction() as session:
            # The order's row lock serialises refunds of one order across processes.
            row = await _locked(session, number)
            existing = await _refund_by_key(session, idempotency_key)
            if existing is not None:
                return RefundOutcome(refund=await _refund_info(session, existing), created=False)
            items = {
                i.id: i
                for i in (
                    await session.exec(
                        select(ShopOrderItem).where(ShopOrderItem.order_id == row.id)
                    )
                ).all()
            }
            wanted = sorted(set(item_ids))
            if not wanted or any(i not in items for i in wanted):
                raise ShopError("invalid_items", "items must belong to the order")
            refunded = await _refunded_item_ids(session, [row.id or 0])
            if refunded & set(wanted):
                raise ShopError("already_refunded", "an item was refunded already")
            amounts = {i: items[i].quantity * items[i].unit_price_cents for i in wanted}
            refund = ShopRefund(
                reference=new_refund_reference(),
                order_id=row.id or 0,
                idempotency_key=idempotency_key,
                amount_cents=sum(amounts.values()),
                reason=cleaned,
                status=RefundStatus.APPROVED,
            )
            try:
                async with session.begin_nested():
                    session.add(refund)
                    await session.flush()
                    session.add_all(
                        ShopRefundItem(refund_id=refund.id or 0, order_item_id=i, amount_cents=a)
                        for i, a in amounts.items()
                    )
                    await session.flush()
            except IntegrityError:
                # Another process committed the same key (or item) between our checks.
                existing = await _refund_by_key(session, idempotency_key)
                if existing is None:
                    raise ShopError("already_refunded", "an item was refunded already") from None
                return RefundOutcome(refund=await _refund_info(session, existing), created=False)
            refunded |= set(wanted)
            fully = refunded >= set(items)
            row.status = OrderStatus.REFUNDED if fully else OrderStatus.PARTIALLY_REFUNDED
            session.add(row)
            log.info("shop.refund_created", order=number, reference=refund.reference)
            return RefundOutcome(refund=await _refund_info(session, refund), created=True)


async def _find(session: AsyncSession, number: str) -> ShopOrder | None:
    return (await session.exec(select(ShopOrder).where(ShopOrder.number == number))).first()


async def _locked(session: AsyncSession, number: str) -> ShopOrder:
    if not is_order_number(number):
        raise ShopError("not_found", "no such order")
    query = select(ShopOrder).where(ShopOrder.number == number).with_for_update()
    row = (await session.exec(query)).first()
    if row is None:
        raise ShopError("not_found", "no such order")
    return row


async def _refund_by_key(session: AsyncSession, key: str) -> ShopRefund | None:
    query = select(ShopRefund).where(ShopRefund.idempotency_key == key)
    return (await session.exec(query)).first()


async def _refunded_item_ids(session: AsyncSession, order_ids: list[int]) -> set[int]:
    query = (
        select(ShopRefundItem.order_item_id)
        .join(ShopRefund, col(ShopRefund.id) == col(ShopRefundItem.refund_id))
        .where(col(ShopRefund.order_id).in_(order_ids))
    )
    return set((await session.exec(query)).all())


async def _refund_info(session: AsyncSession, refund: ShopRefund) -> RefundInfo:
    query = select(ShopRefundItem.order_item_id).where(ShopRefundItem.refund_id == refund.id)
    return RefundInfo(
        reference=refund.reference,
        amount_cents=refund.amount_cents,
        status=refund.status,
        reason=refund.reason,
        created_at=refund.created_at,
        item_ids=sorted((await session.exec(query)).all()),
    )


async def _details(session: AsyncSession, order: ShopOrder) -> OrderDetails:
    customer = await session.get(ShopCustomer, order.customer_id)
    assert customer is not None
    items = (
        await session.exec(
            select(ShopOrderItem)
            .where(ShopOrderItem.order_id == order.id)
            .order_by(col(ShopOrderItem.id))
        )
    ).all()
    refunded = await _refunded_item_ids(session, [order.id or 0])
    shipment_row = (
        await session.exec(select(ShopShipment).where(ShopShipment.order_id == order.id))
    ).first()
    shipment = None
    if shipment_row is not None:
        events = (
            await session.exec(
                select(ShopTrackingEvent)
                .where(ShopTrackingEvent.shipment_id == shipment_row.id)
                .order_by(col(ShopTrackingEvent.at))
            )
        ).all()
        shipment = ShipmentInfo(
            carrier=shipment_row.carrier,
            tracking_number=shipment_row.tracking_number,
            shipped_at=shipment_row.shipped_at,
            events=[
                TrackingInfo(at=e.at, location=e.location, description=e.description)
                for e in events
            ],
        )
    refunds = (
        await session.exec(
            select(ShopRefund).where(ShopRefund.order_id == order.id).order_by(col(ShopRefund.id))
        )
    ).all()
    return OrderDetails(
        number=order.number,
        status=OrderStatus(order.status),
        currency=order.currency,
        total_cents=order.total_cents,
        placed_at=order.placed_at,
        dispatch_by=order.dispatch_by,
        promised_by=order.promised_by,
        delivered_at=order.delivered_at,
        shipping_address=order.shipping_address,
        customer_email=customer.email,
        customer_phone=customer.phone,
        items=[
            ItemInfo(
                id=i.id or 0,
                sku=i.sku,
                name=i.name,
                category=i.category,
                quantity=i.quantity,
                unit_price_cents=i.unit_price_cents,
                refunded=i.id in refunded,
            )
            for i in items
        ],
        shipment=shipment,
        refunds=[await _refund_info(session, r) for r in refunds],
    )


class HttpShop:
    """A client of the shop REST contract (`docs/shop-api.md`) on the one aiohttp session."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    def start(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, object]]:
        if self._http is None:
            raise RuntimeError("HttpShop.start(http) was not called")
        try:
            async with self._http.request(
                method,
                self.base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {self._token}", **(headers or {})},
                timeout=self._timeout,
            ) as response:
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ShopError("unavailable", f"shop API: {exc!r}") from exc
        if not isinstance(data, dict):
            raise ShopError("unavailable", "shop API answered with something other than an object")
        if response.status >= 500 or response.status in (401, 403):
            raise ShopError("unavailable", f"shop API answered {response.status}")
        return response.status, data

    def _path(self, number: str, suffix: str = "") -> str:
        if not is_order_number(number):
            raise ShopError("not_found", "no such order")
        return f"/orders/{quote(number, safe='')}{suffix}"

    @staticmethod
    def _error(status: int, data: dict[str, object]) -> ShopError:
        code = data.get("error")
        return ShopError(code if isinstance(code, str) else f"http_{status}", str(data))

    async def customer(self, email: str) -> CustomerInfo | None:
        address = email.strip().casefold()
        if not 3 <= len(address) <= 320 or "@" not in address:
            return None
        status, data = await self._call("GET", f"/customers?email={quote(address, safe='')}")
        if status == 404:
            return None
        if status != 200:
            raise self._error(status, data)
        return CustomerInfo.model_validate(data)

    async def order(self, number: str) -> OrderDetails | None:
        if not is_order_number(number):
            return None
        status, data = await self._call("GET", self._path(number))
        if status == 404:
            return None
        if status != 200:
            raise self._error(status, data)
        return OrderDetails.model_validate(data)

    async def cancel(self, number: str) -> OrderDetails:
        status, data = await self._call("POST", self._path(number, "/cancel"))
        if status != 200:
            raise self._error(status, data)
        return OrderDetails.model_validate(data)

    async def change_address(self, number: str, address: str) -> OrderDetails:
        cleaned = _check_address(address)
        status, data = await self._call(
            "POST", self._path(number, "/address"), {"shipping_address": cleaned}
        )
        if status != 200:
            raise self._error(status, data)
        return OrderDetails.model_validate(data)

    async def create_refund(
        self, number: str, item_ids: Sequence[int], reason: str, idempotency_key: str
    ) -> RefundOutcome:
        body: dict[str, object] = {"item_ids": list(item_ids), "reason": _check_reason(reason)}
        status, data = await self._call(
            "POST",
            self._path(number, "/refunds"),
            body,
            headers={"Idempotency-Key": idempotency_key},
        )
        if status not in (200, 201):
            raise self._error(status, data)
        return RefundOutcome(refund=RefundInfo.model_validate(data), created=status == 201)
