"""The agent console's and supervisor view's JSON API (behind staff roles and CSRF)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts import CurrentUser, require_role
from connectors import OutboundMessage
from conversations import Conversation, Owner, Sender, customers, store
from conversations.models import utcnow
from gateway import keys

from . import follow_ups, metrics
from .assignment import resolve, set_agent, take_next, transfer
from .context import build_context, read_tracker
from .csat import CSAT_QUESTION, csat_buttons
from .delivery import Courier
from .models import Agent, AgentState, EntryStatus, FollowUp, FollowUpStatus, QueueEntry
from .notices import say
from .profile import CustomerDirectory, linked_email, shop_profile
from .transitions import hand_back

DISPOSITIONS = ("solved", "not_solved", "refund_issued", "follow_up_needed", "escalated", "spam")
MAX_NOTE_CHARS = 4000
HAND_BACK_TEXT = "You're back with our assistant. Write any time if you need anything else."


COURIER = web.AppKey("handoff_courier", Courier)
# The shop backend, for customers' tier and orders (set by the composition root).
CUSTOMERS = web.AppKey("handoff_customers", CustomerDirectory)


def _user(request: web.Request) -> CurrentUser:
    return request["user"]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text="the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise web.HTTPBadRequest(text=f"'{name}' must be a non-empty string")
    if len(value) > limit:
        raise web.HTTPBadRequest(text=f"'{name}' is longer than {limit} characters")
    return value.strip()


async def ensure_agent(session: AsyncSession, user: CurrentUser) -> Agent:
    agent = await session.get(Agent, user.id)
    if agent is None:
        agent = await set_agent(session, user.id, display_name=user.display_name or user.username)
    return agent


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "agent_id": agent.agent_id,
        "display_name": agent.display_name,
        "state": agent.state,
        "capacity": agent.capacity,
        "active": agent.active,
        "skills": agent.skill_list(),
        "languages": agent.language_list(),
    }


def entry_json(entry: QueueEntry, now: datetime) -> dict[str, Any]:
    return {
        "conversation_id": entry.conversation_id,
        "queue": entry.queue,
        "language": entry.language,
        "channel": entry.channel,
        "reason": entry.reason,
        "priority": entry.priority,
        "note": entry.note,
        "status": entry.status,
        "agent_id": entry.agent_id,
        "waiting_s": round((now - store.as_utc(entry.created_at)).total_seconds(), 1),
    }


async def queue_snapshot(session: AsyncSession, agent_id: int) -> dict[str, Any]:
    now = utcnow()
    waiting = (
        await session.exec(
            select(QueueEntry)
            .where(QueueEntry.status == EntryStatus.WAITING)
            .order_by(col(QueueEntry.priority).desc(), col(QueueEntry.created_at))
            .limit(200)
        )
    ).all()
    mine = (
        await session.exec(
            select(QueueEntry)
            .where(QueueEntry.status == EntryStatus.CLAIMED, QueueEntry.agent_id == agent_id)
            .order_by(col(QueueEntry.claimed_at))
        )
    ).all()
    agent = await session.get(Agent, agent_id)
    open_follow_ups = (
        await session.exec(
            select(func.count()).select_from(FollowUp).where(FollowUp.status == FollowUpStatus.OPEN)
        )
    ).one()
    return {
        "agent": agent_json(agent) if agent else None,
        "waiting": [entry_json(e, now) for e in waiting],
        "mine": [entry_json(e, now) for e in mine],
        "follow_ups_open": int(open_follow_ups),
    }


@require_role("agent")
async def me(request: web.Request) -> web.Response:
    async with request.app[keys.DATABASE].transaction() as session:
        agent = await ensure_agent(session, _user(request))
    return web.json_response(agent_json(agent))


@require_role("agent")
async def change_state(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        state = AgentState(body.get("state")) if "state" in body else None
    except ValueError as exc:
        raise web.HTTPBadRequest(text="state must be online, away or offline") from exc
    capacity = body.get("capacity")
    if capacity is not None and (not isinstance(capacity, int) or not 0 <= capacity <= 50):
        raise web.HTTPBadRequest(text="capacity must be a whole number from 0 to 50")
    lists: dict[str, list[str]] = {}
    for name in ("skills", "languages"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(
            isinstance(v, str) and 0 < len(v) <= 64 for v in value
        ):
            raise web.HTTPBadRequest(text=f"{name} must be a list of short strings")
        lists[name] = value
    async with request.app[keys.DATABASE].transaction() as session:
        await ensure_agent(session, _user(request))
        agent = await set_agent(
            session,
            _user(request).id,
            state=state,
            capacity=capacity,
            skills=lists.get("skills"),
            languages=lists.get("languages"),
        )
    return web.json_response(agent_json(agent))


@require_role("agent")
async def queue(request: web.Request) -> web.Response:
    async with request.app[keys.DATABASE].transaction() as session:
        await ensure_agent(session, _user(request))
        return web.json_response(await queue_snapshot(session, _user(request).id))


@require_role("agent")
async def take_next_handler(request: web.Request) -> web.Response:
    db = request.app[keys.DATABASE]
    async with db.autocommit() as session:
        assignment = await take_next(session, _user(request).id, announce_to_customer=True)
    if assignment is None:
        async with db.transaction() as session:
            await ensure_agent(session, _user(request))  # a first visit: the agent starts offline
        return web.json_response({"conversation_id": None})
    if assignment.notice_id is not None:
        request.app[COURIER].send([assignment.notice_id])  # the claim is committed
    return web.json_response(
        {"conversation_id": assignment.conversation_id, "wait_s": assignment.wait_s}
    )


async def _conversation_for(
    session: AsyncSession, request: web.Request, *, owner_only: bool
) -> Conversation:
    """The conversation if this user may see it (its agent, or a supervisor when only
    reading); 404 otherwise, so ids of others' conversations reveal nothing."""
    conversation_id = request.match_info["conversation_id"]
    conversation = await session.get(Conversation, conversation_id[:32])
    user = _user(request)
    if conversation is None:
        raise web.HTTPNotFound(text="no such conversation")
    mine = conversation.owner == Owner.AGENT and conversation.agent_id == user.id
    if mine or (not owner_only and user.has_role("supervisor")):
        return conversation
    if not owner_only and conversation.owner == Owner.QUEUED:
        return conversation  # agents may read what waits before taking it
    raise web.HTTPNotFound(text="no such conversation among yours")


