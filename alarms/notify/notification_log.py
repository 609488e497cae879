"""The notification log: what was about to be sent, and what became of it (Alertmanager's nflog).

Delivery writes an intent (``pending``) before every attempt and the outcome after it (``sent``
with the provider's id, or ``failed`` with the error); ``exhausted`` closes a delivery whose
every channel failed. Records are only ever appended: a status change is a new record. After a
crash, a ``pending`` without an outcome is an attempt whose fate is unknown; delivery sends it
once more, marked as a possible duplicate, and never repeats an attempt whose outcome is known.
The log is also the record of every notification attempt that an excursion report lists.

Calls are synchronous and fast (one small row); :mod:`alarms.records.notification_log` is the
durable implementation, :class:`MemoryLog` the one for tests and for the demo without a store.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

Status = Literal["pending", "sent", "failed", "exhausted"]
STATUSES: tuple[Status, ...] = ("pending", "sent", "failed", "exhausted")
#: Statuses that close a delivery (one notification to one person).
FINISHED: frozenset[str] = frozenset({"sent", "exhausted"})


@dataclass(frozen=True)
class LogRecord:
    """One step of one delivery: ``key`` (the notification) x ``person_id`` x ``channel``."""

    key: str
    alarm_id: str
    person_id: str
    channel: str
    """The notifier name; ``*`` on an ``exhausted`` record."""
    attempt: int
    status: Status
    at: datetime
    possible_duplicate: bool = False
    """This attempt may repeat an earlier one whose outcome was unknown."""
    outcome_unknown: bool = False
    """On ``failed``: the provider may have got it anyway (a timeout after sending)."""
    final: bool = False
    """On ``failed``: this channel is given up (not retryable, or out of attempts)."""
    retryable: bool | None = None
    provider_id: str | None = None
    error: str | None = None
    notification: str | None = None
    """The notification as JSON, on ``pending`` records: what a restart re-sends."""
    recorded_late: datetime | None = None
    """When the record reached the store, if later than ``at``: the store refused writes at
    the time (a full disk), the page went out anyway and the record waited in the fallback
    journal."""
    seq: int = 0
    """Order of appending, assigned by the log."""


class NotificationLog(Protocol):
    def append(self, record: LogRecord) -> LogRecord:
        """Persist ``record`` before returning it with its ``seq``."""

    def history(self, key: str, person_id: str) -> list[LogRecord]:
        """Every record of one delivery, in order."""

    def for_alarm(self, alarm_id: str) -> list[LogRecord]:
        """Every record of every notification of an alarm, in order (for reports)."""

    def unfinished(self, since: datetime | None = None) -> list[tuple[str, str]]:
        """``(key, person_id)`` of deliveries begun (at or after ``since``) but neither sent
        nor exhausted, in the order they began."""

    def close(self) -> None: ...


class MemoryLog:
    """A :class:`NotificationLog` in a list, lost on exit: for tests and the offline demo."""

    def __init__(self) -> None:
        self._records: list[LogRecord] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def append(self, record: LogRecord) -> LogRecord:
        with self._lock:
            stored = replace(record, seq=next(self._seq))
            self._records.append(stored)
        return stored

    def history(self, key: str, person_id: str) -> list[LogRecord]:
        return [r for r in self._records if r.key == key and r.person_id == person_id]

    def for_alarm(self, alarm_id: str) -> list[LogRecord]:
        return [r for r in self._records if r.alarm_id == alarm_id]

    def unfinished(self, since: datetime | None = None) -> list[tuple[str, str]]:
        return unfinished_of(self._records, since)

    def records(self) -> list[LogRecord]:
        return list(self._records)

    def close(self) -> None:
        pass


def unfinished_of(records: Sequence[LogRecord], since: datetime | None) -> list[tuple[str, str]]:
    """The :meth:`NotificationLog.unfinished` rule over a sequence of records."""
    started: dict[tuple[str, str], datetime] = {}
    finished: set[tuple[str, str]] = set()
    for r in records:
        started.setdefault((r.key, r.person_id), r.at)
        if r.status in FINISHED:
            finished.add((r.key, r.person_id))
    return [d for d, at in started.items() if d not in finished and (since is None or at >= since)]
