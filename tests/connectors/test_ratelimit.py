"""Send spacing: per recipient, overall, and the pause a provider's 429 asks for."""

from __future__ import annotations

import asyncio
import time

from connectors.ratelimit import SendLimiter


async def elapsed(limiter: SendLimiter, chats: list[str]) -> float:
    started = time.monotonic()
    await asyncio.gather(*(limiter.wait(c) for c in chats))
    return time.monotonic() - started


async def test_one_recipient_is_spaced_and_others_are_not_held_up() -> None:
    limiter = SendLimiter(rate_per_s=1000, per_chat_per_s=5)
    assert await elapsed(limiter, ["a", "a", "a"]) >= 0.39
    assert await elapsed(limiter, ["b", "c", "d", "e"]) < 0.1


async def test_the_overall_rate_is_kept() -> None:
    limiter = SendLimiter(rate_per_s=10, per_chat_per_s=1000)
    assert 0.39 <= await elapsed(limiter, [f"chat{i}" for i in range(5)]) < 0.8


async def test_a_pause_holds_every_send() -> None:
    limiter = SendLimiter(rate_per_s=1000, per_chat_per_s=1000)
    limiter.pause(0.3)
    assert await elapsed(limiter, ["x", "y"]) >= 0.29
