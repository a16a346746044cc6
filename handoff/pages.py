"""The agent console and supervisor pages (their data comes over the API and websockets)."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from accounts import register_staff_page, require_role, setup_templates

from . import console_api, live

STATIC_DIR = Path(__file__).parent / "static"


@require_role("agent")
async def console_page(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("handoff_console.html", request, {})


@require_role("supervisor")
async def supervisor_page(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("handoff_supervisor.html", request, {})


def setup_console(app: web.Application) -> None:
    setup_templates(app, "handoff")
    register_staff_page(
        app, "Agent console", "/console", "agent", description="the queue and your conversations"
    )
    register_staff_page(
        app,
        "Supervisor",
        "/console/supervisor",
        "supervisor",
        description="queues, agents, service level",
    )
    app.router.add_get("/console", console_page)
    app.router.add_get("/console/supervisor", supervisor_page)
    app.router.add_get("/console/ws", live.agent_socket)
    app.router.add_get("/console/supervisor/ws", live.supervisor_socket)
    app.router.add_static("/console/static/", STATIC_DIR, follow_symlinks=False)
    console_api.add_routes(app)
