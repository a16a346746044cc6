"""What custom actions may use: the public APIs of knowledge, handoff, conversations and
commerce.

The gateway builds one `ActionServices` and hands it to every action; actions keep no
state of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from commerce import RefundPolicy, ShopBackend
from knowledge import KnowledgeBase

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class ActionServices:
    knowledge: KnowledgeBase
    transaction: Transaction
    shop: ShopBackend | None = None
    refund_policy: RefundPolicy = field(default_factory=RefundPolicy)
