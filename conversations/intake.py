"""Storing many inbound messages in one transaction, with a handful of statements.

`store_inbound` takes the messages of concurrent requests (the gateway's group commit) and
stores each once, deduplicated on `(channel, channel_message_id)`: a replay stores nothing
and touches nothing. Statements per batch, whatever its size: one lookup of replays, one of
identities not yet in the process's cache, two of candidate conversations (locked on
PostgreSQL), one multi-row insert of the messages (`ON CONFLICT DO NOTHING`, so a replay
racing in another process is caught by the unique key), one update of the conversations'
`updated_at`; new customers, identities and conversations add one or two more. Statements
are built once (`_Statements`), with expanding parameters for their lists.

Which conversation a message joins (the cross-channel rule):
1. the identity's own open conversation, when people (the queue or an agent) own it;
2. otherwise the customer's most recently active open conversation owned by people on any
   linked identity, so an agent sees everything the person writes on every channel;
3. otherwise the identity's own open conversation with the bot, started if there is none.
While the bot owns them, each channel keeps its own conversation (Rasa's dialogue state
and channel-specific turns stay per address).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connectors.envelope import InboundMessage

from . import customers
from .models import (
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    MessageStatus,
    Owner,
    Sender,
    new_conversation_id,
    utcnow,
)
from .store import as_utc

MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]
IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[attr-defined]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[attr-defined]
CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]
EVENTS: Table = ConversationEvent.__table__  # type: ignore[attr-defined]

Key = tuple[str, str]  # (channel, channel_message_id) or (channel, address)
LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '200ms'")
OPEN = ConversationStatus.OPEN.value
BOT = Owner.BOT.value


@dataclass(frozen=True, slots=True)
class Stored:
    message_id: int
    conversation_id: str
    duplicate: bool
    status: str  # `received` when it still has to be routed


class IntakeCache:
    """What never changes once committed, kept per process: an address's identity and
    customer record (identities are never updated or deleted), the contacts an identity
    has already proved, and customer fields already filled. Bounded; entries are added
    only after the transaction that wrote them committed (`Pending.apply`)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self.identities: OrderedDict[Key, tuple[int, int]] = OrderedDict()
        self.done: set[tuple[Any, ...]] = set()

    def identity(self, key: Key) -> tuple[int, int] | None:
        found = self.identities.get(key)
        if found is not None:
            self.identities.move_to_end(key)
        return found

    def _add(self, pending: Pending) -> None:
        for key, value in pending.identities.items():
            self.identities[key] = value
        while len(self.identities) > self.max_entries:
            self.identities.popitem(last=False)
        if len(self.done) > self.max_entries:
            self.done.clear()
        self.done |= pending.done


@dataclass
class Pending:
    """Cache entries learnt in a transaction that has not committed yet."""

    cache: IntakeCache
    identities: dict[Key, tuple[int, int]] = field(default_factory=dict)
    done: set[tuple[Any, ...]] = field(default_factory=set)

    def apply(self) -> None:
        self.cache._add(self)


@dataclass(slots=True)
class _Target:
    conversation_id: str
    owner: str


