"""The satisfaction question after a resolution, and reading the customer's answer."""

from __future__ import annotations

import json

from connectors.envelope import Button

CSAT_QUESTION = "How did we do today? Choose from 1 (poor) to 5 (great)."
CSAT_THANKS = "Thank you for telling us."
_PREFIX = "/csat"


def csat_buttons() -> tuple[Button, ...]:
    return tuple(Button(str(n), f'{_PREFIX}{{"score":{n}}}') for n in range(1, 6))


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
