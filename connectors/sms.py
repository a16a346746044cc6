"""SMS through Twilio: form-encoded webhooks in (answered with TwiML), the Messages API out.

Every request is checked against `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth
token, of the public URL Twilio called followed by each POST parameter's name and value in
name order. STOP, START and HELP (and their synonyms) are handled here: an opted-out number
is never sent to, and HELP is answered at once with `SMS_HELP_TEXT`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any, Self
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web
from multidict import MultiDictProxy

from .base import ChannelAdapter, GatewayPort
from .envelope import Attachment, InboundMessage, OutboundMessage
from .errors import PayloadError, PermanentDeliveryError, RetryableDeliveryError, SignatureError
from .meta import optional_text, require_setting
from .ratelimit import SendLimiter

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "INFO"})
MAX_MEDIA = 10
MAX_SMS_CHARS = 1600
UNSUBSCRIBED_RECIPIENT = 21610  # Twilio: the number replied STOP
TOO_MANY_REQUESTS = 20429


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    data = url + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twiml(text: str | None = None) -> web.Response:
    body = f"<Message>{escape(text)}</Message>" if text else ""
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
        content_type="text/xml",
    )


def keyword(text: str) -> str | None:
    word = text.strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def _phone(value: str | None, what: str) -> str:
    if not value or len(value) > 32 or not value.startswith("+") or not value[1:].isdigit():
        raise PayloadError(f"'{what}' must be a phone number in E.164 form")
    return value


class SmsAdapter(ChannelAdapter):
    name = "sms"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str,
        public_url: str,
        help_text: str,
        max_text_chars: int = 4000,
        limiter: SendLimiter | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.base_url = base_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.help_text = help_text
        self.max_text_chars = max_text_chars
        self.limiter = limiter or SendLimiter(1, 1)
        self._http: aiohttp.ClientSession | None = None
        self._port: GatewayPort | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        require_setting(settings, "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from_number,
            base_url=settings.twilio_base_url,
            public_url=settings.base_url,
            help_text=settings.sms_help_text,
            max_text_chars=settings.max_text_chars,
            limiter=SendLimiter(settings.channel_rate_per_s, settings.channel_rate_per_chat_per_s),
        )

    def mount(self, app: web.Application, port: GatewayPort) -> None:
        self._port = port
        app.router.add_post(f"/webhooks/{self.name}", self._webhook)

    async def start(self, http: aiohttp.ClientSession) -> None:
        self._http = http

    async def _webhook(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            raise PayloadError(
                "expected a form-encoded body", code="unsupported_media_type", status=415
            )
        try:
            form = await request.post()
        except UnicodeDecodeError as exc:
            raise PayloadError("body is not valid UTF-8", code="invalid_utf8") from exc
        self.verify(request.path_qs, form, request.headers.get("X-Twilio-Signature"))
        message = self.parse(form)
        assert self._port is not None
        word = keyword(message.text)
        if word is None:
            await self._port.accept(message)
            return twiml()
        await self._port.record(message)
        if word == "help":
            return twiml(self.help_text)
        await self._port.set_opt_out(self.name, message.address, word == "stop")
        return twiml()

    def verify(self, path_qs: str, form: MultiDictProxy[Any], header: str | None) -> None:
        params = [(k, v) for k, v in form.items() if isinstance(v, str)]
        if len(params) != len(form):
            raise PayloadError("file uploads are not accepted")
        expected = twilio_signature(self.auth_token, self.public_url + path_qs, params)
        if not header or not hmac.compare_digest(expected.encode(), header.encode()):
            raise SignatureError("X-Twilio-Signature does not match the request")

    def parse(self, form: MultiDictProxy[Any]) -> InboundMessage:
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not isinstance(sid, str) or not 2 < len(sid) <= 64 or not sid.isalnum():
            raise PayloadError("'MessageSid' is missing or malformed")
        sender = _phone(form.get("From"), "From")
        text = optional_text(form.get("Body"), "Body", self.max_text_chars)
        try:
            media_count = int(form.get("NumMedia", "0"))
        except ValueError as exc:
            raise PayloadError("'NumMedia' must be a number") from exc
        if not 0 <= media_count <= MAX_MEDIA:
            raise PayloadError(f"'NumMedia' must be between 0 and {MAX_MEDIA}")
        attachments = []
        for i in range(media_count):
            url = optional_text(form.get(f"MediaUrl{i}"), f"MediaUrl{i}", 2048)
            mime = optional_text(form.get(f"MediaContentType{i}"), "MediaContentType", 255)
            kind = mime.split("/", 1)[0] if mime else "file"
            attachments.append(
                Attachment(
                    kind="document" if kind == "application" else kind,
                    url=url or None,
                    mime_type=mime or None,
                )
            )
        if not text and not attachments:
            raise PayloadError("the message has neither a body nor media")
        return InboundMessage(
            channel=self.name,
            channel_message_id=sid,
            address=sender,
            text=text,
            attachments=tuple(attachments),
            verified={"phone": sender},  # the carrier network's sender number
        )

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        assert self._port is not None
        if await self._port.is_opted_out(self.name, address):
            raise PermanentDeliveryError("the recipient replied STOP")
        if self._http is None:
            raise RetryableDeliveryError("the channel has not started")
        form = [("To", address), ("From", self.from_number)]
        text = self.render_text(message)[:MAX_SMS_CHARS]
        if message.image:
            form.append(("MediaUrl", message.image))
            text = self.render_text(OutboundMessage(text=message.text, buttons=message.buttons))
        form.append(("Body", text[:MAX_SMS_CHARS]))
        await self.limiter.wait(address)
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        try:
            async with self._http.post(
                url,
                data=form,
                auth=aiohttp.BasicAuth(self.account_sid, self.auth_token),
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"Twilio unreachable: {exc!r}") from exc
        body = body if isinstance(body, dict) else {}
        if 200 <= status < 300 and body.get("sid"):
            return str(body["sid"])
        detail = f"Twilio answered {status}: {body.get('message') or 'no message'}"
        if status == 429 or body.get("code") == TOO_MANY_REQUESTS:
            delay = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
            self.limiter.pause(delay)
            raise RetryableDeliveryError(detail, retry_after=delay)
        if status >= 500 or 200 <= status < 300:
            raise RetryableDeliveryError(detail)
        if body.get("code") == UNSUBSCRIBED_RECIPIENT:
            await self._port.set_opt_out(self.name, address, True)
        raise PermanentDeliveryError(detail)
