"""Paging never waits for the store: the notification log and the escalation record fail open.

Delivery writes a page's intent to the notification log before it sends; the escalator writes
the escalation record before it pages. When the store refuses the write (a full disk, a locked,
read-only or failing database), these wrappers keep the record in the fallback journal
(:mod:`monitor.store.fallback_journal`: memory and a small file, ideally on another
filesystem) and let the page go out anyway; the journal's replay writes the records into the
store once it accepts writes again, each marked with when it was recorded late. While records
of a kind wait, later ones queue behind them (never straight to the store), so each table
keeps its order. While a notification-log record waits, reads of the log (what this delivery
has done so far, what is unfinished) include it, also after a restart, so delivery still
retries, de-duplicates and falls back as usual.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from alarms.escalation.state import EscalationLog, EscalationRow
from alarms.notify.notification_log import LogRecord, NotificationLog, unfinished_of
from monitor.core.logs import RateLimiter
from monitor.store.fallback_journal import FallbackJournal, JournalEntry

log = logging.getLogger(__name__)

NOTIFICATION_KIND = "notification_log"
ESCALATION_KIND = "escalation_record"
#: Local sequence numbers of records waiting in the journal sort after every stored one.
_LOCAL_SEQ_BASE = 1 << 52


class FailOpenNotificationLog:
    """A :class:`NotificationLog` that never refuses an append (see the module docstring)."""

    def __init__(
        self, primary: NotificationLog, journal: FallbackJournal, now: Callable[[], datetime]
    ) -> None:
        self.primary = primary
        self.journal = journal
        self.now = now
        journal.register(NOTIFICATION_KIND, self.write_late)
        self._local_seq = itertools.count(_LOCAL_SEQ_BASE)
        self._waiting: list[LogRecord] = [  # what waited when the last run stopped
            dataclasses.replace(_record_of(entry.data), seq=next(self._local_seq))
            for entry in journal.pending()
            if entry.kind == NOTIFICATION_KIND
        ]
        self._lock = threading.Lock()
        self._limiter = RateLimiter(60.0)

    def append(self, record: LogRecord) -> LogRecord:
        if not self.journal.waiting(NOTIFICATION_KIND):
            try:
                return self.primary.append(record)
            except Exception as exc:
                _warn(self._limiter, "notification log", exc)
        kept = dataclasses.replace(record, seq=next(self._local_seq))
        if self.journal.append(NOTIFICATION_KIND, record.at, _record_json(record)):
            with self._lock:
                self._waiting.append(kept)
        return kept  # the page goes out even if the journal was full (counted there)

    def write_late(self, entry: JournalEntry) -> None:
        """The journal's writer: into the store, marked as recorded late; then no longer
        waiting. Raises while the store still refuses."""
        record = _record_of(entry.data)
        self.primary.append(dataclasses.replace(record, recorded_late=self.now()))
        with self._lock:
            for index, waiting in enumerate(self._waiting):
                if _same(waiting, record):
                    del self._waiting[index]
                    break

    def history(self, key: str, person_id: str) -> list[LogRecord]:
        stored = self._read(lambda: self.primary.history(key, person_id))
        return stored + [r for r in self._snapshot() if r.key == key and r.person_id == person_id]

    def for_alarm(self, alarm_id: str) -> list[LogRecord]:
        stored = self._read(lambda: self.primary.for_alarm(alarm_id))
        return stored + [r for r in self._snapshot() if r.alarm_id == alarm_id]

    def unfinished(self, since: datetime | None = None) -> list[tuple[str, str]]:
        try:
            stored = self.primary.unfinished(since)
        except Exception as exc:
            _warn(self._limiter, "notification log (reading)", exc)
            stored = []
        waiting = self._snapshot()
        if not waiting:
            return stored
        touched = {(r.key, r.person_id) for r in waiting}
        records = [r for key, person in touched for r in self.history(key, person)]
        still_open = unfinished_of(sorted(records, key=lambda r: r.seq), since)
        return [pair for pair in stored if pair not in touched] + still_open

    def close(self) -> None:
        self.primary.close()

    def _snapshot(self) -> list[LogRecord]:
        with self._lock:
            return list(self._waiting)

    def _read(self, read: Callable[[], list[LogRecord]]) -> list[LogRecord]:
        try:
            return read()
        except Exception as exc:
            _warn(self._limiter, "notification log (reading)", exc)
            return []


class FailOpenEscalationLog:
    """An :class:`EscalationLog` whose appends never refuse; reads come from the store."""

    def __init__(
        self, primary: EscalationLog, journal: FallbackJournal, now: Callable[[], datetime]
    ) -> None:
        self.primary = primary
        self.journal = journal
        self.now = now
        journal.register(ESCALATION_KIND, self.write_late)
        self._limiter = RateLimiter(60.0)

    def append(self, row: EscalationRow) -> EscalationRow:
        if not self.journal.waiting(ESCALATION_KIND):
            try:
                return self.primary.append(row)
            except Exception as exc:
                _warn(self._limiter, "escalation record", exc)
        self.journal.append(ESCALATION_KIND, row.at, _row_json(row))
        return row

    def write_late(self, entry: JournalEntry) -> None:
        row = _row_of(entry.data)
        late = {**row.data, "recorded_late_at": self.now().isoformat()}
        self.primary.append(dataclasses.replace(row, data=late))

    def open_tracks(self) -> list[EscalationRow]:
        return self.primary.open_tracks()

    def last_announcement_seq(self) -> int | None:
        return self.primary.last_announcement_seq()

    def bundles(self, since: datetime) -> list[EscalationRow]:
        return self.primary.bundles(since)

    def for_code(self, code: str) -> list[EscalationRow]:
        return self.primary.for_code(code)

    def close(self) -> None:
        self.primary.close()


def _warn(limiter: RateLimiter, what: str, exc: Exception) -> None:
    allowed, suppressed = limiter.allow(what)
    if allowed:
        more = f" ({suppressed} more not logged)" if suppressed else ""
        log.error(
            "the store refuses the %s (%s): kept in the fallback journal, paging goes on%s",
            what,
            exc,
            more,
        )


def _same(left: LogRecord, right: LogRecord) -> bool:
    return dataclasses.replace(left, seq=0) == dataclasses.replace(right, seq=0)


def _record_json(record: LogRecord) -> dict[str, Any]:
    data = dataclasses.asdict(dataclasses.replace(record, seq=0))
    data["at"] = record.at.isoformat()
    data.pop("recorded_late", None)
    return data


def _record_of(data: dict[str, Any]) -> LogRecord:
    return LogRecord(**{**data, "at": datetime.fromisoformat(data["at"]), "seq": 0})


def _row_json(row: EscalationRow) -> dict[str, Any]:
    data = dataclasses.asdict(dataclasses.replace(row, seq=0))
    data["at"] = row.at.isoformat()
    return data


def _row_of(data: dict[str, Any]) -> EscalationRow:
    return EscalationRow(**{**data, "at": datetime.fromisoformat(data["at"]), "seq": 0})
