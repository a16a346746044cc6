"""Facebook Messenger (Send API): page webhooks in, `/me/messages` out.

Quick replies carry buttons (up to 13, titles of 20 characters); a postback from a
persistent menu or a button template arrives as a message with its payload. Replies respect
Messenger's standard messaging window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

from .envelope import Attachment, InboundMessage, OutboundMessage, utcnow
from .errors import PermanentDeliveryError
from .meta import MetaAdapter, as_list, as_object, optional_text, provider_id, require_setting
from .ratelimit import SendLimiter

MAX_QUICK_REPLIES = 13
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
ATTACHMENT_KINDS = {"image": "image", "video": "video", "audio": "audio", "file": "document"}


class MessengerAdapter(MetaAdapter):
    name = "messenger"
    object_type = "page"

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        require_setting(settings, "META_APP_SECRET", "META_VERIFY_TOKEN", "MESSENGER_PAGE_TOKEN")
        return cls(
            app_secret=settings.meta_app_secret,
            verify_token=settings.meta_verify_token,
            graph_url=settings.meta_graph_url,
            access_token=settings.messenger_page_token,
            max_text_chars=settings.max_text_chars,
            limiter=SendLimiter(settings.channel_rate_per_s, settings.channel_rate_per_chat_per_s),
        )

    def parse(self, data: dict[str, Any]) -> list[InboundMessage]:
        messages = []
        for entry in as_list(data.get("entry"), "entry"):
            for event in as_list(as_object(entry, "entry").get("messaging"), "messaging"):
                message = self._event(as_object(event, "messaging event"))
                if message is not None:
                    messages.append(message)
        return messages

    def _event(self, event: dict[str, Any]) -> InboundMessage | None:
        sender = provider_id(as_object(event.get("sender"), "sender").get("id"), "sender.id", 64)
        if "message" in event:
            body = as_object(event["message"], "message")
            if body.get("is_echo"):
                return None  # the page's own message, sent by us
            quick = body.get("quick_reply")
            payload = None
            if quick is not None:
                payload = optional_text(
                    as_object(quick, "quick_reply").get("payload"), "payload", 1000
                )
            attachments = tuple(
                self._attachment(as_object(a, "attachment"))
                for a in as_list(body.get("attachments"), "attachments")
            )
            return InboundMessage(
                channel=self.name,
                channel_message_id=provider_id(body.get("mid"), "message.mid"),
                address=sender,
                text=optional_text(body.get("text"), "message.text", self.max_text_chars),
                payload=payload or None,
                attachments=attachments,
            )
        if "postback" in event:
            postback = as_object(event["postback"], "postback")
            mid = postback.get("mid")
            key = provider_id(mid, "postback.mid") if mid is not None else None
            if key is None:
                key = f"postback:{sender}:{provider_id(event.get('timestamp'), 'timestamp', 20)}"
            return InboundMessage(
                channel=self.name,
                channel_message_id=key,
                address=sender,
                text=optional_text(postback.get("title"), "postback.title", 200),
                payload=optional_text(postback.get("payload"), "postback.payload", 1000) or None,
            )
        return None  # deliveries, reads, reactions

    @staticmethod
    def _attachment(item: dict[str, Any]) -> Attachment:
        kind = item.get("type")
        payload = item.get("payload")
        url = payload.get("url") if isinstance(payload, dict) else None
        return Attachment(
            kind=ATTACHMENT_KINDS.get(kind if isinstance(kind, str) else "", "file"),
            url=url if isinstance(url, str) and len(url) <= 2048 else None,
        )

    async def _messaging_type(self, address: str, message: OutboundMessage) -> dict[str, str]:
        """A reply within 24 hours of the customer's last message is a RESPONSE; a person's
        reply within 7 days carries the HUMAN_AGENT tag; anything later is not allowed."""
        assert self._port is not None
        last = await self._port.last_inbound_at(self.name, address)
        age = utcnow() - last if last is not None else None
        if age is not None and age <= STANDARD_WINDOW:
            return {"messaging_type": "RESPONSE"}
        if age is not None and age <= HUMAN_AGENT_WINDOW and message.sender == "agent":
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        raise PermanentDeliveryError(
            "outside Messenger's 24-hour standard messaging window (7 days for a person's reply)"
        )

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        body = {"recipient": {"id": address}, **await self._messaging_type(address, message)}
        body["message"] = render(message)
        answer = await self.graph_post("me/messages", body, address)
        mid = answer.get("message_id")
        return str(mid) if mid is not None else None


def render(message: OutboundMessage) -> dict[str, Any]:
    if message.image and not message.text and not message.buttons:
        return {"attachment": {"type": "image", "payload": {"url": message.image}}}
    if message.buttons and len(message.buttons) <= MAX_QUICK_REPLIES:
        return {
            "text": (message.text or "…")[:2000],
            "quick_replies": [
                {"content_type": "text", "title": b.title[:20], "payload": b.payload[:1000]}
                for b in message.buttons
            ],
        }
    return {"text": MessengerAdapter.render_text(message)[:2000]}
