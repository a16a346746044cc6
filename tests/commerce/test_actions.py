"""The order actions over the rasa-sdk protocol, on the real store: verification is checked by
the actions whatever the slots claim, hostile slot values get a clear reply, and two
simultaneous refund requests make one refund."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.actions import order_texts as texts
from commerce import EmbeddedShop, OrderStatus, RefundPolicy
from commerce.models import ShopOrder, ShopRefund
from gateway.db import Database
from tests.action_server import domain, running_actions

from .conftest import find_order


@pytest.fixture
async def actions(shop: EmbeddedShop, database: Database) -> AsyncIterator[TestClient]:
    async with running_actions(database, shop) as client:
        yield client


async def call(
    client: TestClient,
    action: str,
    slots: dict[str, Any],
    text: str = "",
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    tracker = {
        "sender_id": "customer-1",
        "slots": {"verification_attempts": 0, **slots},
        "latest_message": {"text": text, "intent": {"name": "inform"}, "entities": []},
        "events": [{"event": "user", "text": text}, *(events or [])],
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": "order_form"},
        "latest_action_name": "action_listen",
    }
    response = await client.post(
        "/webhook",
        json={
            "next_action": action,
            "sender_id": "customer-1",
            "tracker": tracker,
            "domain": domain(),
        },
    )
    assert response.status == 200, await response.text()
    return await response.json()


def said(result: dict[str, Any]) -> str:
    return "\n".join(r.get("text") or "" for r in result["responses"])


def slots_set(result: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in result["events"] if e["event"] == "slot"}


async def test_a_forged_verification_slot_discloses_nothing(
    actions: TestClient, shop: EmbeddedShop, database: Database
) -> None:
    order = await find_order(shop, database, OrderStatus.IN_TRANSIT)
    assert order.shipment is not None
    for verified in ("10001" if order.number != "10001" else "10002", None, True):
        result = await call(
            actions,
            "action_order_request",
            {"order_number": order.number, "verified_order": verified, "order_request": "status"},
        )
        text = said(result)
        assert text == texts.NOT_VERIFIED
        assert order.shipment.tracking_number not in text


@pytest.mark.parametrize(
    "value", ["9" * 10_000, "10001' OR '1'='1", "<script>", ["10001", {"$ne": 1}], {"a": 1}]
)
async def test_hostile_order_numbers_get_a_clear_reply(actions: TestClient, value: object) -> None:
    result = await call(
        actions,
        "validate_order_form",
        {"order_number": value, "requested_slot": "order_number"},
        events=[{"event": "slot", "name": "order_number", "value": value}],
    )
    assert said(result) in (texts.ASK_AGAIN_ORDER, texts.NO_SUCH_ORDER.format(number="10001"))
    assert slots_set(result)["order_number"] in (None, "10001")
    assert "verified_order" not in slots_set(result)


async def test_three_wrong_claims_end_verification(
    actions: TestClient, shop: EmbeddedShop, database: Database
) -> None:
    order = await find_order(shop, database, OrderStatus.SHIPPED)
    slots: dict[str, Any] = {"order_number": order.number, "requested_slot": "verification"}
    for attempt in (1, 2, 3):
        claim = "someone.else@example.com"
        result = await call(
            actions,
            "validate_order_form",
            {**slots, "verification": claim},
            text=claim,
            events=[{"event": "slot", "name": "verification", "value": claim}],
        )
        changed = slots_set(result)
        assert changed["verification"] is None and "verified_order" not in changed
        slots["verification_attempts"] = changed["verification_attempts"]
        assert changed["verification_attempts"] == attempt
    assert changed.get("verification_failed") is True
    assert said(result) == texts.VERIFICATION_FAILED


async def test_two_simultaneous_refund_requests_make_one_refund(
    actions: TestClient, shop: EmbeddedShop, database: Database
) -> None:
    order = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    cheapest = min(
        (i for i in order.items if i.category not in RefundPolicy().non_refundable_categories),
        key=lambda i: i.amount_cents,
    )
    slots = {
        "order_number": order.number,
        "verified_order": order.number,
        "order_request": "return",
        "refund_item": str(cheapest.id),
        "refund_reason": "Arrived damaged",
    }
    if cheapest.amount_cents > RefundPolicy().auto_approve_cents:
        pytest.skip("the first refundable sample order is above the auto-approve limit")
    before = await refunds_of(database, order.number)
    results = await asyncio.gather(
        call(actions, "action_order_request", slots), call(actions, "action_order_request", slots)
    )
    after = await refunds_of(database, order.number)
    assert len(after) == len(before) + 1
    (reference,) = set(after) - set(before)
    replies = [said(r) for r in results]
    assert all(reference in r for r in replies), replies
    assert any("is approved" in r for r in replies)


async def refunds_of(database: Database, number: str) -> list[str]:
    async with database.transaction() as session:
        query = (
            select(ShopRefund.reference)
            .join(ShopOrder, col(ShopOrder.id) == col(ShopRefund.order_id))
            .where(ShopOrder.number == number)
        )
        return list((await session.exec(query)).all())


async def test_any_words_answer_the_reason_question(
    actions: TestClient, shop: EmbeddedShop, database: Database
) -> None:
    order = await find_order(shop, database, OrderStatus.DELIVERED, refundable=True)
    slots = {
        "order_number": order.number,
        "verified_order": order.number,
        "order_request": "return",
        "refund_item": "all",
        "requested_slot": "refund_reason",
    }
    result = await call(actions, "validate_order_form", slots, text="Why did the zip break?")
    assert slots_set(result)["refund_reason"] == "Why did the zip break?"
    assert slots_set(result)["requested_slot"] is None
    stopped = await call(actions, "validate_order_form", slots, text="/stop")
    assert "refund_reason" not in slots_set(stopped)
