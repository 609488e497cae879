"""A bounded log of things that happened, which a front end drains and publishes.

Real controllers keep event memories (a Taylor-Wharton Kryos keeps thousands of fill events);
the bound keeps a simulator that nobody drains from growing without limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    """One event on simulated time (seconds since the model was created).

    ``start_s``/``end_s`` are set for events that span time (a fill, a run) and are
    recorded when they end; instantaneous events carry only ``at_s``.
    """

    kind: str
    at_s: float
    message: str = ""
    start_s: float | None = None
    end_s: float | None = None

    @property
    def duration_s(self) -> float | None:
        if self.start_s is None or self.end_s is None:
            return None
        return self.end_s - self.start_s


class EventLog:
    """Oldest events are dropped first once ``max_events`` are waiting; drops are counted."""

    def __init__(self, max_events: int = 1000) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self._events: deque[Event] = deque(maxlen=max_events)
        self.dropped = 0

    def record(self, event: Event) -> None:
        if len(self._events) == self._events.maxlen:
            self.dropped += 1
        self._events.append(event)

    def peek(self) -> list[Event]:
        return list(self._events)

    def drain(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()
        return events
