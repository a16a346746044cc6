"""Checking that the person asking about an order is its customer."""

from __future__ import annotations

import hmac
import re

from .views import OrderDetails

EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}")
LAST_FOUR = re.compile(r"(?<![0-9])[0-9]{4}(?![0-9])")


def claim_in(text: str) -> str | None:
    """The email address or four-digit code in what the customer typed, if any."""
    text = text[:500]
    if match := EMAIL.search(text):
        return match.group(0).casefold()
    if match := LAST_FOUR.search(text):
        return match.group(0)
    return None


def matches(order: OrderDetails, claim: str) -> bool:
    """An email on the order, or the last four digits of its phone number."""
    if "@" in claim:
        expected = order.customer_email.casefold()
    else:
        expected = "".join(c for c in order.customer_phone if c.isdigit())[-4:]
    return hmac.compare_digest(claim.encode(), expected.encode())