@require_role("agent", "supervisor")
async def conversation_context(request: web.Request) -> web.Response:
    app = request.app
    async with app[keys.DATABASE].autocommit() as session:
        conversation = await _conversation_for(session, request, owner_only=False)
        email = await linked_email(session, conversation.customer_id)
    rasa = app[keys.RASA]
    tracker, shop_side = await asyncio.gather(
        read_tracker(rasa.http, rasa.base_url, conversation.id),
        shop_profile(app.get(CUSTOMERS), email),
    )
    async with app[keys.DATABASE].autocommit() as session:
        package = await build_context(
            session,
            conversation,
            tracker=tracker,
            knowledge=app[keys.KNOWLEDGE],
            shop_side=shop_side,
        )
    return web.json_response(package.to_json())


@require_role("agent")
async def reply(request: web.Request) -> web.Response:
    """Sent where the customer last wrote, or to `identity_id`: another of their addresses."""
    body = await _body(request)
    text = _text(body, "text", request.app[keys.SETTINGS].max_text_chars)
    to_id = body.get("identity_id")
    if to_id is not None and (
        not isinstance(to_id, int) or isinstance(to_id, bool) or not 0 < to_id < 2**31
    ):
        raise web.HTTPBadRequest(text="identity_id must be a customer's channel id")
    async with request.app[keys.DATABASE].transaction() as session:
        conversation = await _conversation_for(session, request, owner_only=True)
        to = await customers.reachable(session, conversation, to_id) if to_id is not None else None
        if to_id is not None and (to is None or to.channel not in request.app[keys.ADAPTERS]):
            raise web.HTTPBadRequest(text="identity_id is not one of this customer's channels")
        row = await store.add_outbound(
            session,
            conversation,
            OutboundMessage(text=text, sender=Sender.AGENT),
            sender=Sender.AGENT,
            extra={"agent_id": _user(request).id, "agent": _user(request).display_name},
            to=to,
        )
    assert row.id is not None
    await request.app[keys.OUTBOX].deliver([row.id])
    return web.json_response({"message_id": row.id, "channel": row.channel})


@require_role("agent")
async def note(request: web.Request) -> web.Response:
    body = await _body(request)
    text = _text(body, "text", MAX_NOTE_CHARS)
    async with request.app[keys.DATABASE].transaction() as session:
        conversation = await _conversation_for(session, request, owner_only=True)
        await store.append_event(
            session,
            conversation.id,
            "note.added",
            agent_id=_user(request).id,
            agent=_user(request).display_name,
            text=text,
        )
    return web.json_response({"ok": True})


