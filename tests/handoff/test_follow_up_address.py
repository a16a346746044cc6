"""Which email address a follow-up is answered at when the customer was merged across
channels: the person's, also when it is on the record the customer was merged into."""

from __future__ import annotations

from conversations import Conversation, Customer, customers
from gateway.db import Database
from handoff import FollowUp
from handoff.follow_ups import email_address, listing
from handoff.models import FollowUpStatus
from tests.handoff.helpers import new_conversation


async def test_the_address_of_the_person_a_customer_was_merged_into(database: Database) -> None:
    by_mail = await new_conversation(database, address="fay@example.org", channel="email")
    by_chat = await new_conversation(database, address="88001", channel="telegram")
    async with database.transaction() as session:
        mail_customer = (await session.get(Conversation, by_mail)).customer_id  # type: ignore[union-attr]
        chat_customer = (await session.get(Conversation, by_chat)).customer_id  # type: ignore[union-attr]
        (await session.get(Customer, mail_customer)).email = "Fay@Example.org"  # type: ignore[union-attr]
        follow_up = FollowUp(conversation_id=by_chat, reason="outside_hours")
        session.add(follow_up)
    async with database.transaction() as session:
        item = await session.get(FollowUp, follow_up.id)
        assert item is not None and await email_address(session, item) is None
    survivor = await database.run_blocking(
        lambda conn: customers.merge(
            conn, {mail_customer, chat_customer}, is_sqlite=database.is_sqlite
        )
    )
    assert survivor == mail_customer  # the older record stays; the Telegram one points at it
    async with database.transaction() as session:
        item = await session.get(FollowUp, follow_up.id)
        assert item is not None and await email_address(session, item) == "fay@example.org"
        [listed] = await listing(session, FollowUpStatus.OPEN)
        assert listed["email"] == "fay@example.org" and listed["channel"] == "telegram"
