"""What custom actions may use: the public APIs of knowledge, handoff and conversations.

The gateway builds one `ActionServices` and hands it to every action; actions keep no
state of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from knowledge import KnowledgeBase

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class ActionServices:
    knowledge: KnowledgeBase
    transaction: Transaction
