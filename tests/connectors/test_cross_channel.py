"""One customer across channels, on SQLite and PostgreSQL: identities are linked by a phone
number a channel verified (never by what someone typed), a conversation with people is
joined by the customer's messages on every linked channel, and an agent's reply goes where
the customer last wrote unless the agent picks another of their addresses."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from conversations import ChannelIdentity, Conversation, Customer, Owner
from conversations.customers import CustomerContact
from gateway import keys
from tests.accounts_helpers import create_staff, login
from tests.fakes.meta import FakeGraph
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio

from .conftest import (
    TELEGRAM_SECRET,
    ClientFactory,
    messages,
    payload,
    signed_meta,
    twilio_signed,
    wait_until,
)

WA_ID = "16505551234"
PHONE = "+16505551234"
PASSWORD = "correct horse battery staple"


def whatsapp(text: str, message_id: str, wa_id: str = WA_ID) -> dict[str, Any]:
    data = copy.deepcopy(payload("whatsapp", "text"))
    value = data["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = wa_id
    value["messages"][0].update(
        {"from": wa_id, "id": f"wamid.{message_id}", "text": {"body": text}}
    )
    return data


def telegram(text: str, message_id: int, chat: int = 2222222, **extra: Any) -> dict[str, Any]:
    data = copy.deepcopy(payload("telegram", "text"))
    data["update_id"] = 900 + message_id
    data["message"].update({"message_id": message_id, "text": text, **extra})
    data["message"]["chat"]["id"] = chat
    data["message"]["from"]["id"] = chat
    return data


async def post_whatsapp(client: TestClient, data: dict[str, Any]) -> int:
    body, headers = signed_meta(data)
    response = await client.post("/webhooks/whatsapp", data=body, headers=headers)
    return response.status


async def post_sms(client: TestClient, text: str, sid: str, sender: str = PHONE) -> int:
    params = {**payload("sms", "inbound"), "Body": text, "From": sender}
    params.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    body, headers = twilio_signed("/webhooks/sms", params, FakeTwilio.auth_token)
    response = await client.post("/webhooks/sms", data=body, headers=headers)
    return response.status


async def post_telegram(client: TestClient, data: dict[str, Any]) -> int:
    response = await client.post(
        "/webhooks/telegram",
        data=json.dumps(data).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
        },
    )
    return response.status


async def rows(client: TestClient, model: type) -> list[Any]:
    async with client.app[keys.DATABASE].transaction() as session:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())


async def identity(client: TestClient, channel: str) -> ChannelIdentity:
    (found,) = [i for i in await rows(client, ChannelIdentity) if i.channel == channel]
    return found


async def queued(client: TestClient) -> None:
    """Rasa is down in these tests: a first message hands its conversation to the queue."""

    async def check() -> bool:
        return any(c.owner == Owner.QUEUED for c in await rows(client, Conversation))

    await wait_until(check)


async def test_whatsapp_and_sms_from_one_number_are_one_customer_in_one_conversation(
    client: TestClient, fake_graph: FakeGraph, fake_twilio: FakeTwilio
) -> None:
    assert await post_whatsapp(client, whatsapp("where is my parcel?", "a1")) == 200
    await queued(client)
    assert await post_sms(client, "any news?", "SM" + "1" * 32) == 200

    whatsapp_id, sms_id = await identity(client, "whatsapp"), await identity(client, "sms")
    people = {c.id: c for c in await rows(client, Customer)}
    assert len(people) == 2
    # the newer customer points at the older one; the identities keep their own customer
    assert people[sms_id.customer_id].merged_into_id == whatsapp_id.customer_id
    assert people[whatsapp_id.customer_id].merged_into_id is None
    assert people[whatsapp_id.customer_id].phone == PHONE
    proofs = {(p.identity_id, p.kind, p.value) for p in await rows(client, CustomerContact)}
    assert proofs == {(whatsapp_id.id, "phone", PHONE), (sms_id.id, "phone", PHONE)}

    inbound = [m for m in await messages(client) if m.direction == "in"]
    assert [(m.channel, m.identity_id) for m in inbound] == [
        ("whatsapp", whatsapp_id.id),
        ("sms", sms_id.id),
    ]
    assert inbound[0].conversation_id == inbound[1].conversation_id  # joined the queued one
    assert inbound[1].status == "processed"  # routed to people as it was stored
    assert len(await rows(client, Conversation)) == 1
    await asyncio.sleep(0.5)
    assert fake_twilio.received == []  # the bot never answered the SMS


async def test_concurrent_first_messages_on_two_channels_merge_into_one_customer(
    client: TestClient,
) -> None:
    statuses = await asyncio.gather(
        post_whatsapp(client, whatsapp("hello", "b1")),
        post_sms(client, "hello", "SM" + "2" * 32),
        post_whatsapp(client, whatsapp("hello again", "b2")),
    )
    assert statuses == [200, 200, 200]
    people = await rows(client, Customer)
    survivors = {c.merged_into_id or c.id for c in people}
    assert len(people) == 2 and len(survivors) == 1
    assert min(c.id for c in people) in survivors


async def test_phone_numbers_typed_in_a_chat_or_sent_by_a_client_never_link(
    make_client: ClientFactory,
) -> None:
    client = await make_client(CHANNELS="telegram,whatsapp,rest")
    typed = telegram(f"my number is {PHONE}", 11)
    someone_else = telegram(
        "", 12, contact={"phone_number": WA_ID, "first_name": "Grace", "user_id": 99}
    )
    forged = {
        "sender": "mallory",
        "message": "hi",
        "message_id": "r1",
        "metadata": {"verified_phone": PHONE, "verified": {"phone": PHONE}},
    }
    assert await post_telegram(client, typed) == 200
    assert await post_telegram(client, someone_else) == 200
    assert (await client.post("/webhooks/rest/webhook", json=forged)).status == 200
    assert await post_whatsapp(client, whatsapp("hello", "c1")) == 200

    assert all(c.merged_into_id is None for c in await rows(client, Customer))
    proofs = [(p.kind, p.value) for p in await rows(client, CustomerContact)]
    assert proofs == [("phone", PHONE)]  # WhatsApp's own
    rest = await identity(client, "rest")
    person = [c for c in await rows(client, Customer) if c.id == rest.customer_id]
    assert person[0].phone is None  # a client's metadata fills nothing either


async def test_a_telegram_contact_card_of_the_senders_own_account_links(
    client: TestClient,
) -> None:
    own = telegram("", 13, contact={"phone_number": WA_ID, "first_name": "Ada", "user_id": 2222222})
    assert await post_telegram(client, own) == 200
    assert await post_whatsapp(client, whatsapp("hello", "d1")) == 200
    tg, wa = await identity(client, "telegram"), await identity(client, "whatsapp")
    people = {c.id: c for c in await rows(client, Customer)}
    assert people[wa.customer_id].merged_into_id == tg.customer_id


async def test_malformed_contact_cards_are_refused_and_store_nothing(client: TestClient) -> None:
    for contact in ("+16505551234", {"phone_number": 16505551234, "user_id": 2222222}):
        assert await post_telegram(client, telegram("", 14, contact=contact)) == 400
    # a number that is no phone number is kept out of the customer record and links nothing
    odd = telegram("", 15, contact={"phone_number": "12", "user_id": 2222222})
    assert await post_telegram(client, odd) == 200
    assert await rows(client, CustomerContact) == []
    assert [m.channel_message_id for m in await messages(client) if m.direction == "in"] == [
        "2222222:15"
    ]


async def test_linking_can_be_turned_off(make_client: ClientFactory) -> None:
    client = await make_client(CUSTOMER_LINK_BY="")
    assert await post_whatsapp(client, whatsapp("hello", "e1")) == 200
    assert await post_sms(client, "hello", "SM" + "3" * 32) == 200
    assert all(c.merged_into_id is None for c in await rows(client, Customer))
    assert await rows(client, CustomerContact) == []


async def _agent_takes_the_conversation(client: TestClient) -> tuple[str, dict[str, str]]:
    db = client.app[keys.DATABASE]
    await create_staff(db, "dana", PASSWORD, "agent", display_name="Dana")
    csrf = await login(client.session, str(client.make_url("")).rstrip("/"), "dana", PASSWORD)
    headers = {"X-CSRF-Token": csrf}
    online = await client.post("/console/api/state", json={"state": "online"}, headers=headers)
    assert online.status == 200
    taken = await client.post("/console/api/take-next", json={}, headers=headers)
    conversation_id = (await taken.json())["conversation_id"]
    assert conversation_id
    return conversation_id, headers


async def test_an_agent_replies_where_the_customer_last_wrote_or_where_the_agent_picks(
    make_client: ClientFactory, fake_graph: FakeGraph, fake_telegram: FakeTelegram
) -> None:
    client = await make_client(HANDOFF_AUTO_ASSIGN=False, PUBLIC_URL="")  # staff cookies over http
    assert await post_whatsapp(client, whatsapp("where is my parcel?", "f1")) == 200
    await queued(client)
    await fake_graph.wait_for(1)  # the "a person will follow up" notice, on WhatsApp
    card = {"phone_number": WA_ID, "first_name": "Grace", "user_id": 2222222}
    assert await post_telegram(client, telegram("", 21, contact=card)) == 200
    assert await post_telegram(client, telegram("I am on Telegram now", 22)) == 200
    conversation_id, headers = await _agent_takes_the_conversation(client)
    whatsapp_id, telegram_id = (
        await identity(client, "whatsapp"),
        await identity(client, "telegram"),
    )

    context = await (await client.get(f"/console/api/conversations/{conversation_id}")).json()
    customer_lines = [m for m in context["transcript"] if m["direction"] == "in"]
    assert [m["channel"] for m in customer_lines] == ["whatsapp", "telegram", "telegram"]
    assert {a["identity_id"]: a["channel"] for a in context["reply_to"]} == {
        whatsapp_id.id: "whatsapp",
        telegram_id.id: "telegram",
    }
    assert context["reply_default"] == telegram_id.id
    assert context["profile"]["channels"] == ["telegram", "whatsapp"]

    path = f"/console/api/conversations/{conversation_id}/reply"
    first = await client.post(path, json={"text": "On its way."}, headers=headers)
    assert first.status == 200 and (await first.json())["channel"] == "telegram"
    texts = await fake_telegram.wait_for(2)  # after "Dana has joined", also where they wrote
    assert [(t["chat_id"], t["text"]) for t in texts] == [
        ("2222222", "Dana has joined the conversation."),
        ("2222222", "On its way."),
    ]
    picked = {"text": "Here is the tracking link.", "identity_id": whatsapp_id.id}
    second = await client.post(path, json=picked, headers=headers)
    assert second.status == 200 and (await second.json())["channel"] == "whatsapp"
    sent = await fake_graph.wait_for(2)
    assert sent[-1]["to"] == WA_ID and sent[-1]["text"] == {"body": "Here is the tracking link."}


async def test_a_reply_to_an_address_that_is_not_the_customers_is_refused(
    make_client: ClientFactory,
) -> None:
    client = await make_client(HANDOFF_AUTO_ASSIGN=False, PUBLIC_URL="")
    assert await post_whatsapp(client, whatsapp("hello", "g1")) == 200
    await queued(client)
    assert await post_telegram(client, telegram("someone else", 16, chat=3333333)) == 200
    conversation_id, headers = await _agent_takes_the_conversation(client)
    stranger = await identity(client, "telegram")
    before = len(await messages(client))
    path = f"/console/api/conversations/{conversation_id}/reply"
    for bad in (stranger.id, 10**12, "1", True, 1.5, [1]):
        response = await client.post(path, json={"text": "hi", "identity_id": bad}, headers=headers)
        assert response.status == 400, bad
    assert len(await messages(client)) == before