@require_role("agent")
async def resolve_handler(request: web.Request) -> web.Response:
    body = await _body(request)
    disposition = body.get("disposition")
    if disposition not in DISPOSITIONS:
        raise web.HTTPBadRequest(text=f"disposition must be one of {', '.join(DISPOSITIONS)}")
    async with request.app[keys.DATABASE].transaction() as session:
        conversation = await _conversation_for(session, request, owner_only=True)
        if not await resolve(session, conversation.id, _user(request).id, disposition):
            raise web.HTTPConflict(text="the conversation is no longer yours")
        row = await store.add_outbound(
            session,
            conversation,
            OutboundMessage(text=CSAT_QUESTION, buttons=csat_buttons(), sender=Sender.SYSTEM),
            sender=Sender.SYSTEM,
        )
        await store.append_event(session, conversation.id, "csat.requested")
    assert row.id is not None
    await request.app[keys.OUTBOX].deliver([row.id])
    return web.json_response({"ok": True})


@require_role("agent")
async def hand_back_handler(request: web.Request) -> web.Response:
    async with request.app[keys.DATABASE].transaction() as session:
        conversation = await _conversation_for(session, request, owner_only=True)
        if not await hand_back(session, conversation.id, agent_id=_user(request).id):
            raise web.HTTPConflict(text="the conversation is no longer yours")
        message_id = await say(session, conversation.id, HAND_BACK_TEXT)
    await request.app[keys.OUTBOX].deliver([message_id])
    return web.json_response({"ok": True})


@require_role("agent")
async def transfer_handler(request: web.Request) -> web.Response:
    body = await _body(request)
    target_queue = _text(body, "queue", 64, required=False)
    to_agent = body.get("agent_id")
    if to_agent is not None and (not isinstance(to_agent, int) or isinstance(to_agent, bool)):
        raise web.HTTPBadRequest(text="agent_id must be a number")
    if target_queue is None and to_agent is None:
        raise web.HTTPBadRequest(text="transfer needs a queue or an agent_id")
    text = _text(body, "note", MAX_NOTE_CHARS, required=False)
    async with request.app[keys.DATABASE].transaction() as session:
        conversation = await _conversation_for(session, request, owner_only=True)
        if to_agent is not None and await session.get(Agent, to_agent) is None:
            raise web.HTTPBadRequest(text="no such agent")
        if not await transfer(
            session,
            conversation.id,
            _user(request).id,
            queue=target_queue,
            to_agent_id=to_agent,
            note=text,
        ):
            raise web.HTTPConflict(text="the conversation is no longer yours")
    return web.json_response({"ok": True})


@require_role("agent")
async def follow_ups_list(request: web.Request) -> web.Response:
    try:
        status = FollowUpStatus(request.query.get("status", FollowUpStatus.OPEN))
    except ValueError as exc:
        raise web.HTTPBadRequest(text="status must be open or answered") from exc
    async with request.app[keys.DATABASE].autocommit() as session:
        return web.json_response({"follow_ups": await follow_ups.listing(session, status)})


@require_role("agent")
async def follow_up_answer(request: web.Request) -> web.Response:
    raw_id = request.match_info["follow_up_id"]
    if not raw_id.isascii() or not raw_id.isdigit() or not 0 < int(raw_id[:10]) < 2**31:
        raise web.HTTPNotFound(text="no such follow-up")
    follow_up_id = int(raw_id)
    body = await _body(request)
    text = _text(body, "text", request.app[keys.SETTINGS].max_text_chars)
    assert text is not None
    user = _user(request)
    try:
        async with request.app[keys.DATABASE].transaction() as session:
            done = await follow_ups.answer(
                session,
                follow_up_id,
                agent_id=user.id,
                agent_name=user.display_name or user.username,
                text=text,
                email_enabled=follow_ups.EMAIL_CHANNEL in request.app[keys.ADAPTERS],
            )
    except follow_ups.FollowUpGone as exc:
        raise web.HTTPNotFound(text="no such follow-up") from exc
    except follow_ups.AlreadyAnswered as exc:
        raise web.HTTPConflict(text="this follow-up was answered already") from exc
    request.app[COURIER].send([done.message_id])
    return web.json_response({"channel": done.channel, "message_id": done.message_id})


