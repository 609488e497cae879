"""Audit entries that are not alarm commands (configuration loads, stops) never wait on the
disk (monitor/store/audit_journal.py): while the store refuses them they go to the fallback
journal, later ones queue behind them, and the replay writes them in order, marked late; a
restart finds them in the journal's file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.store.audit_journal import AuditJournal
from monitor.store.base import AuditEntry, AuditQuery, StoreError
from monitor.store.fallback_journal import FallbackJournal
from monitor.store.sqlite import SQLiteStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class RefusingStore(SQLiteStore):
    """A real store whose audit writes fail while ``refuse`` is set (a full disk)."""

    refuse = False

    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditEntry]:
        if self.refuse:
            raise StoreError("database or disk is full")
        return super().append_audit(entries)


def entry(minute: int, action: str = "daemon.stop") -> AuditEntry:
    return AuditEntry(
        T0 + timedelta(minutes=minute), action, "cli", person="alice", reason=f"r{minute}"
    )


def test_refused_entries_wait_in_the_journal_and_are_written_in_order_marked_late(
    tmp_path: Path,
) -> None:
    store = RefusingStore(tmp_path / "cw.db")
    store.open()
    journal = FallbackJournal(tmp_path / "fallback.journal")
    audit = AuditJournal(store, journal)
    try:
        assert audit.write([entry(0)]) is True
        store.refuse = True
        assert audit.write([entry(1)]) is False
        store.refuse = False
        assert audit.write([entry(2)]) is False  # behind the one waiting: the order is kept
        assert [e.reason for e in store.audit_entries(AuditQuery())] == ["r0"]
        restarted = FallbackJournal(tmp_path / "fallback.journal")  # what a crash leaves
        assert [e.kind for e in restarted.pending()] == ["audit_log", "audit_log"]
        assert journal.replay() == 2
        stored = store.audit_entries(AuditQuery())
        assert [e.reason for e in stored] == ["r0", "r1", "r2"]
        assert [e.at for e in stored] == [entry(i).at for i in range(3)]  # when it happened
        assert stored[0].detail is None
        assert all(e.detail and "recorded_late_at" in e.detail for e in stored[1:])
        assert audit.write([entry(3)]) is True  # nothing waits: straight to the store
    finally:
        store.close()
