"""Spacing of outbound sends so a provider's rate limits are respected before it complains."""

from __future__ import annotations

import asyncio
import time


class SendLimiter:
    """At most `rate_per_s` sends overall and `per_chat_per_s` to one recipient; a provider's
    429 pauses every send until its retry-after has passed.

    Each caller reserves its slot before sleeping, so concurrent senders queue fairly
    without a lock held across the wait.
    """

    def __init__(self, rate_per_s: float, per_chat_per_s: float) -> None:
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._chat_interval = 1.0 / per_chat_per_s if per_chat_per_s > 0 else 0.0
        self._next_slot = 0.0
        self._next_chat: dict[str, float] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def wait(self, chat: str) -> None:
        now = time.monotonic()
        overall = max(now, self._next_slot)
        own = max(now, self._next_chat.get(chat, 0.0))
        start = max(overall, own, self._paused_until)
        self._next_slot = overall + self._interval
        self._next_chat[chat] = start + self._chat_interval
        if len(self._next_chat) > 10_000:
            self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
        if start > now:
            await asyncio.sleep(start - now)
