"""Telegram through python-telegram-bot: webhook mode (the secret-token header checked) or
long polling for machines without a public URL.

The Bot API client is PTB's `Bot`, with its transport replaced by one over the gateway's
aiohttp session, and `base_url` from settings. Buttons become inline keyboards; a pressed
button arrives as a callback query, stored as a message with the button's payload and
answered. Photos and documents are kept as attachment metadata (`telegram-file:<file_id>`);
`/start <payload>` (a deep link) greets and keeps the payload in the metadata; a contact
card of the sender's own account (shared with Telegram's "share my phone number" button)
gives their verified phone number. Updates are read from their JSON directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from datetime import timedelta
from typing import Any, Self

import aiohttp
import structlog
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

from .base import ChannelAdapter, GatewayPort
from .envelope import Attachment, InboundMessage, OutboundMessage
from .errors import PayloadError, PermanentDeliveryError, RetryableDeliveryError, SignatureError
from .ratelimit import SendLimiter
from .validation import decode_json_object

log = structlog.get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_CALLBACK_DATA_BYTES = 64
START_PAYLOAD = "/greet"
ALLOWED_UPDATES = ["message", "callback_query"]


class AiohttpRequest(BaseRequest):
    """PTB's transport over the gateway's one aiohttp session."""

    def __init__(self, read_timeout: float = 20.0) -> None:
        self._read_timeout = read_timeout
        self.http: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._read_timeout

    async def initialize(self) -> None:
        """The session belongs to the gateway; nothing to open."""

    async def shutdown(self) -> None:
        """The session belongs to the gateway; nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if self.http is None:
            raise NetworkError("the channel has not started")
        if request_data is not None and request_data.contains_files:
            raise BadRequest("file uploads are not supported by this transport")
        timeout = read_timeout if isinstance(read_timeout, int | float) else self._read_timeout
        data = request_data.json_parameters if request_data else None
        try:
            async with self.http.request(
                method, url, data=data, timeout=aiohttp.ClientTimeout(total=timeout + 10)
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut() from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"Bot API unreachable: {exc!r}") from exc


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramAdapter(ChannelAdapter):
    name = "telegram"

    def __init__(
        self,
        *,
        token: str,
        secret_token: str = "",
        mode: str = "webhook",
        base_url: str = "https://api.telegram.org",
        poll_timeout_s: int = 30,
        max_text_chars: int = 4000,
        max_attachment_bytes: int = 20 * 1024 * 1024,
        limiter: SendLimiter | None = None,
    ) -> None:
        if mode not in ("webhook", "polling"):
            raise ValueError(f"TELEGRAM_MODE must be webhook or polling, not {mode!r}")
        if mode == "webhook" and not secret_token:
            raise ValueError("the telegram channel in webhook mode needs TELEGRAM_SECRET_TOKEN")
        self.mode = mode
        self.secret_token = secret_token
        self.poll_timeout_s = poll_timeout_s
        self.max_text_chars = max_text_chars
        self.max_attachment_bytes = max_attachment_bytes
        self.limiter = limiter or SendLimiter(30, 1)
        self._request = AiohttpRequest()
        self._poll_request = AiohttpRequest(read_timeout=poll_timeout_s + 10)
        self.bot = Bot(
            token,
            base_url=f"{base_url.rstrip('/')}/bot",
            request=self._request,
            get_updates_request=self._poll_request,
        )
        self._port: GatewayPort | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        if not settings.telegram_token:
            raise ValueError("the telegram channel needs TELEGRAM_TOKEN")
        return cls(
            token=settings.telegram_token,
            secret_token=settings.telegram_secret_token,
            mode=settings.telegram_mode,
            base_url=settings.telegram_base_url,
            poll_timeout_s=settings.telegram_poll_timeout_s,
            max_text_chars=settings.max_text_chars,
            max_attachment_bytes=settings.channel_max_attachment_bytes,
            limiter=SendLimiter(settings.channel_rate_per_s, settings.channel_rate_per_chat_per_s),
        )

    def mount(self, app: web.Application, port: GatewayPort) -> None:
        self._port = port
        if self.mode == "webhook":
            app.router.add_post(f"/webhooks/{self.name}", self._webhook)

    async def start(self, http: aiohttp.ClientSession) -> None:
        self._request.http = http
        self._poll_request.http = http
        if self.mode == "polling":
            self._poller = asyncio.create_task(self._poll_forever(), name="telegram-polling")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _webhook(self, request: web.Request) -> web.Response:
        header = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(header.encode(), self.secret_token.encode()):
            raise SignatureError(f"{SECRET_HEADER} does not match")
        stored = await self.handle(decode_json_object(await request.read()))
        return web.json_response({"ok": True, "stored": stored})

    async def handle(self, data: dict[str, Any]) -> bool:
        """Store the update's message, if it carries one; `True` when it did."""
        message, callback_id = self.parse(data)
        if message is None:
            return False
        assert self._port is not None
        accepted = await self._port.accept(message)
        if callback_id is not None and not accepted.duplicate:
            self._spawn(self._answer_callback(callback_id))
        return True

    def parse(self, data: dict[str, Any]) -> tuple[InboundMessage | None, str | None]:
        """The envelope of a message or callback query update, and the query id to answer.

        Read straight from the update's JSON (every field used is type-checked): building
        python-telegram-bot's objects cost about ten times the rest of a webhook."""
        update_id = data.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise PayloadError("'update_id' must be an integer")
        _check_shape(data)
        if data.get("callback_query") is not None:
            query = data["callback_query"]
            return self._callback(query), query["id"]
        if data.get("message") is not None:
            return self._message(data["message"]), None
        return None, None  # edits, channel posts, member updates: not customer messages

    def _message(self, message: dict[str, Any]) -> InboundMessage:
        chat = str(message["chat"]["id"])
        text = message.get("text") or message.get("caption") or ""
        if len(text) > self.max_text_chars:
            raise PayloadError(
                f"text is longer than {self.max_text_chars} characters", code="too_long", status=413
            )
        metadata: dict[str, Any] = {}
        payload = None
        command = message.get("text") or ""
        if command == "/start" or command.startswith("/start "):
            payload = START_PAYLOAD
            deep_link = command.removeprefix("/start").strip()
            if deep_link:
                metadata["start_payload"] = deep_link[:64]
        user = _optional_object(message, "from", "message")
        if user is not None:
            metadata["display_name"] = _full_name(user)[:200]
        phone = _own_phone(message, user)
        attachments, rejected = self._attachments(message)
        if rejected:
            metadata["rejected_attachments"] = rejected
        return InboundMessage(
            channel=self.name,
            channel_message_id=f"{chat}:{message['message_id']}",
            address=chat,
            text=text,
            payload=payload,
            attachments=attachments,
            metadata=metadata,
            verified={"phone": phone} if phone else {},
        )

    def _attachments(
        self, message: dict[str, Any]
    ) -> tuple[tuple[Attachment, ...], list[dict[str, Any]]]:
        found: list[Attachment] = []
        photos = message.get("photo")
        if photos is not None:
            if not isinstance(photos, list) or not all(isinstance(p, dict) for p in photos):
                raise PayloadError("'message.photo' must be a list of objects")
            sizes = [_media(p, "message.photo") for p in photos]
            if sizes:
                largest, _ = max(
                    zip(sizes, photos, strict=True),
                    key=lambda pair: (pair[0].size or 0, _area(pair[1])),
                )
                found.append(Attachment("image", largest.url, None, "image/jpeg", largest.size))
        for kind, key in (
            ("document", "document"),
            ("video", "video"),
            ("audio", "audio"),
            ("audio", "voice"),
        ):
            media = _optional_object(message, key, "message")
            if media is not None:
                a = _media(media, f"message.{key}")
                found.append(Attachment(kind, a.url, a.name, a.mime_type, a.size))
        kept = tuple(a for a in found if (a.size or 0) <= self.max_attachment_bytes)
        rejected = [
            {"kind": a.kind, "size": a.size, "reason": "too_large"}
            for a in found
            if (a.size or 0) > self.max_attachment_bytes
        ]
        return kept, rejected

    def _callback(self, query: dict[str, Any]) -> InboundMessage:
        data = query["data"]
        message = query.get("message")
        chat = str(message["chat"]["id"]) if message is not None else str(query["from"]["id"])
        title = data
        markup = (
            _optional_object(message, "reply_markup", "callback_query.message") if message else None
        )
        rows = markup.get("inline_keyboard") if markup is not None else None
        if isinstance(rows, list):
            for row in rows:
                for button in row if isinstance(row, list) else ():
                    if (
                        isinstance(button, dict)
                        and button.get("callback_data") == data
                        and isinstance(button.get("text"), str)
                    ):
                        title = button["text"][:200]
        return InboundMessage(
            channel=self.name,
            channel_message_id=f"callback:{query['id']}",
            address=chat,
            text=title,
            payload=data,
        )

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:  # the spinner stops by itself after a while
            log.info("telegram.callback_answer_failed", error=str(exc))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll_forever(self) -> None:
        """getUpdates with an offset that advances only past updates already stored."""
        offset: int | None = None
        with contextlib.suppress(TelegramError):
            await self.bot.delete_webhook()
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=self.poll_timeout_s,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except (InvalidToken, Forbidden) as exc:
                log.error("telegram.polling_stopped", error=str(exc))
                return
            except TelegramError as exc:
                log.warning("telegram.polling_failed", error=str(exc))
                await asyncio.sleep(2)
                continue
            for update in updates:
                try:
                    await self.handle(update.to_dict())
                except PayloadError as exc:
                    log.warning("telegram.update_rejected", update=update.update_id, error=str(exc))
                except Exception:
                    log.exception("telegram.update_failed", update=update.update_id)
                    await asyncio.sleep(2)
                    break  # the same update comes again with the same offset
                offset = update.update_id + 1

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        try:
            chat_id = int(address)
        except ValueError as exc:
            raise PermanentDeliveryError(f"not a Telegram chat id: {address!r}") from exc
        await self.limiter.wait(address)
        markup = keyboard(message)
        try:
            if message.image and not message.text:
                sent = await self.bot.send_photo(chat_id, message.image, reply_markup=markup)
            else:
                text = message.text or ""
                if message.image:
                    text = f"{text}\n{message.image}"
                sent = await self.bot.send_message(chat_id, text[:4096] or "…", reply_markup=markup)
        except RetryAfter as exc:
            seconds = _seconds(exc.retry_after)
            self.limiter.pause(seconds)
            raise RetryableDeliveryError(str(exc), retry_after=seconds) from exc
        except (Forbidden, InvalidToken, BadRequest) as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        except TelegramError as exc:  # network errors, timeouts, 5xx
            raise RetryableDeliveryError(str(exc)) from exc
        return str(sent.message_id)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_message(message: Any, what: str) -> None:
    if not isinstance(message, dict) or not _is_int(message.get("message_id")):
        raise PayloadError(f"'{what}' must be an object with an integer message_id")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not _is_int(chat.get("id")):
        raise PayloadError(f"'{what}.chat' must be an object with an integer id")
    for key in ("text", "caption"):
        if message.get(key) is not None and not isinstance(message[key], str):
            raise PayloadError(f"'{what}.{key}' must be a string")


