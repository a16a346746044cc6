"""The handoff inside the gateway: its triggers, its background desk, its console."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway import keys
from gateway.settings import Settings

from .changes import Changes
from .console_api import COURIER
from .delivery import Courier
from .desk import Desk, DeskConfig
from .hours import BusinessHours
from .live import CHANGES
from .pages import setup_console
from .triggers import TriggerPolicy

DESK = web.AppKey("handoff_desk", Desk)


def build_triggers(settings: Settings) -> TriggerPolicy:
    return TriggerPolicy(
        sensitive_words=settings.handoff_sensitive_words,
        complaint_words=settings.handoff_complaint_words,
        negative_threshold=settings.handoff_negative_sentiment,
    )


def desk_config(settings: Settings) -> DeskConfig:
    return DeskConfig(
        auto_assign=settings.handoff_auto_assign,
        interval_s=settings.handoff_interval_s,
        update_every_s=settings.handoff_update_every_s,
        abandon_after_s=settings.handoff_abandon_after_s,
        default_handle_s=settings.handoff_default_handle_s,
        tell_place=settings.handoff_tell_place,
        hours=BusinessHours.parse(settings.handoff_hours, settings.handoff_timezone),
    )


def setup_handoff(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    db = app[keys.DATABASE]
    app[CHANGES] = Changes()
    app[DESK] = Desk(
        db.transaction,
        app[keys.OUTBOX].deliver,
        desk_config(settings),
        autocommit=db.autocommit,
        changes=app[CHANGES],
    )
    app[COURIER] = Courier(app[keys.OUTBOX].deliver)
    app.cleanup_ctx.append(_desk)
    setup_console(app)


async def _desk(app: web.Application) -> AsyncIterator[None]:
    database = app[keys.DATABASE]
    await app[CHANGES].start(database.engine, *database.blocking_engines)
    await app[DESK].start()
    yield
    await app[DESK].stop()
    await app[COURIER].drain()
    await app[CHANGES].stop()
