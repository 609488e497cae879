"""Writing audit entries that are not alarm commands (configuration loads, stops, restarts):
to the store, or, while it refuses writes, to the fallback journal, as the alarm history does.

An audit entry must never keep the daemon from monitoring or paging: a refused write is kept
in the fallback journal (memory and a small file, bounded) and written by its replay, marked
``recorded_late_at`` in the entry's detail; later entries queue behind it, so the trail keeps
its order. Alarm commands need none of this: their entries travel with their alarm history rows
(:mod:`monitor.store.sqlite_audit`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from monitor.core.model import utc_now
from monitor.store.base import AuditEntry, Store, StoreError
from monitor.store.fallback_journal import FallbackJournal, JournalEntry

log = logging.getLogger(__name__)

#: The fallback journal's kind for audit entries.
JOURNAL_KIND: Final = "audit_log"


class AuditJournal:
    """``write`` never raises for a store that refuses: the entries wait in ``fallback``."""

    def __init__(self, store: Store, fallback: FallbackJournal | None = None) -> None:
        self.store = store
        self.fallback = fallback
        if fallback is not None:
            fallback.register(JOURNAL_KIND, self._write_late)

    def write(self, entries: Sequence[AuditEntry]) -> bool:
        """True when the store took them now; False when they wait in the fallback journal
        (or, without one, were only logged)."""
        fallback = self.fallback
        if fallback is None or not fallback.waiting(JOURNAL_KIND):
            try:
                self.store.append_audit(entries)
                return True
            except (StoreError, ValueError, TypeError) as exc:
                log.error("audit entries cannot be stored now (%s)", exc)
        for entry in entries:
            if fallback is None:
                log.error("audit entry lost (no fallback journal): %s", entry.action)
            else:
                fallback.append(JOURNAL_KIND, entry.at, entry_json(entry))
        return False

    def _write_late(self, journal_entry: JournalEntry) -> None:
        entry = entry_from_json(journal_entry.data)
        detail = {**(entry.detail or {}), "recorded_late_at": utc_now().isoformat()}
        self.store.append_audit([dataclasses.replace(entry, detail=detail)])


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    data = {f.name: getattr(entry, f.name) for f in dataclasses.fields(AuditEntry)}
    data["at"] = entry.at.isoformat()
    data["seq"] = None
    return data


def entry_from_json(data: dict[str, Any]) -> AuditEntry:
    names = {f.name for f in dataclasses.fields(AuditEntry)}
    values = {k: v for k, v in data.items() if k in names}
    values["at"] = datetime.fromisoformat(str(data["at"]))
    return AuditEntry(**values)
