"""One customer across channels: identities are linked through a phone number or email
address that a channel verified, never through what someone typed.

What counts as verified is the channel's word for the address the message came from:
WhatsApp's sender number (WhatsApp verified it when the account was made), the sender
number of an SMS (given by the carrier network), the sender address of an email (as good as
the mail server in front of the gateway that checks SPF, DKIM and DMARC), and on Telegram
a contact card the sender shared of their own account (`contact.user_id` equal to the
sender's id). A phone number or email typed in a chat, an order verification in the chat
(it proves someone knows an order number and its email, not that they own the address),
names and Messenger ids never link.

When an identity proves a contact that another customer already proved, the two customers
are merged: the newer one points at the older one (`Customer.merged_into_id`), and everyone
merged into the newer one is moved along, so there is never a chain. Identities, their
conversations and messages are never rewritten; every proof is kept in `customer_contact`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

import structlog
from sqlalchemy import Column, Connection, DateTime, Table, UniqueConstraint, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from . import store
from .models import ChannelIdentity, Conversation, Customer, utcnow

log = structlog.get_logger(__name__)

PHONE = "phone"
EMAIL = "email"
KINDS = (PHONE, EMAIL)
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){1,8}$")


class CustomerContact(SQLModel, table=True):
    """A phone number or email address one identity proved through its channel."""

    __tablename__ = "customer_contact"
    __table_args__ = (
        UniqueConstraint("identity_id", "kind", "value", name="uq_customer_contact_proof"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # phone | email
    value: str = Field(max_length=320, index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    identity_id: int = Field(foreign_key="channel_identity.id")
    channel: str = Field(max_length=32)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


CONTACTS: Table = CustomerContact.__table__  # type: ignore[attr-defined]
CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]


def normalise(kind: str, value: object) -> str | None:
    """The canonical form of a verified contact, or None when it is not one we can link on
    (short codes, alphanumeric SMS senders, malformed addresses)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if kind == PHONE:
        digits = value[1:] if value.startswith("+") else value
        candidate = "+" + digits
        return candidate if _E164.match(candidate) else None
    if kind == EMAIL:
        candidate = value.lower()
        return candidate if len(candidate) <= 320 and _EMAIL.match(candidate) else None
    return None


def verified_contacts(
    verified: Mapping[str, str], kinds: tuple[str, ...] = KINDS
) -> list[tuple[str, str]]:
    """The (kind, value) pairs a channel vouched for (`InboundMessage.verified`), in their
    canonical form."""
    found = []
    for kind in kinds:
        value = normalise(kind, verified.get(kind))
        if value is not None:
            found.append((kind, value))
    return found


async def canonical_ids(session: AsyncSession, customer_ids: set[int]) -> dict[int, int]:
    """Each customer's surviving customer (itself when never merged)."""
    if not customer_ids:
        return {}
    rows = await session.exec(
        select(Customer.id, func.coalesce(Customer.merged_into_id, Customer.id)).where(
            col(Customer.id).in_(customer_ids)
        )
    )
    return {int(i): int(c) for i, c in rows.all() if i is not None}


async def group_ids(session: AsyncSession, customer_id: int) -> list[int]:
    """Every customer record of the same person: the survivor and those merged into it."""
    canonical = (await canonical_ids(session, {customer_id})).get(customer_id, customer_id)
    rows = await session.exec(
        select(Customer.id).where(
            or_(col(Customer.id) == canonical, col(Customer.merged_into_id) == canonical)
        )
    )
    return sorted(int(i) for i in rows.all() if i is not None)


async def group_identities(session: AsyncSession, customer_id: int) -> list[ChannelIdentity]:
    """The person's addresses on every channel, oldest first."""
    ids = await group_ids(session, customer_id)
    rows = await session.exec(
        select(ChannelIdentity)
        .where(col(ChannelIdentity.customer_id).in_(ids))
        .order_by(col(ChannelIdentity.id))
    )
    return list(rows.all())


