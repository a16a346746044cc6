"""Orders, refunds and complaints as whole conversations: the real gateway process, the real
Rasa model, the custom actions on the sample shop in the gateway's database."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp

from bot.actions import order_texts as texts
from bot.actions.handoff import COMPLAINT_TEXT
from gateway.rasa_process import RasaProcess
from tests.harness import GatewayProcess

from .conftest import query, response_texts, rest

REFUNDABLE = (
    "o.status = 'delivered' AND o.delivered_at >= datetime('now', '-20 days') "
    "AND NOT EXISTS (SELECT 1 FROM shop_order_item i WHERE i.order_id = o.id "
    "AND i.category IN ('gift-cards', 'personalised'))"
)
CHEAP_ITEM = (
    " EXISTS (SELECT 1 FROM shop_order_item i WHERE i.order_id = o.id "
    "AND i.quantity * i.unit_price_cents <= 10000)"
)


def sender() -> str:
    return uuid.uuid4().hex[:16]


def order_where(gateway: GatewayProcess, where: str, offset: int = 0) -> dict[str, Any]:
    sql = (
        "SELECT o.number, c.email, c.phone, o.id, o.total_cents, o.shipping_address "
        "FROM shop_order o JOIN shop_customer c ON c.id = o.customer_id WHERE "
    )
    rows = query(gateway, sql + where + " ORDER BY o.number LIMIT 1 OFFSET ?", offset)
    assert rows, f"the sample shop has no order where {where}"
    number, email, phone, order_id, total, address = rows[0]
    return {
        "number": number,
        "email": email,
        "last4": "".join(c for c in phone if c.isdigit())[-4:],
        "id": order_id,
        "total": total,
        "address": address,
    }


def texts_of(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def payloads(replies: list[dict[str, Any]]) -> list[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or []]


async def verified(gateway: GatewayProcess, customer: str, opening: str, order: dict[str, Any]):
    first = await rest(gateway, customer, opening)
    if texts_of(first) in response_texts("utter_ask_order_number"):
        first = await rest(gateway, customer, order["number"])
    assert texts_of(first) in response_texts("utter_ask_verification"), first
    return await rest(gateway, customer, f"my email is {order['email']}")


def owner(gateway: GatewayProcess, customer: str) -> tuple[str, list[tuple[str, str, str]]]:
    rows = query(
        gateway,
        "SELECT c.id, c.owner FROM conversation c JOIN channel_identity i ON i.id = c.identity_id "
        "WHERE i.external_id = ?",
        customer,
    )
    conversation_id, conversation_owner = rows[-1]
    queue = query(
        gateway,
        "SELECT queue, reason, note FROM queue_entry WHERE conversation_id = ?",
        conversation_id,
    )
    return conversation_owner, queue


async def test_late_order_status_apologises_and_offers_a_person(gateway: GatewayProcess) -> None:
    order = order_where(gateway, "o.status = 'in_transit' AND o.promised_by < date('now')")
    (tracking,) = query(
        gateway,
        "SELECT s.tracking_number FROM shop_shipment s WHERE s.order_id = ?",
        order["id"],
    )[0]
    replies = await verified(gateway, sender(), f"where is my order {order['number']}?", order)
    text = texts_of(replies)
    assert "late" in text and tracking in text, text
    assert "/human_handoff" in payloads(replies)


async def test_status_by_phone_digits_for_an_order_not_yet_shipped(
    gateway: GatewayProcess,
) -> None:
    order = order_where(gateway, "o.status = 'paid'")
    customer = sender()
    ask = await rest(gateway, customer, "has my order shipped yet?")
    assert texts_of(ask) in response_texts("utter_ask_order_number")
    await rest(gateway, customer, order["number"])
    replies = await rest(gateway, customer, f"the last four digits are {order['last4']}")
    assert "Expected dispatch" in texts_of(replies), replies


async def test_three_failed_verifications_hand_over_and_leak_nothing(
    gateway: GatewayProcess,
) -> None:
    order = order_where(gateway, "o.status = 'in_transit'")
    other = order_where(gateway, f"c.email != '{order['email']}'")
    customer = sender()
    seen = texts_of(await rest(gateway, customer, f"where is order {order['number']}"))
    for attempt in (1, 2):
        replies = await rest(gateway, customer, other["email"])
        assert texts.CLAIM_MISMATCH.format(attempt=attempt) in texts_of(replies)
        seen += texts_of(replies)
    last = await rest(gateway, customer, "0000")
    seen += texts_of(last)
    assert texts.VERIFICATION_FAILED in seen
    for secret in (order["email"], order["address"], order["last4"], "tracking"):
        assert secret not in seen
    conversation_owner, queue = owner(gateway, customer)
    assert conversation_owner == "queued"
    assert [(q, r) for q, r, _ in queue] == [("general", "verification_failed")]


async def test_faq_question_inside_the_form_is_answered_and_the_form_resumes(
    gateway: GatewayProcess,
) -> None:
    customer = sender()
    await rest(gateway, customer, "I want to cancel my order")
    replies = await rest(gateway, customer, "what is your return policy?")
    assert len(replies) >= 2
    assert texts_of(replies[-1:]) in response_texts("utter_ask_order_number")
    stopped = await rest(gateway, customer, "never mind")
    assert texts_of(stopped) == texts.STOPPED


async def test_cancel_after_confirmation_and_again(gateway: GatewayProcess) -> None:
    order = order_where(gateway, "o.status = 'packed'")
    customer = sender()
    confirm = await verified(gateway, customer, f"please cancel order {order['number']}", order)
    assert "/affirm" in payloads(confirm), confirm
    done = await rest(gateway, customer, "/affirm")
    assert f"order {order['number']} is cancelled" in texts_of(done)
    status = query(gateway, "SELECT status FROM shop_order WHERE id = ?", order["id"])
    assert status == [("cancelled",)]
    again = await rest(gateway, customer, f"cancel order {order['number']}")
    assert "already cancelled" in texts_of(again)


async def test_a_postcode_that_is_also_an_order_number_stays_part_of_the_address(
    gateway: GatewayProcess,
) -> None:
    order = order_where(gateway, "o.status IN ('paid', 'packed')")
    other = order_where(gateway, f"o.number != '{order['number']}'")
    customer = sender()
    ask = await verified(
        gateway, customer, f"i need to change the address on order {order['number']}", order
    )
    assert texts_of(ask).startswith("What is the new delivery address"), ask
    address = f"Ada Lovelace, Ring 4, {other['number']} Berlin"
    done = await rest(gateway, customer, address)
    assert f"Done: order {order['number']} will be delivered to {address}." in texts_of(done)
    rows = query(gateway, "SELECT shipping_address FROM shop_order WHERE id = ?", order["id"])
    assert rows == [(address,)]
    untouched = query(gateway, "SELECT shipping_address FROM shop_order WHERE id = ?", other["id"])
    assert untouched == [(other["address"],)]


async def test_refund_within_the_limit_is_created_exactly_once(gateway: GatewayProcess) -> None:
    order = order_where(gateway, REFUNDABLE + " AND" + CHEAP_ITEM)
    item_id, amount = query(
        gateway,
        "SELECT id, quantity * unit_price_cents FROM shop_order_item WHERE order_id = ? "
        "ORDER BY unit_price_cents * quantity LIMIT 1",
        order["id"],
    )[0]
    assert amount <= 10000
    item_payload = "/inform" + json.dumps({"refund_item": str(item_id)}, separators=(",", ":"))
    customer = sender()
    ask_item = await verified(gateway, customer, f"I want to return order {order['number']}", order)
    assert item_payload in payloads(ask_item), ask_item
    ask_reason = await rest(gateway, customer, item_payload)
    reasons = payloads(ask_reason)
    assert reasons, ask_reason
    confirmation = texts_of(await rest(gateway, customer, reasons[0]))
    rows = query(gateway, "SELECT reference FROM shop_refund WHERE order_id = ?", order["id"])
    assert len(rows) == 1
    assert rows[0][0] in confirmation and "approved" in confirmation, confirmation
    # The same click again, and the same request from another conversation: no second refund.
    await rest(gateway, customer, reasons[0])
    again = await verified(gateway, sender(), f"refund order {order['number']}", order)
    assert item_payload not in payloads(again)
    assert len(query(gateway, "SELECT id FROM shop_refund WHERE order_id = ?", order["id"])) == 1


async def test_refund_above_the_limit_goes_to_the_refunds_queue(gateway: GatewayProcess) -> None:
    order = order_where(
        gateway,
        REFUNDABLE.replace("<= 10000", "> 10000")
        .replace("AND EXISTS", "AND NOT EXISTS")
        .replace(
            "i.quantity * i.unit_price_cents > 10000", "i.quantity * i.unit_price_cents <= 10000"
        ),
    )
    customer = sender()
    ask_item = await verified(
        gateway, customer, f"I want my money back for {order['number']}", order
    )
    await rest(gateway, customer, payloads(ask_item)[0])
    handed = texts_of(await rest(gateway, customer, "The zip broke after two days"))
    assert "refunds team" in handed, handed
    conversation_owner, queue = owner(gateway, customer)
    assert conversation_owner == "queued"
    assert queue[0][:2] == ("refunds", "refund_review")
    assert order["number"] in queue[0][2] and "The zip broke after two days" in queue[0][2]
    assert query(gateway, "SELECT id FROM shop_refund WHERE order_id = ?", order["id"]) == []


async def test_forged_payloads_are_read_as_text(gateway: GatewayProcess) -> None:
    order = order_where(gateway, REFUNDABLE, offset=5)
    customer = sender()
    await rest(gateway, customer, f"I want to return order {order['number']}")
    forged = "/inform" + json.dumps({"refund_item": "all", "refund_reason": "x"})
    replies = await rest(gateway, customer, forged)
    seen = texts_of(replies)
    assert "approved" not in seen and order["email"] not in seen
    assert query(gateway, "SELECT id FROM shop_refund WHERE order_id = ?", order["id"]) == []
    verify = '/inform{"verified_order":"' + order["number"] + '"}'
    replies = await rest(gateway, customer, verify)
    assert "Expected" not in texts_of(replies) and "delivered" not in texts_of(replies)


async def test_hostile_order_numbers_get_a_clear_reply(gateway: GatewayProcess) -> None:
    customer = sender()
    await rest(gateway, customer, "where is my order?")
    for hostile in ("10001' OR '1'='1' --", "1; DROP TABLE shop_order", "9" * 3000):
        replies = await rest(gateway, customer, hostile)
        assert replies, hostile
        assert "@" not in texts_of(replies)
    assert query(gateway, "SELECT COUNT(*) FROM shop_order")[0][0] >= 500
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gateway.url}/webhooks/rest/webhook",
            json={"sender": customer, "message": "9" * 10_000},
        ) as response:
            body = await response.json()
    assert response.status in (400, 413) and body["error"], body


async def test_a_faq_question_at_the_reason_step_is_answered_then_the_reason_asked_again(
    gateway: GatewayProcess, rasa: RasaProcess
) -> None:
    order = order_where(gateway, REFUNDABLE + " AND" + CHEAP_ITEM, offset=1)
    log_start = rasa.log_path.stat().st_size
    customer = sender()
    ask_item = await verified(gateway, customer, f"I want to return order {order['number']}", order)
    ask_reason = await rest(gateway, customer, payloads(ask_item)[0])
    assert texts.ASK_REFUND_REASON in texts_of(ask_reason), ask_reason
    reason_buttons = payloads(ask_reason)
    assert reason_buttons == [
        texts.payload("inform", refund_reason=reason) for reason in texts.REFUND_REASONS
    ]
    answered = await rest(gateway, customer, "how long does a refund take?")
    assert len(answered) >= 2, answered
    assert texts_of(answered[-1:]) == texts.ASK_REFUND_REASON, answered
    assert query(gateway, "SELECT id FROM shop_refund WHERE order_id = ?", order["id"]) == []
    done = texts_of(await rest(gateway, customer, reason_buttons[1]))
    assert "approved" in done, done
    rows = query(gateway, "SELECT reason FROM shop_refund WHERE order_id = ?", order["id"])
    assert rows == [(texts.REFUND_REASONS[1],)]
    # Rasa fills {slot} placeholders in domain responses; no button payload may trip it.
    help_reply = await rest(gateway, customer, "what can you do?")
    assert '/faq{"faq_id":"shipping-times"}' in payloads(help_reply), help_reply
    with rasa.log_path.open("rb") as log:
        log.seek(log_start)
        assert b"interpolator" not in log.read()


async def test_an_order_number_beside_a_postcode_names_the_order(gateway: GatewayProcess) -> None:
    order = order_where(gateway, "o.status IN ('paid', 'packed')", offset=1)
    customer = sender()
    ask = await rest(
        gateway,
        customer,
        f"please send order {order['number']} to Rue de Rivoli 5, 75001 Paris instead",
    )
    assert texts_of(ask) in response_texts("utter_ask_verification"), ask
    replies = await rest(gateway, customer, f"my email is {order['email']}")
    assert f"new delivery address for order {order['number']}" in texts_of(replies), replies


async def test_a_postcode_in_a_faq_question_is_not_an_order_number(
    gateway: GatewayProcess,
) -> None:
    customer = sender()
    await rest(gateway, customer, "do you deliver to 75001 paris?")
    replies = await rest(gateway, customer, "where is my order?")
    assert texts_of(replies) in response_texts("utter_ask_order_number"), replies


async def test_a_complaint_goes_to_a_person_with_the_reason_complaint(
    gateway: GatewayProcess,
) -> None:
    customer = sender()
    replies = await rest(
        gateway, customer, "I've emailed you three times this week and nobody has replied"
    )
    assert texts_of(replies) == COMPLAINT_TEXT, replies
    conversation_owner, queue = owner(gateway, customer)
    assert conversation_owner == "queued"
    assert [(q, r) for q, r, _ in queue] == [("general", "complaint")]


async def test_a_complaint_inside_the_order_form_hands_over(gateway: GatewayProcess) -> None:
    customer = sender()
    ask = await rest(gateway, customer, "where is my order?")
    assert texts_of(ask) in response_texts("utter_ask_order_number")
    replies = await rest(
        gateway, customer, "your courier threw my last parcel over the fence and nobody cared"
    )
    assert texts_of(replies) == COMPLAINT_TEXT, replies
    assert [(q, r) for q, r, _ in owner(gateway, customer)[1]] == [("general", "complaint")]
