"""The customer's tier comes from the shop backend: a customer who proves an order is
theirs is linked to the shop's customer (by the order's email), a VIP is then served first,
and the agent's context package shows the tier and the orders. Unlinked customers are
standard; a shop that is down leaves the profile without a tier, never an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlmodel import select

from commerce import EmbeddedShop, HttpShop
from commerce.models import ShopCustomer, ShopOrder
from conversations import Conversation, Customer
from gateway.db import Database
from handoff import Priority, QueueEntry
from handoff.context import customer_profile
from handoff.profile import linked_email, shop_profile
from tests.action_server import domain, running_actions
from tests.handoff.helpers import new_conversation
from tests.harness import free_port


@pytest.fixture
async def actions(shop: EmbeddedShop, database: Database) -> AsyncIterator[TestClient]:
    async with running_actions(database, shop) as client:
        yield client


async def call(
    client: TestClient, action: str, sender: str, slots: dict[str, Any], text: str = ""
) -> dict[str, Any]:
    events: list[dict[str, Any]] = [{"event": "user", "text": text}]
    if "verification" in slots:
        events.append({"event": "slot", "name": "verification", "value": slots["verification"]})
    tracker = {
        "sender_id": sender,
        "slots": {"verification_attempts": 0, **slots},
        "latest_message": {"text": text, "intent": {"name": "inform"}, "entities": []},
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": "order_form"} if action.startswith("validate") else {},
        "latest_action_name": "action_listen",
    }
    response = await client.post(
        "/webhook",
        json={"next_action": action, "sender_id": sender, "tracker": tracker, "domain": domain()},
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def profile_of(
    database: Database, conversation_id: str, shop: EmbeddedShop | HttpShop
) -> dict[str, Any]:
    """The profile of the context package, read the way the console reads it."""
    async with database.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        email = await linked_email(session, conversation.customer_id)
    shop_side = await shop_profile(shop, email)
    async with database.transaction() as session:
        return await customer_profile(session, conversation, shop_side)


async def order_of(database: Database, tier: str) -> tuple[str, str]:
    """A sample order whose customer has `tier`: (order number, customer email)."""
    async with database.transaction() as session:
        row = (
            await session.exec(
                select(ShopOrder.number, ShopCustomer.email)
                .join(ShopCustomer, ShopCustomer.id == ShopOrder.customer_id)  # type: ignore[arg-type]
                .where(ShopCustomer.tier == tier)
                .order_by(ShopOrder.number)
            )
        ).first()
    assert row is not None
    return row


async def test_a_verified_vip_is_linked_served_first_and_shown_as_vip(
    actions: TestClient, shop: EmbeddedShop, database: Database
) -> None:
    number, email = await order_of(database, "vip")
    conversation_id = await new_conversation(database)
    result = await call(
        actions,
        "validate_order_form",
        conversation_id,
        {"order_number": number, "requested_slot": "verification", "verification": email},
        text=email,
    )
    assert any(e.get("name") == "verified_order" for e in result["events"])
    profile = await profile_of(database, conversation_id, shop)
    async with database.transaction() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        customer = await session.get(Customer, conversation.customer_id)
        assert customer is not None and customer.email == email.casefold()
    assert profile["vip"] is True
    assert profile["shop"]["linked"] and profile["shop"]["tier"] == "vip"
    assert profile["shop"]["orders"] >= 1

    await call(actions, "action_handoff", conversation_id, {}, text="I want a person")
    async with database.transaction() as session:
        entry = (await session.exec(select(QueueEntry))).one()
    assert (entry.priority, entry.reason) == (Priority.VIP, "vip_request")


async def test_a_standard_or_unlinked_customer_is_not_vip(
    actions: TestClient, shop: EmbeddedShop, database: Database
) -> None:
    number, email = await order_of(database, "standard")
    linked = await new_conversation(database)
    await call(
        actions,
        "validate_order_form",
        linked,
        {"order_number": number, "requested_slot": "verification", "verification": email},
        text=email,
    )
    unlinked = await new_conversation(database)
    await call(actions, "action_handoff", linked, {}, text="a person please")
    await call(actions, "action_handoff", unlinked, {}, text="a person please")
    async with database.transaction() as session:
        entries = (await session.exec(select(QueueEntry))).all()
    profile = await profile_of(database, unlinked, shop)
    assert sorted((e.priority, e.reason) for e in entries) == [
        (Priority.NORMAL, "customer_request"),
        (Priority.NORMAL, "customer_request"),
    ]
    assert profile["vip"] is False and profile["shop"]["linked"] is False


async def test_the_email_channel_address_links_and_case_does_not_matter(
    shop: EmbeddedShop, database: Database
) -> None:
    _, email = await order_of(database, "vip")
    conversation_id = await new_conversation(database, address=email.upper(), channel="email")
    assert (await profile_of(database, conversation_id, shop))["vip"] is True


async def test_a_shop_that_is_down_leaves_the_profile_without_a_tier(
    database: Database,
) -> None:
    conversation_id = await new_conversation(database)
    async with database.transaction() as session:
        await session.exec(update(Customer).values(email="vip@example.org"))
    async with aiohttp.ClientSession() as http:
        down = HttpShop(f"http://127.0.0.1:{free_port()}", "token")  # nothing listens there
        down.start(http)
        profile = await profile_of(database, conversation_id, down)
    assert profile["vip"] is False
    assert profile["shop"] == {"linked": False, "tier": "standard", "shop_available": False}
    assert await shop_profile(None, "vip@example.org") == {
        "linked": False,
        "tier": "standard",
        "shop_available": True,
    }
