"""Business hours: `always`, or days and a time range in a zone, e.g. `mon-fri 09:00-17:00`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class BusinessHours:
    days: frozenset[int]
    start: time
    end: time
    zone: ZoneInfo
    always: bool = False

    @classmethod
    def parse(cls, spec: str, zone: str = "UTC") -> BusinessHours:
        tz = ZoneInfo(zone)
        spec = spec.strip().lower()
        if spec in ("", "always"):
            return cls(frozenset(range(7)), time(0), time(0), tz, always=True)
        try:
            days_part, times_part = spec.split()
            first, _, last = days_part.partition("-")
            a, b = DAYS.index(first), DAYS.index(last or first)
            days = (
                frozenset(range(a, b + 1)) if a <= b else frozenset([*range(a, 7), *range(b + 1)])
            )
            start_s, end_s = times_part.split("-")
            start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
        except ValueError as exc:
            raise ValueError(
                f"business hours must be 'always' or like 'mon-fri 09:00-17:00', not {spec!r}"
            ) from exc
        return cls(days, start, end, tz)

    def is_open(self, when: datetime) -> bool:
        if self.always:
            return True
        local = when.astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end
