"""Helpers for talking to the real gateway process (which talks to the real Rasa)."""

from __future__ import annotations

import sqlite3
from functools import cache
from typing import Any

import aiohttp
import yaml

from gateway.settings import PROJECT_ROOT
from tests.harness import GatewayProcess


@cache
def domain() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "bot/domain.yml").read_text())


def response_texts(name: str) -> set[str]:
    return {variant["text"] for variant in domain()["responses"][name]}


async def rest(gateway: GatewayProcess, sender: str, message: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gateway.url}/webhooks/rest/webhook", json={"sender": sender, "message": message}
        ) as response:
            assert response.status == 200, await response.text()
            return await response.json()


def query(gateway: GatewayProcess, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the gateway's SQLite database directly, as an operator would."""
    path = gateway.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()
