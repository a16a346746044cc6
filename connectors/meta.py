"""What WhatsApp Cloud API and Messenger share: Meta's webhook verification handshake, the
`X-Hub-Signature-256` HMAC of the raw body, and Graph API calls with their error mapping."""

from __future__ import annotations

import hashlib
import hmac
from abc import abstractmethod
from typing import Any, ClassVar

import aiohttp
import structlog
from aiohttp import web

from .base import ChannelAdapter, GatewayPort
from .envelope import InboundMessage
from .errors import (
    PayloadError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SignatureError,
)
from .ratelimit import SendLimiter
from .validation import decode_json_object

log = structlog.get_logger(__name__)

# Graph error codes that mean "too many calls, try later" (application, user, page,
# WhatsApp business-account and pair rate limits).
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})


def verify_hub_signature(app_secret: str, body: bytes, header: str | None) -> None:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`."""
    if not header or not header.startswith("sha256="):
        raise SignatureError("missing or malformed X-Hub-Signature-256")
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.removeprefix("sha256=").encode()):
        raise SignatureError("X-Hub-Signature-256 does not match the body")


def require_setting(settings: Any, *names: str) -> None:
    missing = [n for n in names if not getattr(settings, n.lower())]
    if missing:
        raise ValueError(f"enabled channel needs {', '.join(missing)}")


def as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{what} must be a list")
    return value


def provider_id(value: Any, what: str, max_chars: int = 256) -> str:
    """A provider's id: printable, no whitespace (ids like `wamid.…=` carry base64)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_chars
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise PayloadError(f"{what} must be an id of at most {max_chars} characters")
    return value


def optional_text(value: Any, what: str, max_chars: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be a string")
    if len(value) > max_chars:
        raise PayloadError(
            f"{what} is longer than {max_chars} characters", code="too_long", status=413
        )
    if "\x00" in value:
        raise PayloadError(f"{what} contains a NUL character")
    return value


class MetaAdapter(ChannelAdapter):
    """Webhook routes at `/webhooks/<name>`: GET answers the verification handshake, POST
    checks the signature, parses every message first and stores them all before 200."""

    object_type: ClassVar[str]

    def __init__(
        self,
        *,
        app_secret: str,
        verify_token: str,
        graph_url: str,
        access_token: str,
        max_text_chars: int = 4000,
        limiter: SendLimiter | None = None,
    ) -> None:
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.graph_url = graph_url.rstrip("/")
        self.access_token = access_token
        self.max_text_chars = max_text_chars
        self.limiter = limiter or SendLimiter(80, 1)
        self._http: aiohttp.ClientSession | None = None
        self._port: GatewayPort | None = None

    def mount(self, app: web.Application, port: GatewayPort) -> None:
        self._port = port
        app.router.add_get(f"/webhooks/{self.name}", self._handshake)
        app.router.add_post(f"/webhooks/{self.name}", self._webhook)

    async def start(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    async def _handshake(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("hub.mode") != "subscribe" or "hub.challenge" not in query:
            raise PayloadError("expected hub.mode=subscribe with hub.challenge")
        token = query.get("hub.verify_token", "")
        if not hmac.compare_digest(token.encode(), self.verify_token.encode()):
            raise SignatureError("hub.verify_token does not match")
        return web.Response(text=query["hub.challenge"], content_type="text/plain")

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        verify_hub_signature(self.app_secret, body, request.headers.get("X-Hub-Signature-256"))
        data = decode_json_object(body)
        if data.get("object") != self.object_type:
            raise PayloadError(f"'object' must be {self.object_type!r}")
        messages = self.parse(data)
        assert self._port is not None
        for message in messages:
            await self._port.accept(message)
        return web.json_response({"status": "ok", "stored": len(messages)})

    @abstractmethod
    def parse(self, data: dict[str, Any]) -> list[InboundMessage]:
        """Every customer message in the notification; raises `PayloadError` on bad shapes."""

    async def graph_post(self, path: str, payload: dict[str, Any], recipient: str) -> dict:
        """POST to the Graph API, spaced by the limiter; errors become delivery errors."""
        if self._http is None:
            raise RetryableDeliveryError("the channel has not started")
        await self.limiter.wait(recipient)
        headers = {"Authorization": f"Bearer {self.access_token}"}
        try:
            async with self._http.post(
                f"{self.graph_url}/{path}",
                json=payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"Graph API unreachable: {exc!r}") from exc
        if 200 <= status < 300 and isinstance(body, dict):
            return body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        error = error if isinstance(error, dict) else {}
        detail = f"Graph API answered {status}: {error.get('message') or 'no error message'}"
        if status == 429 or error.get("code") in THROTTLING_CODES:
            self.limiter.pause(retry_after or 1.0)
            raise RetryableDeliveryError(detail, retry_after=retry_after)
        if status >= 500 or 200 <= status < 300:
            raise RetryableDeliveryError(detail, retry_after=retry_after)
        raise PermanentDeliveryError(detail)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
