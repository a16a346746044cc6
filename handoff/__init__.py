"""Handing conversations from the bot to people and back."""

from .models import QueueEntry
from .transitions import HandoffReason, hand_back, hand_off

__all__ = ["HandoffReason", "QueueEntry", "hand_back", "hand_off"]
