"""The composition root: `create_app(settings)` builds the whole gateway."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from accounts import setup_accounts
from bot.actions import ActionServices, build_actions
from commerce.wiring import REFUND_POLICY, SHOP, setup_commerce, start_shop
from connectors import build_adapters
from curation import setup_curation
from handoff.app import build_triggers, setup_handoff
from handoff.console_api import CUSTOMERS as HANDOFF_CUSTOMERS
from knowledge import KnowledgeBase, LiveContent, ScoringWeights, Thresholds, shared_embedder
from knowledge.lint import LintConfig

from . import keys
from .actions_server import create_actions_app
from .db import Database
from .errors import json_errors, security_headers
from .inbound import Inbound
from .outbox import Outbox
from .rasa_client import RasaClient, RasaUnavailable
from .routing import Router
from .settings import Settings

log = structlog.get_logger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[json_errors, security_headers]
    )
    db = Database(settings.resolved_database_url)
    rasa = RasaClient(settings.rasa_url, settings.rasa_timeout_s)
    adapters = build_adapters(settings.channels, settings)
    outbox = Outbox(db, adapters)
    inbound = Inbound(
        db,
        Router(db, rasa, adapters, outbox, build_triggers(settings)),
        link_by=tuple(settings.customer_link_by),
        max_concurrent_turns=settings.max_concurrent_turns,
    )
    knowledge = build_knowledge(settings)
    app[keys.SETTINGS] = settings
    app[keys.DATABASE] = db
    app[keys.RASA] = rasa
    app[keys.ADAPTERS] = adapters
    app[keys.OUTBOX] = outbox
    app[keys.INBOUND] = inbound
    app[keys.KNOWLEDGE] = knowledge
    app[keys.LIVE_CONTENT] = LiveContent(knowledge, db.transaction)

    for adapter in adapters.values():
        adapter.mount(app, inbound)
    app.router.add_get("/", chat_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_knowledge)
    setup_commerce(app, settings, db)
    app.cleanup_ctx.append(_http_client)
    app.cleanup_ctx.append(_outbox)
    app.cleanup_ctx.append(_actions_server)
    # After the database context: the first admin is created once the tables exist.
    setup_accounts(
        app,
        db,
        session_hours=settings.staff_session_hours,
        secure_cookie=settings.base_url.startswith("https://"),
        first_admin_file=settings.resolved_first_admin_file,
    )
    setup_curation(
        app,
        app[keys.LIVE_CONTENT],
        lint_config=LintConfig(
            promise_words=tuple(settings.faq_lint_promise_words),
            max_answer_chars=settings.faq_lint_max_answer_chars,
            duplicate_threshold=settings.faq_lint_duplicate_threshold,
            confusion_margin=settings.faq_lint_confusion_margin,
        ),
        group_threshold=settings.faq_unanswered_group_threshold,
        import_max_bytes=settings.faq_import_max_bytes,
    )
    setup_handoff(app)
    app[HANDOFF_CUSTOMERS] = app[SHOP]  # tiers and orders come from the shop
    app.on_startup.append(_freeze_startup_objects)
    return app


async def _freeze_startup_objects(app: web.Application) -> None:
    """What startup made (models, the embedder, compiled statements, templates) lives as
    long as the process; once frozen, the collector's full passes, which stop every request
    in flight while they run, no longer walk it."""
    gc.collect()
    gc.freeze()


def build_knowledge(settings: Settings) -> KnowledgeBase:
    """Loads the embedding model (once per process, a few seconds) unless retrieval is lexical.

    The knowledge base starts empty; `_knowledge` fills it with the published content."""
    thresholds = Thresholds(
        answer=settings.faq_answer_threshold,
        clarify=settings.faq_clarify_threshold,
        margin=settings.faq_clarify_margin,
    )
    if settings.faq_retriever == "lexical":
        return KnowledgeBase([], thresholds)
    if settings.faq_retriever != "semantic":
        raise ValueError(
            f"FAQ_RETRIEVER must be semantic or lexical, not {settings.faq_retriever!r}"
        )
    return KnowledgeBase(
        [],
        thresholds,
        embedder=shared_embedder(
            settings.resolved_faq_embedding_model, settings.embedding_runtime_dir
        ),
        weights=ScoringWeights(
            best=settings.faq_weight_best,
            prototype=settings.faq_weight_prototype,
            lexical=settings.faq_weight_lexical,
            classifier=settings.faq_weight_classifier,
            terms=settings.faq_classifier_terms,
        ),
        index_dir=settings.resolved_faq_index_dir,
    )


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = app[keys.DATABASE]
    await db.create_tables()
    yield
    await db.dispose()


async def _knowledge(app: web.Application) -> AsyncIterator[None]:
    """Seeds an empty content store, serves the published content, follows later changes."""
    live = app[keys.LIVE_CONTENT]
    settings = app[keys.SETTINGS]
    await live.seed(settings.faq_seed_path)
    await live.load()
    watcher = asyncio.create_task(live.watch(settings.faq_content_poll_s))
    yield
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as http:
        app[keys.RASA].start(http)
        start_shop(app, http)
        for adapter in app[keys.ADAPTERS].values():
            await adapter.start(http)
        yield
        for adapter in app[keys.ADAPTERS].values():
            await adapter.close()


async def _outbox(app: web.Application) -> AsyncIterator[None]:
    await app[keys.OUTBOX].start()
    await app[keys.INBOUND].recover()
    yield
    await app[keys.INBOUND].stop()
    await app[keys.INBOUND].drain()
    await app[keys.OUTBOX].stop()


async def _actions_server(app: web.Application) -> AsyncIterator[None]:
    """Custom actions listen on their own (loopback) port, never on the public one."""
    settings = app[keys.SETTINGS]
    if settings.actions_port is None:
        yield
        return
    services = ActionServices(
        knowledge=app[keys.KNOWLEDGE],
        transaction=app[keys.DATABASE].transaction,
        shop=app[SHOP],
        refund_policy=app[REFUND_POLICY],
    )
    actions_app = create_actions_app(
        build_actions(services), settings.actions_token, settings.max_body_bytes
    )
    runner = web.AppRunner(actions_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.actions_host, settings.actions_port)
    await site.start()
    log.info("actions.listening", host=settings.actions_host, port=settings.actions_port)
    yield
    await runner.cleanup()


async def chat_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "chat.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    db = app[keys.DATABASE]
    database: dict[str, object] = {
        "ok": True,
        "backend": "sqlite" if db.is_sqlite else "postgresql",
    }
    try:
        await db.ping()
    except Exception as exc:
        database.update(ok=False, error=str(exc))
    rasa: dict[str, object] = {"ok": True, "url": app[keys.RASA].base_url}
    try:
        rasa["version"] = await app[keys.RASA].version()
    except RasaUnavailable as exc:
        rasa.update(ok=False, error=str(exc))
    healthy = bool(database["ok"] and rasa["ok"])
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "database": database, "rasa": rasa},
        status=200 if healthy else 503,
    )