@require_role("agent")
async def canned(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    if not query:
        return web.json_response({"answers": []})
    if len(query) > 500:
        raise web.HTTPBadRequest(text="the search is longer than 500 characters")
    answer = await asyncio.to_thread(request.app[keys.KNOWLEDGE].ask, query, 5)
    return web.json_response(
        {
            "answers": [
                {"id": m.entry.id, "question": m.entry.question, "answer": m.entry.answer}
                for m in answer.matches
            ]
        }
    )


async def supervisor_snapshot(session: AsyncSession, threshold_s: float) -> dict[str, Any]:
    now = utcnow()
    entries = (
        await session.exec(
            select(QueueEntry)
            .where(QueueEntry.status != EntryStatus.CLOSED)
            .order_by(col(QueueEntry.priority).desc(), col(QueueEntry.created_at))
        )
    ).all()
    queues: dict[str, dict[str, Any]] = {}
    for entry in entries:
        q = queues.setdefault(
            entry.queue, {"queue": entry.queue, "waiting": 0, "longest_s": 0.0, "with_agents": 0}
        )
        if entry.status == EntryStatus.WAITING:
            q["waiting"] += 1
            q["longest_s"] = max(
                q["longest_s"], round((now - store.as_utc(entry.created_at)).total_seconds(), 1)
            )
        else:
            q["with_agents"] += 1
    agents = (await session.exec(select(Agent).order_by(col(Agent.display_name)))).all()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    figures = await metrics.compute(session, today, now + timedelta(seconds=1), threshold_s)
    return {
        "queues": sorted(queues.values(), key=lambda q: q["queue"]),
        "waiting": [entry_json(e, now) for e in entries if e.status == EntryStatus.WAITING],
        "agents": [agent_json(a) for a in agents],
        "metrics": metrics.asdict(figures),
    }


@require_role("supervisor")
async def supervisor(request: web.Request) -> web.Response:
    threshold = request.app[keys.SETTINGS].handoff_service_level_s
    async with request.app[keys.DATABASE].transaction() as session:
        return web.json_response(await supervisor_snapshot(session, threshold))


def _period(request: web.Request) -> tuple[datetime, datetime]:
    try:
        until = (
            datetime.fromisoformat(request.query["until"]) if "until" in request.query else utcnow()
        )
        since = (
            datetime.fromisoformat(request.query["since"])
            if "since" in request.query
            else until - timedelta(days=7)
        )
    except ValueError as exc:
        raise web.HTTPBadRequest(text="since and until must be ISO 8601 dates") from exc
    since, until = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (since, until))
    if not since < until or until - since > timedelta(days=366):
        raise web.HTTPBadRequest(text="the period must be positive and at most a year")
    return since, until


@require_role("supervisor")
async def metrics_json(request: web.Request) -> web.Response:
    since, until = _period(request)
    threshold = request.app[keys.SETTINGS].handoff_service_level_s
    async with request.app[keys.DATABASE].transaction() as session:
        figures = await metrics.compute(session, since, until, threshold)
    return web.json_response(metrics.asdict(figures))


@require_role("supervisor")
async def metrics_csv(request: web.Request) -> web.Response:
    since, until = _period(request)
    threshold = request.app[keys.SETTINGS].handoff_service_level_s
    async with request.app[keys.DATABASE].transaction() as session:
        rows = await metrics.daily(session, since, until, threshold)
    return web.Response(
        text=metrics.to_csv(rows),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="handoff-metrics.csv"'},
    )


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/api/me", me)
    r.add_post("/console/api/state", change_state)
    r.add_get("/console/api/queue", queue)
    r.add_post("/console/api/take-next", take_next_handler)
    r.add_get("/console/api/conversations/{conversation_id}", conversation_context)
    r.add_post("/console/api/conversations/{conversation_id}/reply", reply)
    r.add_post("/console/api/conversations/{conversation_id}/note", note)
    r.add_post("/console/api/conversations/{conversation_id}/resolve", resolve_handler)
    r.add_post("/console/api/conversations/{conversation_id}/hand-back", hand_back_handler)
    r.add_post("/console/api/conversations/{conversation_id}/transfer", transfer_handler)
    r.add_get("/console/api/canned", canned)
    r.add_get("/console/api/follow-ups", follow_ups_list)
    r.add_post("/console/api/follow-ups/{follow_up_id}/answer", follow_up_answer)
    r.add_get("/console/api/supervisor", supervisor)
    r.add_get("/console/api/metrics", metrics_json)
    r.add_get("/console/api/metrics.csv", metrics_csv)
