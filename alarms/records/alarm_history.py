"""The engine's records: written to the store first, announced after.

:class:`Journal` holds alarm history rows and condition-timer checkpoints until the engine's
task (or a command) flushes them in one transaction; only committed rows are announced, so an
announcement always has its record (``seq``) and a notification log keyed on
``Announcement.event_id`` never pages twice after a restart. If the store refuses the rows,
they stay queued and are retried, and what they announce goes out at once marked
``recorded=False``: a warming freezer still pages while the disk is full. With a fallback
journal (the daemon's), the refused rows go there instead (memory and a small file on another
filesystem, bounded), and so does every later row until the journal has written them all to
the store, each marked ``recorded_late_at``, in their order; a command (an acknowledgement)
then takes effect although the store refuses it, so a full disk never makes a critical
escalation impossible to stop. A signed command's rows carry their signature (see
:meth:`Journal._to_fallback`), so a signature is never kept apart from its record.

:func:`read_state` is what a restarting engine reads back.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from alarms.model import AlarmView, Announcement, AnnouncementKind
from monitor.core.model import utc_now
from monitor.store.base import AlarmRecord, Store, StoreError
from monitor.store.fallback_journal import FallbackJournal, JournalEntry

log = logging.getLogger(__name__)

#: Keys of the engine's own rows (not alarm points).
CONFIG_KEY = "coldwatch/config"
FLOOD_KEY = "coldwatch/flood"
INHIBIT_PREFIX = "inhibit/"
#: The fallback journal's kind for alarm history rows.
JOURNAL_KIND = "alarm_history"


def announcement_of(record: AlarmRecord, event_id: str | None = None) -> Announcement | None:
    """The announcement a history row carries, or None for a row that is recorded only."""
    if record.announce is None:
        return None
    data = record.data
    alarm = data.get("alarm")
    detail = data.get("detail")
    view = AlarmView.from_json(alarm) if isinstance(alarm, dict) else None
    if view is not None and view.code is None and record.code is not None:
        # closed by this row (an acknowledgement after return to normal, a reset): the state
        # stored has no code any more, the announcement names the occurrence it closed
        view = replace(view, code=record.code)
    return Announcement(
        event_id=event_id or f"h{record.seq}",
        seq=record.seq,
        kind=AnnouncementKind(record.announce),
        at=record.at,
        recorded_at=record.recorded_at,
        alarm=view,
        late=record.late,
        person=record.person,
        via=record.via,
        comment=record.comment,
        flood=bool(data.get("flood")),
        recorded=record.seq is not None,
        detail=detail if isinstance(detail, dict) else None,
    )


class Journal:
    def __init__(self, store: Store, fallback: FallbackJournal | None = None) -> None:
        self.store = store
        self.fallback = fallback
        if fallback is not None:
            fallback.register(JOURNAL_KIND, self._write_late)
        self.pending: list[AlarmRecord] = []
        self.timers: dict[str, dict[str, Any] | None] = {}
        self.failing = False
        self._announced_early: set[int] = set()
        self._token = secrets.token_hex(4)
        self._unrecorded = 0

    def __bool__(self) -> bool:
        return bool(self.pending or self.timers)

    def add(self, record: AlarmRecord) -> None:
        self.pending.append(record)

    def discard(self) -> None:
        self.pending.clear()
        self._announced_early.clear()

    def flush(self, strict: bool = False) -> list[Announcement]:
        """Commit what is queued; return what to announce now. With ``strict`` a store
        failure raises :class:`StoreError` (a command must not pretend it was recorded)."""
        if not self.pending and not self.timers:
            return []
        records = self.pending
        fallback = self.fallback
        if fallback is not None and fallback.waiting(JOURNAL_KIND):
            return self._to_fallback(fallback)  # behind the rows already waiting: in order
        try:
            committed = self.store.append_alarm_records(records, self.timers)
        except (StoreError, ValueError, TypeError) as exc:
            if fallback is not None:
                if not self.failing:
                    log.error(
                        "alarm records cannot be stored (%s): kept in the fallback journal, "
                        "announced meanwhile",
                        exc,
                    )
                self.failing = True
                return self._to_fallback(fallback)
            if strict:
                raise StoreError(f"not recorded: {exc}") from exc
            if not self.failing:
                log.error("alarm records cannot be stored; retrying, announcing meanwhile: %s", exc)
            self.failing = True
            return self._announce_unrecorded()
        if self.failing:
            log.warning("alarm records stored again")
        self.failing = False
        early = self._announced_early
        out = [
            a
            for original, record in zip(records, committed, strict=True)
            if id(original) not in early and (a := announcement_of(record)) is not None
        ]
        self.pending = []
        self.timers = {}
        self._announced_early = set()
        return out

    def _to_fallback(self, fallback: FallbackJournal) -> list[Announcement]:
        """Queue the rows in the fallback journal and announce them now (timers stay here:
        they are checkpoints, written by the first commit that works).

        A signed row travels with its signature in it (``data["signature"]``): the store
        writes both in one transaction when the journal is replayed. When the journal has no
        room for every row of a signed command, the command is refused (StoreError: the
        engine undoes it) rather than taking effect with its signed record dropped; the
        person can still act by a path that needs no signature (SMS, voice, the CLI)."""
        signed = any("signature" in record.data for record in self.pending)
        if signed and len(fallback) + len(self.pending) > fallback.max_entries:
            raise StoreError(
                "the store refuses writes and the fallback journal is full: a signed command "
                "cannot be kept with its record; nothing was changed"
            )
        out = self._announce_unrecorded()
        for record in self.pending:
            fallback.append(JOURNAL_KIND, record.at, _record_json(record))
        self.pending = []
        self._announced_early = set()
        return out

    def _write_late(self, entry: JournalEntry) -> None:
        """The fallback journal's writer: one row into the store, marked recorded late."""
        record = _record_of(entry.data)
        late = {**record.data, "recorded_late_at": utc_now().isoformat()}
        self.store.append_alarm_records([replace(record, data=late)], {})
        if self.failing and not self.fallback_waiting():
            log.warning("alarm records stored again (the fallback journal is written)")
            self.failing = False

    def fallback_waiting(self) -> bool:
        return self.fallback is not None and self.fallback.waiting(JOURNAL_KIND)

    def _announce_unrecorded(self) -> list[Announcement]:
        out = []
        for record in self.pending:
            if record.announce is None or id(record) in self._announced_early:
                continue
            self._announced_early.add(id(record))
            self._unrecorded += 1
            announcement = announcement_of(record, f"u{self._token}-{self._unrecorded}")
            if announcement is not None:
                out.append(announcement)
        return out


