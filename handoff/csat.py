"""The satisfaction question after a resolution, and reading the customer's answer."""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from connectors.envelope import Button

CSAT_QUESTION = "How did we do today? Choose from 1 (poor) to 5 (great)."
CSAT_THANKS = "Thank you for telling us."
_PREFIX = "/csat"
# A typed answer on channels that show the buttons as numbered options: "4", "5 - great",
# "4/5", "3. ok", "5 thanks". Not "45", "4.5", "10" or "five".
_TYPED = re.compile(r"\s*([1-5])(?:\s*/\s*5)?(?![0-9]|[.,][0-9])(?:$|[\s\-\u2013\u2014:.,!)])")


def csat_buttons() -> tuple[Button, ...]:
    return tuple(Button(str(n), f'{_PREFIX}{{"score":{n}}}') for n in range(1, 6))


CSAT_PAYLOADS = frozenset(b.payload for b in csat_buttons())


def parse_csat(payload: str | None) -> int | None:
    """The score from a CSAT button's payload; None for anything else or out of range."""
    if not payload or not payload.startswith(_PREFIX + "{") or len(payload) > 40:
        return None
    try:
        score = json.loads(payload[len(_PREFIX) :]).get("score")
    except (ValueError, AttributeError):
        return None
    return (
        score
        if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5
        else None
    )


def could_be_csat(text: str | None) -> bool:
    """Whether `read_csat` might read a score from this message (a cheap test on the text
    alone, so the offered payloads are looked up only when they matter)."""
    return bool(text) and _TYPED.match(text[:200]) is not None


def read_csat(payload: str | None, text: str | None, offered: Collection[str]) -> int | None:
    """The customer's score while the CSAT question is the bot's latest turn (its buttons
    are among the `offered` payloads): a button's payload, or a typed number from 1 to 5
    at the start of the message (text-only channels show the buttons as numbered options).
    None otherwise: the message goes on like any other."""
    if not CSAT_PAYLOADS <= set(offered):
        return None
    score = parse_csat(payload or text)
    if score is not None or not text:
        return score
    match = _TYPED.match(text[:200])
    return int(match.group(1)) if match else None
