"""Customers, their channel identities, conversations (with their owner), messages, events."""

from . import channel_state, customers, intake, store
from .models import (
    ChannelIdentity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    MessageStatus,
    Owner,
    Sender,
)

__all__ = [
    "ChannelIdentity",
    "Conversation",
    "ConversationEvent",
    "ConversationStatus",
    "Customer",
    "Direction",
    "Message",
    "MessageStatus",
    "Owner",
    "Sender",
    "channel_state",
    "customers",
    "intake",
    "store",
]
