"""Every error leaves the gateway as JSON with a stable code; pages get safe headers."""

from __future__ import annotations

import re

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from connectors import PayloadError, SignatureError

log = structlog.get_logger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' https: data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def error_response(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def _code(reason: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PayloadError as exc:
        return error_response(exc.status, exc.code, exc.detail)
    except SignatureError as exc:
        return error_response(403, "forbidden", str(exc) or "signature check failed")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return error_response(exc.status, _code(exc.reason), detail)
    except Exception:
        log.exception("http.unhandled", path=request.path)
        return error_response(500, "internal_error", "the gateway failed to handle this request")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
