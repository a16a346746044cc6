"""The custom actions over the rasa-sdk protocol, served in-process on the real store, and
the bot's domain as Rasa sends it with every call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer

from bot.actions import ActionServices, build_actions
from commerce import EmbeddedShop, RefundPolicy
from gateway.actions_server import create_actions_app
from gateway.db import Database
from gateway.settings import PROJECT_ROOT, Settings
from knowledge import KnowledgeBase, Thresholds


@cache
def domain() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "bot/domain.yml").read_text())


@asynccontextmanager
async def running_actions(database: Database, shop: EmbeddedShop) -> AsyncIterator[TestClient]:
    services = ActionServices(
        knowledge=KnowledgeBase.from_file(Settings().faq_seed_path, Thresholds(0.45, 0.2, 0.15)),
        transaction=database.transaction,
        shop=shop,
        refund_policy=RefundPolicy(),
    )
    client = TestClient(TestServer(create_actions_app(build_actions(services), "", 65536)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
