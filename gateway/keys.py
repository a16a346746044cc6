"""Typed keys for what the application holds."""

from __future__ import annotations

from aiohttp import web

from connectors import ChannelAdapter
from knowledge import KnowledgeBase, LiveContent

from .db import Database
from .inbound import Inbound
from .outbox import Outbox
from .rasa_client import RasaClient
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
RASA = web.AppKey("rasa", RasaClient)
ADAPTERS = web.AppKey("adapters", dict[str, ChannelAdapter])
OUTBOX = web.AppKey("outbox", Outbox)
INBOUND = web.AppKey("inbound", Inbound)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
LIVE_CONTENT = web.AppKey("live_content", LiveContent)