def _check_shape(data: dict[str, Any]) -> None:
    """The ids, chats and texts every update is stored under, checked before anything else."""
    if "message" in data:
        _check_message(data["message"], "message")
    if "callback_query" in data:
        query = data["callback_query"]
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            raise PayloadError("'callback_query' must be an object with a string id")
        sender = query.get("from")
        if not isinstance(sender, dict) or not _is_int(sender.get("id")):
            raise PayloadError("'callback_query.from' must be an object with an integer id")
        if query.get("message") is not None:
            _check_message(query["message"], "callback_query.message")
        if not isinstance(query.get("data"), str) or not 0 < len(query["data"]) <= 64:
            raise PayloadError("'callback_query.data' must be 1-64 characters")


def _optional_object(parent: dict[str, Any], key: str, what: str) -> dict[str, Any] | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, dict):
        raise PayloadError(f"'{what}.{key}' must be an object")
    return value


def _optional_str(value: Any, what: str, max_chars: int = 1024) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_chars:
        raise PayloadError(f"'{what}' must be a string of at most {max_chars} characters")
    return value


def _media(media: dict[str, Any], what: str) -> Attachment:
    """A file Telegram holds: its id (kept as `telegram-file:<id>`), name, type and size."""
    file_id = media.get("file_id")
    if not isinstance(file_id, str) or not 0 < len(file_id) <= 1024:
        raise PayloadError(f"'{what}.file_id' must be a string")
    size = media.get("file_size")
    if size is not None and (not _is_int(size) or size < 0):
        raise PayloadError(f"'{what}.file_size' must be a non-negative integer")
    return Attachment(
        "file",
        f"telegram-file:{file_id}",
        _optional_str(media.get("file_name"), f"{what}.file_name", 255),
        _optional_str(media.get("mime_type"), f"{what}.mime_type", 255),
        size,
    )


