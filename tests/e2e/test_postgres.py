"""The whole path on PostgreSQL: its own Rasa server and gateway process, the custom actions
writing to the same PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.actions.handoff import HANDOFF_TEXT
from gateway.settings import Settings
from knowledge import load_entries
from tests.harness import GatewayProcess, free_port, gateway_env, start_rasa

from .conftest import response_texts, rest

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url(postgres_databases: Callable[[], str]) -> str:
    return postgres_databases()


@pytest.fixture(scope="module")
def pg_gateway(
    pg_url: str, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    actions_port = free_port()
    rasa = start_rasa(actions_port, artifacts / "rasa-postgres.log")
    var = tmp_path_factory.mktemp("gateway-pg")
    process = GatewayProcess(
        gateway_env(rasa.url, pg_url, var, actions_port), artifacts / "gateway-postgres.log"
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()
        rasa.stop()


async def test_conversation_on_postgresql(pg_gateway: GatewayProcess, pg_url: str) -> None:
    customer = uuid.uuid4().hex[:12]
    entry = next(e for e in load_entries(Settings().faq_seed_path) if e.id == "shipping-times")
    assert (await rest(pg_gateway, customer, "hi"))[0]["text"] in response_texts("utter_greet")
    assert (await rest(pg_gateway, customer, entry.question))[0]["text"].startswith(entry.answer)
    assert [r["text"] for r in await rest(pg_gateway, customer, "let me speak to a human")] == [
        HANDOFF_TEXT
    ]
    with psycopg.connect(pg_url) as conn:
        owner, messages, answered = conn.execute(
            "SELECT c.owner, "
            "(SELECT count(*) FROM message m WHERE m.conversation_id = c.id "
            " AND m.sender <> 'system'), "  # not the queue's place notices
            "(SELECT count(*) FROM conversation_event e WHERE e.conversation_id = c.id "
            " AND e.type = 'faq.answered') "
            "FROM conversation c JOIN channel_identity i ON i.id = c.identity_id "
            "WHERE i.external_id = %s",
            (customer,),
        ).fetchone()
    assert (owner, messages, answered) == ("queued", 6, 1)