class _Statements:
    """Every statement of a batch, built once per dialect."""

    def __init__(self, is_sqlite: bool) -> None:
        m, i, conv, c = MESSAGES.c, IDENTITIES.c, CONVERSATIONS.c, CUSTOMERS.c
        upsert = sqlite_insert if is_sqlite else pg_insert
        # Pairs are looked up as `channel IN (…) AND id IN (…)` and filtered afterwards:
        # SQLite scans the whole table for a row-value `IN`, but searches the unique index
        # for this form (a batch has one or two channels, so the superset is small).
        channels, values = (
            bindparam("channels", expanding=True),
            bindparam("values", expanding=True),
        )
        self.stored = select(
            m.id, m.conversation_id, m.status, m.channel, m.channel_message_id
        ).where(m.channel.in_(channels), m.channel_message_id.in_(values))
        self.identities = select(i.id, i.customer_id, i.channel, i.external_id).where(
            i.channel.in_(channels), i.external_id.in_(values)
        )
        self.new_customers = insert(CUSTOMERS).returning(c.id)
        self.new_identities = (
            upsert(IDENTITIES)
            .on_conflict_do_nothing()
            .returning(i.id, i.customer_id, i.channel, i.external_id)
        )
        self.drop_customers = delete(CUSTOMERS).where(c.id.in_(bindparam("ids", expanding=True)))
        columns = (conv.id, conv.identity_id, conv.owner, conv.updated_at)
        self.own = select(*columns).where(
            conv.identity_id.in_(bindparam("identities", expanding=True)), conv.status == OPEN
        )
        # The open conversations people own of everyone sharing a survivor with an asking
        # customer: customer → survivor → every record merged into it → conversations.
        # The records come first, fenced off in their own step, so the conversations are
        # looked up by customer: the planner of a young database (no statistics yet) began
        # at the conversations and compared each with every asking customer (milliseconds
        # per batch).
        me, them = CUSTOMERS.alias("me"), CUSTOMERS.alias("them")
        survivor = func.coalesce(me.c.merged_into_id, me.c.id)
        records = (
            select(me.c.id.label("asking"), them.c.id.label("record"))
            .select_from(
                me.join(them, or_(them.c.id == survivor, them.c.merged_into_id == survivor))
            )
            .where(me.c.id.in_(bindparam("customers", expanding=True)))
            .cte("records")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        self.people = (
            select(*columns, records.c.asking)
            .select_from(records.join(CONVERSATIONS, conv.customer_id == records.c.record))
            .where(conv.owner != BOT, conv.status == OPEN)
        )
        self.raced_own = self.own
        if not is_sqlite:  # the owner read under a row lock, in id order
            lock = {"of": CONVERSATIONS, "key_share": True}
            self.own = self.own.order_by(conv.id).with_for_update(**lock)
            self.people = self.people.order_by(conv.id).with_for_update(**lock)
            self.raced_own = self.own
        self.new_conversations = (
            upsert(CONVERSATIONS).on_conflict_do_nothing().returning(conv.id, conv.identity_id)
        )
        self.started = insert(EVENTS)
        self.new_messages = (
            upsert(MESSAGES)
            .on_conflict_do_nothing()
            .returning(m.id, m.channel, m.channel_message_id)
        )
        self.touch = (
            update(CONVERSATIONS)
            .where(conv.id.in_(bindparam("ids", expanding=True)))
            .values(updated_at=bindparam("now"))
        )
        asking = CUSTOMERS.alias("asking")
        survivor_of = (
            select(func.coalesce(asking.c.merged_into_id, asking.c.id))
            .where(asking.c.id == bindparam("customer"))
            .scalar_subquery()
        )
        self.fill = {  # on the survivor: the person's record
            column: update(CUSTOMERS)
            .where(c.id == survivor_of, c[column].is_(None))
            .values({column: bindparam("value")})
            for column in ("phone", "email", "display_name")
        }


@cache
def _statements(is_sqlite: bool) -> _Statements:
    return _Statements(is_sqlite)


def store_inbound(
    conn: Connection,
    batch: Sequence[tuple[InboundMessage, bool]],
    *,
    is_sqlite: bool,
    cache: IntakeCache,
    arrival_status: Callable[[str], str],
    link_kinds: tuple[str, ...] = customers.KINDS,
) -> tuple[list[Stored], Pending]:
    """Store `(message, handled)` pairs, in order, inside the caller's transaction (a
    plain blocking connection: `gateway.db.Database.run_blocking`).

    `handled` messages were answered by the channel itself (an SMS keyword) and are never
    routed. `arrival_status(owner)` is the status of a new message in a conversation with
    that owner (the gateway's routing decides). Returns one `Stored` per pair and the cache
    entries to apply after the commit.
    """
    sql = _statements(is_sqlite)
    if not is_sqlite:  # webhooks wait for this: never queue long behind another's locks
        conn.execute(LOCK_TIMEOUT)
    pending = Pending(cache)
    keys = [(m.channel, m.channel_message_id) for m, _ in batch]
    results: list[Stored | None] = [None] * len(batch)
    known = _stored(conn, sql, set(keys))
    fresh: dict[Key, int] = {}
    for i, key in enumerate(keys):
        if key in known:
            results[i] = known[key]
        elif key not in fresh:
            fresh[key] = i
    if fresh:
        new = [batch[i] for i in fresh.values()]
        stored = _store_new(conn, sql, new, is_sqlite, pending, arrival_status, link_kinds)
        for index, row in zip(fresh.values(), stored, strict=True):
            results[index] = row
    for i, key in enumerate(keys):  # the same message twice in one batch
        if results[i] is None:
            first = results[fresh[key]]
            assert first is not None
            results[i] = Stored(first.message_id, first.conversation_id, True, first.status)
    return [r for r in results if r is not None], pending


def _stored(conn: Connection, sql: _Statements, keys: set[Key]) -> dict[Key, Stored]:
    if not keys:
        return {}
    rows = conn.execute(sql.stored, _pairs(keys))
    found = {(r[3], r[4]): Stored(r[0], r[1], True, r[2]) for r in rows.all()}
    return {key: stored for key, stored in found.items() if key in keys}


def _pairs(keys: set[Key] | list[Key]) -> dict[str, list[str]]:
    return {"channels": sorted({k[0] for k in keys}), "values": sorted({k[1] for k in keys})}


def _store_new(
    conn: Connection,
    sql: _Statements,
    batch: list[tuple[InboundMessage, bool]],
    is_sqlite: bool,
    pending: Pending,
    arrival_status: Callable[[str], str],
    link_kinds: tuple[str, ...],
) -> list[Stored]:
    now = utcnow()
    addresses = {(m.channel, m.address) for m, _ in batch}
    identities = _identities(conn, sql, addresses, pending, now)
    _link(conn, batch, identities, is_sqlite, pending, link_kinds)
    targets = _targets(conn, sql, batch, identities, now)

    rows = []
    for message, handled in batch:
        identity_id = identities[(message.channel, message.address)][0]
        target = targets[identity_id]
        rows.append(
            {
                "conversation_id": target.conversation_id,
                "identity_id": identity_id,
                "direction": Direction.IN.value,
                "sender": Sender.CUSTOMER.value,
                "channel": message.channel,
                "channel_message_id": message.channel_message_id,
                "text": message.text,
                "payload": message.payload,
                "data": {
                    "attachments": _attachments(message),
                    "metadata": dict(message.metadata),
                },
                "status": MessageStatus.PROCESSED.value
                if handled
                else arrival_status(target.owner),
                "attempts": 0,
                "created_at": message.received_at,
            }
        )
    inserted = conn.execute(sql.new_messages, rows)
    ids = {(r[1], r[2]): r[0] for r in inserted.all()}
    raced = {
        (msg.channel, msg.channel_message_id)
        for msg, _ in batch
        if (msg.channel, msg.channel_message_id) not in ids
    }
    stored_elsewhere = _stored(conn, sql, raced)
    touched = {
        row["conversation_id"] for row in rows if (row["channel"], row["channel_message_id"]) in ids
    }
    if touched:
        conn.execute(sql.touch, {"ids": sorted(touched), "now": now})
    _remember(conn, sql, batch, identities, pending)
    out = []
    for row in rows:
        key = (row["channel"], row["channel_message_id"])
        if key in ids:
            out.append(Stored(ids[key], row["conversation_id"], False, row["status"]))
        else:
            out.append(stored_elsewhere[key])
    return out


def _attachments(message: InboundMessage) -> list[dict[str, Any]]:
    return [
        {"kind": a.kind, "url": a.url, "name": a.name, "mime_type": a.mime_type, "size": a.size}
        for a in message.attachments
    ]


def _identities(
    conn: Connection, sql: _Statements, addresses: set[Key], pending: Pending, now: Any
) -> dict[Key, tuple[int, int]]:
    """(channel, address) → (identity id, customer id), creating what is missing."""
    found: dict[Key, tuple[int, int]] = {}
    for key in addresses:
        cached = pending.cache.identity(key)
        if cached is not None:
            found[key] = cached

    def keep(rows: Any) -> None:
        for r in rows:
            if (r[2], r[3]) in addresses:
                found[(r[2], r[3])] = (r[0], r[1])
                pending.identities[(r[2], r[3])] = (r[0], r[1])

    missing = addresses - found.keys()
    if not missing:
        return found
    keep(conn.execute(sql.identities, _pairs(missing)).all())
    missing = addresses - found.keys()
    if not missing:
        return found
    # New customers are blank rows, so any new id can go with any new address.
    new = sorted(missing)
    created = conn.execute(sql.new_customers, [{"created_at": now} for _ in new])
    customer_ids = sorted(r[0] for r in created.all())
    rows = [
        {"customer_id": c, "channel": ch, "external_id": a, "created_at": now}
        for c, (ch, a) in zip(customer_ids, new, strict=True)
    ]
    keep((conn.execute(sql.new_identities, rows)).all())
    raced = [k for k in new if k not in found]
    if raced:  # another process created them first: use its rows, drop our blank customers
        keep(conn.execute(sql.identities, _pairs(raced)).all())
        used = {customer for _, customer in found.values()}
        unused = [c for c in customer_ids if c not in used]
        if unused:
            conn.execute(sql.drop_customers, {"ids": unused})
    return found


def _link(
    conn: Connection,
    batch: list[tuple[InboundMessage, bool]],
    identities: dict[Key, tuple[int, int]],
    is_sqlite: bool,
    pending: Pending,
    kinds: tuple[str, ...],
) -> None:
    if not kinds:
        return
    for message, _ in batch:
        identity_id, customer_id = identities[(message.channel, message.address)]
        for kind, value in customers.verified_contacts(message.verified, kinds):
            key = ("link", identity_id, kind, value)
            if key in pending.cache.done or key in pending.done:
                continue
            customers.link(
                conn, identity_id, customer_id, message.channel, kind, value, is_sqlite=is_sqlite
            )
            pending.done.add(key)


def _targets(
    conn: Connection,
    sql: _Statements,
    batch: list[tuple[InboundMessage, bool]],
    identities: dict[Key, tuple[int, int]],
    now: Any,
) -> dict[int, _Target]:
    """The conversation each identity's messages join (the rule in the module docstring),
    with its owner read under a row lock (PostgreSQL), so a message is stored as routed to
    people only while people own the conversation."""
    wanted = sorted({identities[(m.channel, m.address)] for m, _ in batch})
    own = {r[1]: r for r in (conn.execute(sql.own, {"identities": [i for i, _ in wanted]})).all()}
    people: dict[int, list[Any]] = {}
    rows = conn.execute(sql.people, {"customers": sorted({c for _, c in wanted})})
    for r in rows.all():
        people.setdefault(r[4], []).append(r)
    targets: dict[int, _Target] = {}
    to_create: list[tuple[int, int]] = []
    for identity_id, customer_id in wanted:
        mine = own.get(identity_id)
        if mine is not None and mine[2] != BOT:
            targets[identity_id] = _Target(mine[0], mine[2])
            continue
        others = people.get(customer_id)
        if others:
            best = max(others, key=lambda r: (as_utc(r[3]), r[0]))
            targets[identity_id] = _Target(best[0], best[2])
        elif mine is not None:
            targets[identity_id] = _Target(mine[0], mine[2])
        else:
            to_create.append((identity_id, customer_id))
    if to_create:
        targets.update(_start(conn, sql, to_create, batch, identities, now))
    return targets


def _start(
    conn: Connection,
    sql: _Statements,
    to_create: list[tuple[int, int]],
    batch: list[tuple[InboundMessage, bool]],
    identities: dict[Key, tuple[int, int]],
    now: Any,
) -> dict[int, _Target]:
    channel_of = {identities[(m.channel, m.address)][0]: m.channel for m, _ in batch}
    rows = [
        {
            "id": new_conversation_id(),
            "identity_id": identity_id,
            "customer_id": customer_id,
            "channel": channel_of[identity_id],
            "owner": BOT,
            "status": OPEN,
            "created_at": now,
            "updated_at": now,
        }
        for identity_id, customer_id in to_create
    ]
    inserted = conn.execute(sql.new_conversations, rows)
    started = {r[1]: _Target(r[0], BOT) for r in inserted.all()}
    if started:
        conn.execute(
            sql.started,
            [
                {
                    "conversation_id": t.conversation_id,
                    "type": "conversation.started",
                    "data": {},
                    "created_at": now,
                }
                for t in started.values()
            ],
        )
    raced = [i for i, _ in to_create if i not in started]
    if raced:  # another process started them first
        for r in (conn.execute(sql.raced_own, {"identities": raced})).all():
            started[r[1]] = _Target(r[0], r[2])
    return started


def _remember(
    conn: Connection,
    sql: _Statements,
    batch: list[tuple[InboundMessage, bool]],
    identities: dict[Key, tuple[int, int]],
    pending: Pending,
) -> None:
    """Fill the customer's phone, email and name from what a channel vouched for (a name:
    any channel's profile name); a value already known is never overwritten."""
    for message, _ in batch:
        meta = message.metadata
        _, customer_id = identities[(message.channel, message.address)]
        for column, kind, limit in (
            ("phone", customers.PHONE, 32),
            ("email", customers.EMAIL, 320),
            ("display_name", None, 200),
        ):
            raw = meta.get("display_name") if kind is None else message.verified.get(kind)
            value = raw if kind is None else customers.normalise(kind, raw)
            if not isinstance(value, str) or not value:
                continue
            key = ("fill", customer_id, column)
            if key in pending.cache.done or key in pending.done:
                continue
            conn.execute(sql.fill[column], {"customer": customer_id, "value": value[:limit]})
            pending.done.add(key)
