"""The composition root: settings, database, the aiohttp application, routing, outbox, CLI."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