def link(
    conn: Connection,
    identity_id: int,
    customer_id: int,
    channel: str,
    kind: str,
    value: str,
    *,
    is_sqlite: bool,
) -> int | None:
    """Record that the identity proved the contact and merge every customer that proved
    the same one. Returns the surviving customer id when a merge happened."""
    insert = sqlite_insert if is_sqlite else pg_insert
    conn.execute(
        insert(CONTACTS)
        .values(
            kind=kind,
            value=value,
            customer_id=customer_id,
            identity_id=identity_id,
            channel=channel,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    contact = CONTACTS.c
    holders = set(
        conn.execute(
            select(contact.customer_id).where(contact.kind == kind, contact.value == value)
        ).scalars()
    )
    holders.add(customer_id)
    if len(holders) < 2:
        return None
    return merge(conn, holders, is_sqlite=is_sqlite, reason=f"{kind} via {channel}")


def merge(
    conn: Connection, customer_ids: set[int], *, is_sqlite: bool, reason: str = ""
) -> int | None:
    """Merge the people behind `customer_ids` into the oldest of them; None when they
    already were one. On PostgreSQL every record of the people involved (survivors and
    those merged into them) is locked in one statement in id order, inside a savepoint that
    is rolled back, releasing the locks, when another merge changed them meanwhile: merges
    racing in several processes serialise, never deadlock and never leave a chain."""
    c = CUSTOMERS.c
    for _ in range(10):
        survivors = set(
            conn.execute(
                select(func.coalesce(c.merged_into_id, c.id)).where(c.id.in_(customer_ids))
            ).scalars()
        )
        if len(survivors) < 2:
            return None
        attempt = None if is_sqlite else conn.begin_nested()
        people = or_(c.id.in_(survivors), c.merged_into_id.in_(survivors))
        query = select(c.id, c.merged_into_id).where(people).order_by(c.id)
        locked = conn.execute(query if is_sqlite else query.with_for_update()).all()
        roots = {i for i, merged in locked if merged is None}
        # with every survivor locked nobody can add records to them: the set is complete
        # when it still matches
        complete = set(conn.execute(select(c.id).where(people)).scalars()) == {i for i, _ in locked}
        if not (survivors <= roots and complete):
            if attempt is not None:
                attempt.rollback()
            continue  # merged elsewhere meanwhile: read the survivors again
        survivor, *losers = sorted(survivors)
        conn.execute(
            update(CUSTOMERS)
            .where(or_(c.id.in_(losers), c.merged_into_id.in_(losers)))
            .values(merged_into_id=survivor)
        )
        _fill_survivor(conn, survivor, losers)
        if attempt is not None:
            attempt.commit()
        log.info("customer.merged", survivor=survivor, merged=losers, reason=reason)
        return survivor
    raise RuntimeError(f"customers {sorted(customer_ids)} kept changing while merging")


def _fill_survivor(conn: Connection, survivor: int, losers: list[int]) -> None:
    """The survivor keeps its own name, phone and email; missing ones come from the others."""
    c = CUSTOMERS.c
    rows = conn.execute(
        select(c.id, c.display_name, c.phone, c.email)
        .where(c.id.in_([survivor, *losers]))
        .order_by(c.id)
    ).all()
    values: dict[str, str] = {}
    for index, field in enumerate(("display_name", "phone", "email"), start=1):
        own = next((r[index] for r in rows if r[0] == survivor), None)
        other = next((r[index] for r in rows if r[0] != survivor and r[index]), None)
        if own is None and other is not None:
            values[field] = other
    if values:
        conn.execute(update(CUSTOMERS).where(c.id == survivor).values(**values))


async def survivor(session: AsyncSession, customer_id: int) -> Customer | None:
    """The person's record: the customer itself, or the one it was merged into."""
    canonical = (await canonical_ids(session, {customer_id})).get(customer_id, customer_id)
    return await session.get(Customer, canonical)


async def reply_options(
    session: AsyncSession, conversation: Conversation
) -> tuple[list[ChannelIdentity], ChannelIdentity]:
    """Every address of the person a reply in `conversation` can go to, and the one it
    goes to unless someone picks another (where the customer last wrote)."""
    return (
        await group_identities(session, conversation.customer_id),
        await store.reply_target(session, conversation),
    )


async def reachable(
    session: AsyncSession, conversation: Conversation, identity_id: int
) -> ChannelIdentity | None:
    """The identity, when it is one of the person's addresses (None otherwise)."""
    identity = await session.get(ChannelIdentity, identity_id)
    if identity is None:
        return None
    if identity.customer_id not in await group_ids(session, conversation.customer_id):
        return None
    return identity
