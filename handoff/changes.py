"""Change notifications for the live console, so websockets re-read the database when
something they show changed instead of on a timer.

Topics: `queue` (queue entries, agents, follow-ups changed) and `conversation:<id>` (a
message or an event was added to that conversation). Message status updates (the outbox
at work) are not announced; the periodic refresh shows them.

- PostgreSQL: triggers on those tables call `pg_notify` (delivered when the writing
  transaction commits, whichever process or tool wrote), and each gateway process keeps one
  connection that LISTENs. Every process hears every change, its own included.
- SQLite (one process): the engine reports the tables each connection wrote; they are
  published when the connection goes back to the pool, after its commit.

A lost listener connection is re-opened with backoff, and every subscriber is woken then
(changes may have been missed), which is also what the slow periodic refresh is for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

CHANNEL = "switchboard_handoff"
EVERYTHING = "*"
QUEUE = "queue"
QUEUE_TABLES = ("queue_entry", "handoff_agent", "handoff_follow_up")
CONVERSATION_TABLES = ("message", "conversation_event")

_FUNCTIONS = (
    f"""
CREATE OR REPLACE FUNCTION switchboard_notify_queue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '{QUEUE}');
    RETURN NULL;
END $$
""",
    f"""
CREATE OR REPLACE FUNCTION switchboard_notify_conversation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'conversation:' || NEW.conversation_id);
    RETURN NULL;
END $$
""",
)

# Statement-level for the queue tables (one notice per statement, folded per transaction),
# row-level on inserts for the conversation tables (the notice names the conversation).
_TRIGGER = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{name}') THEN
        CREATE TRIGGER {name} AFTER {events} ON {table}
        FOR EACH {level} EXECUTE FUNCTION {function}();
    END IF;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$
"""


def topic_of(table: str, conversation_id: object = None) -> str | None:
    if table in QUEUE_TABLES:
        return QUEUE
    if table in CONVERSATION_TABLES:
        return f"conversation:{conversation_id}" if conversation_id else "conversation:"
    return None


class Subscription:
    """One listener's pending topics; `wait` returns them once any arrived."""

    def __init__(self, owner: Changes, wants: Callable[[str], bool]) -> None:
        self._owner = owner
        self._wants = wants
        self._topics: set[str] = set()
        self._event = asyncio.Event()

    def offer(self, topic: str) -> None:
        if topic == EVERYTHING or self._wants(topic):
            self._topics.add(topic)
            self._event.set()

    async def wait(self, timeout_s: float) -> set[str]:
        """The topics that changed; an empty set when `timeout_s` passed without any."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)
        topics, self._topics = self._topics, set()
        self._event.clear()
        return topics

    def close(self) -> None:
        self._owner._subscriptions.discard(self)


class Changes:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, wants: Callable[[str], bool] = lambda _topic: True) -> Subscription:
        subscription = Subscription(self, wants)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, topics: Iterable[str]) -> None:
        for topic in topics:
            for subscription in list(self._subscriptions):
                subscription.offer(topic)

    async def start(self, engine: AsyncEngine, *blocking: Engine) -> None:
        """`blocking`: SQLite engines that write from worker threads (`Database.run_blocking`);
        what they wrote is published on the event loop."""
        if engine.dialect.name == "postgresql":
            await install_triggers(engine)
            self._task = asyncio.create_task(self._listen(engine), name="handoff-listen")
            return
        watch_writes(engine.sync_engine, self.publish)
        loop = asyncio.get_running_loop()
        for other in blocking:
            watch_writes(other, lambda topics: loop.call_soon_threadsafe(self.publish, topics))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self, engine: AsyncEngine) -> None:
        delay = 0.5

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            self.publish([payload])

        while True:
            lost = asyncio.Event()
            try:
                async with engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    assert raw is not None
                    raw.add_termination_listener(lambda _conn, lost=lost: lost.set())
                    await raw.add_listener(CHANNEL, on_notify)
                    try:
                        self.publish([EVERYTHING])  # whatever happened while not listening
                        delay = 0.5
                        await lost.wait()
                    finally:
                        await conn.invalidate()  # never handed out again with a listener
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("handoff.listen_failed", error=str(exc))
            self.publish([EVERYTHING])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def install_triggers(engine: AsyncEngine) -> None:
    """Idempotent, and safe when several processes start at once.

    Each statement commits on its own: CREATE TRIGGER locks its table until the end of the
    transaction, and one transaction over all five tables would deadlock with a message being
    routed meanwhile (which writes `message` and then `queue_entry`)."""
    statements = list(_FUNCTIONS)
    for table in (*QUEUE_TABLES, *CONVERSATION_TABLES):
        queue = table in QUEUE_TABLES
        statements.append(
            _TRIGGER.format(
                name=f"switchboard_notify_{table}",
                table=table,
                events="INSERT OR UPDATE OR DELETE" if queue else "INSERT",
                level="STATEMENT" if queue else "ROW",
                function="switchboard_notify_queue" if queue else "switchboard_notify_conversation",
            )
        )
    for statement in statements:
        async with engine.begin() as conn:
            await conn.execute(text(statement))


def watch_writes(sync_engine: Engine, publish: Callable[[Iterable[str]], None]) -> None:
    """SQLite: note what each connection wrote; publish it once the connection is back in
    the pool (its transaction committed), forget it on rollback."""
    key = "handoff_changes"

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _written(
        conn: Any, _cursor: Any, _statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if context is None or not (context.isinsert or context.isupdate or context.isdelete):
            return
        compiled = getattr(context, "compiled", None)
        table = getattr(getattr(compiled, "statement", None), "table", None)
        name = getattr(table, "name", None)
        if not isinstance(name, str) or topic_of(name) is None:
            return
        if name in CONVERSATION_TABLES and not context.isinsert:
            return  # like the PostgreSQL triggers: additions only
        topics: set[str] = conn.info.setdefault(key, set())
        for row in params if many else [params]:
            conversation_id = row.get("conversation_id") if isinstance(row, dict) else None
            topics.add(topic_of(name, conversation_id) or QUEUE)

    @event.listens_for(sync_engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        if conn.invalidated:
            return  # its pool record, and what it noted there, are discarded with it
        conn.info.pop(key, None)

    @event.listens_for(sync_engine.pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        topics = record.info.pop(key, None) if record is not None else None
        if topics:
            publish(topics)
