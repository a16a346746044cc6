"""The rasa-sdk action protocol, served from the gateway process on a loopback port.

Rasa posts `{"next_action", "sender_id", "tracker", "domain", …}` to `/webhook`; the
answer is `{"events", "responses"}`. Running the actions here lets them use the gateway's
database engine and knowledge base directly, without a third process.
"""

from __future__ import annotations

import hmac

import structlog
from aiohttp import web
from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

from .errors import error_response, json_errors

log = structlog.get_logger(__name__)


def create_actions_app(actions: list[Action], token: str, max_body_bytes: int) -> web.Application:
    executor = ActionExecutor()
    for action in actions:
        executor.register_action(action)

    async def webhook(request: web.Request) -> web.Response:
        if token and not hmac.compare_digest(request.query.get("token", ""), token):
            return error_response(403, "forbidden", "wrong or missing action token")
        try:
            call = await request.json()
        except ValueError:
            return error_response(400, "invalid_json", "body is not valid JSON")
        if not isinstance(call, dict) or not isinstance(call.get("tracker"), dict):
            return error_response(400, "invalid_call", "an action call needs a tracker")
        try:
            result = await executor.run(call)
        except ActionNotFoundException as exc:
            return web.json_response(
                {"error": exc.message, "action_name": exc.action_name}, status=404
            )
        except ActionExecutionRejection as exc:
            return web.json_response(
                {"error": exc.message, "action_name": exc.action_name}, status=400
            )
        return web.json_response(result.model_dump() if result else None)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "actions": sorted(executor.actions)})

    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_errors])
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/health", health)
    return app
