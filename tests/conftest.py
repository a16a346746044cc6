"""Shared fixtures: a real Rasa server trained on the project's data, the gateway as a real
process, and the database backends (SQLite always, PostgreSQL where reachable)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from commerce import EmbeddedShop
from commerce.sample import load_if_empty
from gateway.db import Database
from gateway.rasa_process import RasaProcess
from gateway.settings import PROJECT_ROOT
from tests.harness import GatewayProcess, free_port, gateway_env, start_rasa
from tests.mail_servers import CapturingRelay, DovecotServer

ARTIFACTS = PROJECT_ROOT / "tests/artifacts"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def actions_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def rasa(actions_port: int, artifacts: Path) -> Iterator[RasaProcess]:
    server = start_rasa(actions_port, artifacts / "rasa.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway(
    rasa: RasaProcess, actions_port: int, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    var = tmp_path_factory.mktemp("gateway-var")
    env = gateway_env(rasa.url, f"sqlite:///{var}/switchboard.db", var, actions_port)
    process = GatewayProcess(env, artifacts / "gateway.log")
    process.start()
    yield process
    process.stop()


def _postgres_unreachable(reason: str) -> None:
    message = f"PostgreSQL unreachable at {POSTGRES_URL}: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the PostgreSQL tests)")
    pytest.skip(message)


def _admin(sql: str) -> None:
    with psycopg.connect(POSTGRES_URL, connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[], str]]:
    """Makes fresh databases on the PostgreSQL server; drops them all at the end."""
    created: list[str] = []
    try:
        _admin("SELECT 1")
    except psycopg.OperationalError as exc:
        _postgres_unreachable(str(exc))

    def create() -> str:
        name = f"switchboard_test_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}"')
        created.append(name)
        return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name

    yield create
    for name in created:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    return postgres_databases()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same tests on both backends; PostgreSQL gets its own schema per test."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/test.db")
        await db.create_tables()
        yield db
        await db.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    await _reset_schema(db)
    yield db
    await db.dispose()


async def _reset_schema(db: Database) -> None:
    from sqlalchemy import text

    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await db.create_tables()


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot IMAP server (with IDLE) and an empty mailbox for each test."""
    server = DovecotServer()
    server.start()
    yield server
    print(f"dovecot.log:\n{server.log()}")  # shown only with a failing test's output
    server.stop()


@pytest.fixture
async def smtp_relay() -> AsyncIterator[CapturingRelay]:
    relay = CapturingRelay()
    await relay.start()
    yield relay
    await relay.close()


@pytest.fixture
async def shop(database: Database) -> EmbeddedShop:
    await load_if_empty(database)
    return EmbeddedShop(database)
