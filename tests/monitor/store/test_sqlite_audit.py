"""The audit trail in the store (monitor/store/sqlite_audit.py, migrations/0004_audit.sql):
appended hash-chained, refused UPDATE and DELETE, checked by verify (a tampered row named),
alarm commands audited in the alarm history's own transaction, queries, no secret stored."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.store.base import AlarmRecord, AuditEntry, AuditQuery, StoreError
from monitor.store.side_chain_verify import verify_file
from monitor.store.sqlite import SQLiteStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(minute: int, **kw: object) -> AuditEntry:
    base: dict[str, object] = {
        "at": T0 + timedelta(minutes=minute),
        "action": "config.loaded",
        "method": "cli",
        "person": "alice",
        "os_user": "alice",
        "reason": "new probe",
    }
    base.update(kw)
    return AuditEntry(**base)  # type: ignore[arg-type]


def ack_record(
    seq_minute: int, person: str | None = "bob", action: str = "acknowledged"
) -> AlarmRecord:
    at = T0 + timedelta(minutes=seq_minute)
    return AlarmRecord(
        recorded_at=at,
        at=at,
        key="freezer-07.cabinet_temp/high",
        action=action,
        state="ACKED",
        code="A1007",
        previous="UNACK",
        person=person,
        via="sms",
        comment="door closed",
        data={
            "alarm": {"equipment": "freezer-07"},
            "detail": {"until": "2026-03-01T14:00:00+00:00"},
        },
    )


def test_entries_round_trip_with_their_seq(store: SQLiteStore) -> None:
    written = store.append_audit(
        [entry(0, old={"a": 1}, new={"a": 2}, clock_synchronised=True), entry(1)]
    )
    assert [e.seq for e in written] == [1, 2]
    read = store.audit_entries(AuditQuery())
    assert read == written
    assert read[0].old == {"a": 1} and read[0].new == {"a": 2}
    assert read[0].clock_synchronised is True and read[1].clock_synchronised is None


def test_an_alarm_command_is_audited_with_its_history_row(store: SQLiteStore) -> None:
    committed = store.append_alarm_records(
        [ack_record(0), ack_record(1, person=None, action="raised")]
    )
    [audited] = store.audit_entries(AuditQuery())
    assert audited.action == "alarm.acknowledged"
    assert (audited.person, audited.method, audited.reason) == ("bob", "sms", "door closed")
    assert (audited.subject, audited.equipment) == ("A1007", "freezer-07")
    assert audited.old == {"state": "UNACK"}
    assert audited.new == {"state": "ACKED", "until": "2026-03-01T14:00:00+00:00"}
    assert audited.detail == {
        "alarm_key": "freezer-07.cabinet_temp/high",
        "alarm_history_seq": committed[0].seq,
    }
    assert audited.at == T0


def test_the_clock_state_is_recorded_with_alarm_commands(store: SQLiteStore) -> None:
    store.clock_synchronised = lambda: False
    store.append_alarm_records([ack_record(0)])
    assert store.audit_entries(AuditQuery())[0].clock_synchronised is False


def test_an_alarm_command_and_its_audit_entry_commit_together(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    """A failure in the audit write leaves no alarm history row either."""
    raw.execute(
        "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    with pytest.raises(StoreError, match="disk says no"):
        store.append_alarm_records([ack_record(0)])
    assert store.alarm_records() == []


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET person = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
    ],
)
def test_update_and_delete_are_refused(
    store: SQLiteStore, raw: sqlite3.Connection, sql: str
) -> None:
    store.append_audit([entry(0)])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(sql)


def tamper(raw: sqlite3.Connection, sql: str) -> None:
    """What someone with the sqlite3 shell can do: drop the trigger, edit, restore it."""
    raw.execute("DROP TRIGGER audit_log_no_update")
    raw.execute("DROP TRIGGER audit_log_no_delete")
    raw.execute(sql)


def audit_line(db: Path) -> str:
    [check] = [c for c in verify_file(db) if c.log.table == "audit_log"]
    return check.line()


def test_verify_names_the_tampered_row(
    store: SQLiteStore, raw: sqlite3.Connection, db_path: Path
) -> None:
    store.append_audit([entry(i) for i in range(4)])
    assert audit_line(db_path) == "audit trail (table audit_log): 4 rows, hash chain intact"
    tamper(raw, "UPDATE audit_log SET reason = 'routine' WHERE seq = 3")
    assert audit_line(db_path) == (
        "audit trail (table audit_log): FAILED: row 3: hash mismatch (the row was altered)"
    )


def test_verify_names_a_removed_row(
    store: SQLiteStore, raw: sqlite3.Connection, db_path: Path
) -> None:
    store.append_audit([entry(i) for i in range(4)])
    tamper(raw, "DELETE FROM audit_log WHERE seq = 2")
    assert "FAILED: row 2 missing" in audit_line(db_path)


def test_queries_filter_by_time_person_equipment_and_action(store: SQLiteStore) -> None:
    store.append_audit(
        [
            entry(0, action="config.loaded"),
            entry(10, action="alarm.acknowledged", person="bob", os_user=None, equipment="f-7"),
            entry(20, action="alarm.shelved", person="bob", os_user=None, equipment="f-8"),
            entry(30, action="daemon.stop_requested", person="carol", os_user="croot"),
        ]
    )

    def seqs(**kw: object) -> list[int | None]:
        return [e.seq for e in store.audit_entries(AuditQuery(**kw))]  # type: ignore[arg-type]

    assert seqs(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30)) == [2, 3]
    assert seqs(person="bob") == [2, 3]
    assert seqs(person="croot") == [4]  # the OS user counts as who
    assert seqs(equipment="f-8") == [3]
    assert seqs(action="alarm.") == [2, 3]
    assert seqs(action="alarm.shelved") == [3]
    assert seqs(action="alarm") == []  # exact unless it ends in a dot
    assert seqs(limit=1) == [1]


def test_no_secret_value_is_stored(store: SQLiteStore, db_path: Path) -> None:
    store.append_audit(
        [
            entry(
                0,
                old={"notifiers": {"pager": {"password": "hunter2-old", "url": "x"}}},
                new={"notifiers": {"pager": {"password": "hunter2-new"}}},
                detail={"token": "tok-secret"},
            )
        ]
    )
    content = db_path.read_bytes() + Path(f"{db_path}-wal").read_bytes()
    for secret in (b"hunter2-old", b"hunter2-new", b"tok-secret"):
        assert secret not in content
    [stored] = store.audit_entries(AuditQuery())
    assert stored.old == {"notifiers": {"pager": {"password": "<redacted>", "url": "x"}}}
