"""Flood bundling: while the engine reports an alarm flood, pages for one person are held for a
short window and sent as one message listing every alarm (ISA-18.2's flood: more than 10
alarms in 10 minutes for one operator). Twenty SMS in a minute are read as noise, and each
would ring the phone; one that lists them is read.

The window (``escalation.flood.window``, 30 s by default) is the only delay a flood adds: a
freezer warming during a flood is still paged within a minute. Pages of alarms acknowledged
meanwhile are dropped from the bundle; a bundle of one is sent as the ordinary page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alarms.notify.message import Notification
from alarms.people import Person


@dataclass(frozen=True)
class Held:
    """A page waiting in a bundle: which track and page it belongs to, and what it says."""

    track: str
    page: int
    notification: Notification
    person: Person


class Bundler:
    """Per-person buffers, each flushed ``window`` seconds after its first page."""

    def __init__(self, window: float) -> None:
        self.window = timedelta(seconds=window)
        self._held: dict[str, list[Held]] = {}
        self._due: dict[str, datetime] = {}

    def __bool__(self) -> bool:
        return bool(self._held)

    def add(self, item: Held, now: datetime) -> None:
        person_id = item.person.id
        if person_id not in self._held:
            self._held[person_id] = []
            self._due[person_id] = now + self.window
        self._held[person_id].append(item)

    def due(self) -> datetime | None:
        return min(self._due.values()) if self._due else None

    def take(self, now: datetime | None = None) -> list[list[Held]]:
        """The buffers due by ``now`` (all of them when None), oldest first."""
        ready = [person_id for person_id, due in self._due.items() if now is None or due <= now]
        ready.sort(key=lambda person_id: self._due[person_id])
        out: list[list[Held]] = []
        for person_id in ready:
            out.append(self._held.pop(person_id))
            del self._due[person_id]
        return out

    def held(self) -> Sequence[Held]:
        return [item for items in self._held.values() for item in items]
