"""WhatsApp Cloud API: webhook notifications in, Graph API `/<phone-number-id>/messages` out.

Buttons become interactive reply buttons (up to 3) or a list (up to 10), numbered text past
that. Outside the 24-hour customer-service window (counted from the customer's last message)
only approved templates may be sent: a reply whose `custom` holds `whatsapp_template`
(`{"name", "language", "components"?}`) goes out as that template, anything else fails
permanently instead of being rejected by WhatsApp.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

from .envelope import Attachment, InboundMessage, OutboundMessage, utcnow
from .errors import PayloadError, PermanentDeliveryError
from .meta import MetaAdapter, as_list, as_object, optional_text, provider_id, require_setting
from .ratelimit import SendLimiter

SERVICE_WINDOW = timedelta(hours=24)
MEDIA_TYPES = {
    "image": "image",
    "document": "document",
    "audio": "audio",
    "video": "video",
    "sticker": "image",
}
IGNORED_TYPES = frozenset({"reaction", "system"})  # not something the customer asked
MAX_REPLY_BUTTONS = 3
MAX_LIST_ROWS = 10


class WhatsAppAdapter(MetaAdapter):
    name = "whatsapp"
    object_type = "whatsapp_business_account"

    def __init__(self, *, phone_number_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phone_number_id = phone_number_id

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        require_setting(
            settings,
            "META_APP_SECRET",
            "META_VERIFY_TOKEN",
            "WHATSAPP_TOKEN",
            "WHATSAPP_PHONE_NUMBER_ID",
        )
        return cls(
            app_secret=settings.meta_app_secret,
            verify_token=settings.meta_verify_token,
            graph_url=settings.meta_graph_url,
            access_token=settings.whatsapp_token,
            phone_number_id=settings.whatsapp_phone_number_id,
            max_text_chars=settings.max_text_chars,
            limiter=SendLimiter(settings.channel_rate_per_s, settings.channel_rate_per_chat_per_s),
        )

    def parse(self, data: dict[str, Any]) -> list[InboundMessage]:
        messages = []
        for entry in as_list(data.get("entry"), "entry"):
            for change in as_list(as_object(entry, "entry").get("changes"), "changes"):
                value = as_object(as_object(change, "change").get("value"), "change.value")
                names = {}
                for contact in as_list(value.get("contacts"), "contacts"):
                    contact = as_object(contact, "contact")
                    profile = contact.get("profile")
                    if isinstance(profile, dict) and isinstance(profile.get("name"), str):
                        names[str(contact.get("wa_id"))] = profile["name"]
                for item in as_list(value.get("messages"), "messages"):
                    item = as_object(item, "message")
                    if item.get("type") not in IGNORED_TYPES:
                        messages.append(self._message(item, names))
        return messages

    def _message(self, item: dict[str, Any], names: dict[str, str]) -> InboundMessage:
        wa_id = provider_id(item.get("from"), "message.from", 32)
        if not wa_id.isdigit():
            raise PayloadError("message.from must be a phone number in digits")
        kind = item.get("type")
        text, payload, attachments = "", None, ()
        if kind == "text":
            body = as_object(item.get("text"), "message.text").get("body")
            text = optional_text(body, "message.text.body", self.max_text_chars)
        elif kind == "interactive":
            interactive = as_object(item.get("interactive"), "message.interactive")
            reply = interactive.get("button_reply") or interactive.get("list_reply")
            reply = as_object(reply, "message.interactive reply")
            payload = optional_text(reply.get("id"), "reply id", 256) or None
            text = optional_text(reply.get("title"), "reply title", 100)
        elif kind == "button":
            button = as_object(item.get("button"), "message.button")
            text = optional_text(button.get("text"), "button.text", 100)
            payload = optional_text(button.get("payload"), "button.payload", 1000) or None
        elif kind in MEDIA_TYPES:
            media = as_object(item.get(kind), f"message.{kind}")
            media_id = provider_id(media.get("id"), "media id")
            text = optional_text(media.get("caption"), "caption", self.max_text_chars)
            attachments = (
                Attachment(
                    kind=MEDIA_TYPES[kind],
                    url=f"whatsapp-media:{media_id}",
                    name=optional_text(media.get("filename"), "filename", 255) or None,
                    mime_type=optional_text(media.get("mime_type"), "mime_type", 255) or None,
                ),
            )
        metadata: dict[str, Any] = {"type": kind}
        if wa_id in names:
            metadata["display_name"] = names[wa_id][:200]
        return InboundMessage(
            channel=self.name,
            channel_message_id=provider_id(item.get("id"), "message.id"),
            address=wa_id,
            text=text,
            payload=payload,
            attachments=attachments,
            metadata=metadata,
            verified={"phone": f"+{wa_id}"},  # WhatsApp verified the number
        )

    async def send(self, address: str, message: OutboundMessage) -> str | None:
        template = (message.custom or {}).get("whatsapp_template")
        if template is None:
            assert self._port is not None
            last = await self._port.last_inbound_at(self.name, address)
            if last is None or utcnow() - last > SERVICE_WINDOW:
                raise PermanentDeliveryError(
                    "outside WhatsApp's 24-hour customer-service window: only an approved "
                    "template may be sent"
                )
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": address}
        body.update(render(message, template))
        answer = await self.graph_post(f"{self.phone_number_id}/messages", body, address)
        sent = answer.get("messages")
        if isinstance(sent, list) and sent and isinstance(sent[0], dict):
            return str(sent[0].get("id"))
        return None


def render(message: OutboundMessage, template: Any = None) -> dict[str, Any]:
    """The `type` and its object for one message."""
    if template is not None:
        if not isinstance(template, dict) or not template.get("name"):
            raise PermanentDeliveryError("whatsapp_template needs a name")
        language = template.get("language", "en_US")
        spec: dict[str, Any] = {"name": template["name"], "language": {"code": language}}
        if template.get("components"):
            spec["components"] = template["components"]
        return {"type": "template", "template": spec}
    text = message.text or ""
    buttons = message.buttons
    if buttons and len(buttons) <= MAX_REPLY_BUTTONS:
        return {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": text[:1024] or "…"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": b.payload[:256], "title": b.title[:20]}}
                        for b in buttons
                    ]
                },
            },
        }
    if buttons and len(buttons) <= MAX_LIST_ROWS:
        return {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": text[:4096] or "…"},
                "action": {
                    "button": "Options",
                    "sections": [
                        {
                            "title": "Options",
                            "rows": [
                                {"id": b.payload[:200], "title": b.title[:24]} for b in buttons
                            ],
                        }
                    ],
                },
            },
        }
    if message.image and not buttons:
        image: dict[str, Any] = {"link": message.image}
        if text:
            image["caption"] = text[:1024]
        return {"type": "image", "image": image}
    return {"type": "text", "text": {"body": MetaAdapter.render_text(message)[:4096]}}