def _record_json(record: AlarmRecord) -> dict[str, Any]:
    data = dataclasses.asdict(replace(record, seq=None))
    data["recorded_at"] = record.recorded_at.isoformat()
    data["at"] = record.at.isoformat()
    return data


def _record_of(data: dict[str, Any]) -> AlarmRecord:
    return AlarmRecord(
        **{
            **data,
            "recorded_at": datetime.fromisoformat(data["recorded_at"]),
            "at": datetime.fromisoformat(data["at"]),
            "seq": None,
        }
    )


@dataclass
class StoredState:
    """What the store says about the engine's last run."""

    latest: dict[str, AlarmRecord]
    timers: dict[str, dict[str, Any]]
    codes_issued: int
    announced_recently: list[tuple[datetime, str]]
    """(when, alarm key) of each raise announced within the flood window."""


def read_state(store: Store, now: datetime, flood_window: float) -> StoredState:
    latest = store.alarm_latest()
    newest = store.alarm_records(limit=1, newest_first=True)
    codes = int(newest[0].data.get("codes_issued", 0)) if newest else 0
    recent = store.alarm_records(since=now - timedelta(seconds=flood_window))
    announced = [
        (r.recorded_at, r.key)
        for r in recent
        if r.announce in (AnnouncementKind.RAISED, AnnouncementKind.LATE_FOUND)
    ]
    return StoredState(latest, store.alarm_timers(), codes, announced)
