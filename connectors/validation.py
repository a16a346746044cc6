"""Field checks shared by adapters that accept JSON from customers' clients."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .errors import PayloadError

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,128}$")
MAX_PAYLOAD_CHARS = 1000


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Strict UTF-8 JSON whose top level is an object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("body is not valid UTF-8", code="invalid_utf8") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc.msg}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object", code="invalid_json")
    return data


def require_id(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise PayloadError(
            f"'{key}' must be 1-128 characters of letters, digits and _.:@+-", code="invalid_field"
        )
    return value


def require_text(data: dict[str, Any], key: str, max_chars: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"'{key}' must be a non-empty string", code="invalid_field")
    if len(value) > max_chars:
        raise PayloadError(
            f"'{key}' is longer than {max_chars} characters", code="too_long", status=413
        )
    if "\x00" in value:
        raise PayloadError(f"'{key}' contains a NUL character", code="invalid_field")
    return value


def optional_payload(data: dict[str, Any], key: str = "payload") -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_PAYLOAD_CHARS:
        raise PayloadError(
            f"'{key}' must be a string of at most {MAX_PAYLOAD_CHARS} characters",
            code="invalid_field",
        )
    return value


def optional_object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"'{key}' must be a JSON object", code="invalid_field")
    return value


def dedupe_key(data: dict[str, Any], address: str, key: str = "message_id") -> str:
    """`address:message_id` when the client sends an id; otherwise a fresh one (Rasa's own
    clients send none, so their messages cannot be deduplicated)."""
    message_id = require_id(data, key) if data.get(key) is not None else uuid.uuid4().hex
    return f"{address}:{message_id}"
