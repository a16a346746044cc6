"""The gateway built in-process from test settings (for input checks that need no bot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from gateway import Settings, create_app
from tests.harness import free_port

AppFactory = Callable[..., web.Application]


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    def build(**overrides: object) -> web.Application:
        values: dict[str, object] = {
            "DATABASE_URL": f"sqlite:///{tmp_path}/gateway.db",
            "RASA_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "ACTIONS_PORT": None,
            "VAR_DIR": str(tmp_path),
        }
        values.update(overrides)
        return create_app(Settings(**values))  # type: ignore[arg-type]

    return build