def _area(photo: dict[str, Any]) -> int:
    width, height = photo.get("width"), photo.get("height")
    return width * height if _is_int(width) and _is_int(height) else 0


def _full_name(user: dict[str, Any]) -> str:
    first = _optional_str(user.get("first_name"), "from.first_name", 256) or ""
    last = _optional_str(user.get("last_name"), "from.last_name", 256)
    return f"{first} {last}" if last else first


def _own_phone(message: dict[str, Any], user: dict[str, Any] | None) -> str | None:
    """The sender's own phone number, when they shared their own contact card: Telegram
    sets `contact.user_id` to the account the number belongs to."""
    contact = _optional_object(message, "contact", "message")
    if contact is None or user is None:
        return None
    phone = _optional_str(contact.get("phone_number"), "message.contact.phone_number", 32)
    owner = contact.get("user_id")
    if phone and _is_int(owner) and owner == user.get("id"):
        return phone
    return None


def keyboard(message: OutboundMessage) -> InlineKeyboardMarkup | None:
    """One button per row; a payload over Telegram's 64-byte limit is sent as the title."""
    if not message.buttons:
        return None
    rows = []
    for b in message.buttons:
        data = b.payload if len(b.payload.encode()) <= MAX_CALLBACK_DATA_BYTES else b.title
        data = data.encode()[:MAX_CALLBACK_DATA_BYTES].decode(errors="ignore")
        rows.append([InlineKeyboardButton(b.title[:64], callback_data=data)])
    return InlineKeyboardMarkup(rows)
