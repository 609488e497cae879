"""The fail-open notification log and escalation record without a daemon: while records wait in
the fallback journal, later ones queue behind them (each table keeps its order), what waits is
still read back (also after a restart), and a full journal never stops the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alarms.escalation.state import EscalationRow, MemoryEscalationLog
from alarms.notify.notification_log import LogRecord, MemoryLog
from alarms.records.fail_open import FailOpenEscalationLog, FailOpenNotificationLog
from monitor.store.base import StoreError
from monitor.store.fallback_journal import FallbackJournal

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


class RefusingLog(MemoryLog):
    full = False

    def append(self, record: LogRecord) -> LogRecord:
        if self.full:
            raise StoreError("database or disk is full")
        return super().append(record)


class RefusingRecord(MemoryEscalationLog):
    full = False

    def append(self, row: EscalationRow) -> EscalationRow:
        if self.full:
            raise StoreError("database or disk is full")
        return super().append(row)


def record(n: int, status: str = "pending") -> LogRecord:
    return LogRecord(
        key=f"esc/t{n}/p1", alarm_id="A1007", person_id="alice", channel="sms",
        attempt=1, status=status, at=T0 + timedelta(seconds=n),  # type: ignore[arg-type]
    )  # fmt: skip


def test_records_keep_their_order_when_the_store_comes_back(tmp_path: Path) -> None:
    journal = FallbackJournal(tmp_path / "j")
    primary = RefusingLog()
    log = FailOpenNotificationLog(primary, journal, lambda: T0 + timedelta(hours=1))
    primary.full = True
    log.append(record(1))
    primary.full = False  # the disk has room, but the first record still waits
    log.append(record(2))
    assert [r.key for r in primary.records()] == []  # the second queued behind the first
    assert [r.key for r in log.history("esc/t2/p1", "alice")] == ["esc/t2/p1"]
    assert journal.replay() == 2
    assert [r.key for r in primary.records()] == ["esc/t1/p1", "esc/t2/p1"]
    assert all(r.recorded_late == T0 + timedelta(hours=1) for r in primary.records())
    log.append(record(3))
    assert primary.records()[-1].key == "esc/t3/p1" and primary.records()[-1].recorded_late is None


def test_what_waits_is_read_back_after_a_restart(tmp_path: Path) -> None:
    primary = RefusingLog()
    primary.full = True
    first = FailOpenNotificationLog(primary, FallbackJournal(tmp_path / "j"), lambda: T0)
    first.append(record(1))
    restarted = FailOpenNotificationLog(primary, FallbackJournal(tmp_path / "j"), lambda: T0)
    assert restarted.unfinished() == [("esc/t1/p1", "alice")]
    assert [r.key for r in restarted.for_alarm("A1007")] == ["esc/t1/p1"]


def test_a_full_journal_still_returns_the_record_and_keeps_nothing_unbounded() -> None:
    primary = RefusingLog()
    primary.full = True
    journal = FallbackJournal(None, max_entries=1)
    log = FailOpenNotificationLog(primary, journal, lambda: T0)
    log.append(record(1))
    kept = log.append(record(2))  # the page goes out all the same
    assert kept.key == "esc/t2/p1" and journal.dropped == 1
    assert [r.key for r in log.for_alarm("A1007")] == ["esc/t1/p1"]


def test_escalation_rows_queue_behind_waiting_rows(tmp_path: Path) -> None:
    journal = FallbackJournal(tmp_path / "j")
    primary = RefusingRecord()
    record_log = FailOpenEscalationLog(primary, journal, lambda: T0 + timedelta(hours=1))

    def row(step: int) -> EscalationRow:
        return EscalationRow("paged", T0, "t1", "A1007", "fr.temp/warm", False, {"step": step})

    primary.full = True
    record_log.append(row(0))
    primary.full = False
    record_log.append(row(1))
    assert primary.open_tracks() == []
    assert journal.replay() == 2
    assert [r.data["step"] for r in primary.for_code("A1007")] == [0, 1]
    assert all("recorded_late_at" in r.data for r in primary.for_code("A1007"))
