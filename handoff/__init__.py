"""Handing conversations from the bot to people and back: queue, routing, agents."""

from .assignment import Assignment, assign_waiting, resolve, set_agent, take_next, transfer
from .models import Agent, AgentState, EntryStatus, FollowUp, Outcome, Priority, QueueEntry
from .transitions import HandoffReason, abandon, active_entry, hand_back, hand_off

__all__ = [
    "Agent",
    "AgentState",
    "Assignment",
    "EntryStatus",
    "FollowUp",
    "HandoffReason",
    "Outcome",
    "Priority",
    "QueueEntry",
    "abandon",
    "active_entry",
    "assign_waiting",
    "hand_back",
    "hand_off",
    "resolve",
    "set_agent",
    "take_next",
    "transfer",
]
