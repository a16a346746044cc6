"""The outcome of taking one raw mail in, whichever way it arrived."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ingested:
    message_id: int | None = None  # the stored row
    duplicate: bool = False
    ignored: str | None = None  # automated mail: recognised and never answered
    rejected: str | None = None  # malformed: nothing stored
