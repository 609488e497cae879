"""The notification log's SQLite table (alarms/records/notification_log.py): append-only, and
beside the store's tables in the same file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alarms.records.notification_log import SQLiteLog
from monitor.store.base import StoreError
from monitor.store.sqlite import SQLiteStore
from tests.support.notify import log_record as record


def test_sqlite_rows_cannot_be_changed(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = SQLiteLog(path)
    log.append(record("A1/raised", "alice", "pending"))
    log.close()
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE notification_log SET status = 'sent'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM notification_log")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(
                "INSERT INTO notification_log (at_us, key, alarm_id, person_id, channel, attempt,"
                " status, possible_duplicate, outcome_unknown, final) "
                "VALUES (0, 'k', 'A1', 'p', 'sms', 1, 'delivered', 0, 0, 0)"
            )
    finally:
        conn.close()


def test_lives_in_the_store_file(tmp_path: Path) -> None:
    path = tmp_path / "coldwatch.db"
    with SQLiteStore(path) as _store:
        log = SQLiteLog(path)
        log.append(record("A1/raised", "alice", "pending"))
        log.close()
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"notification_log", "readings", "events"} <= tables
    with SQLiteStore(path):  # the store still opens the file (its migrations ignore our table)
        again = SQLiteLog(path)  # and the table is not created twice
        assert [r.status for r in again.history("A1/raised", "alice")] == ["pending"]
        again.close()


def test_the_store_must_create_a_shared_file_first(tmp_path: Path) -> None:
    path = tmp_path / "coldwatch.db"
    SQLiteLog(path).close()
    with pytest.raises(StoreError, match="not a coldwatch store"), SQLiteStore(path):
        pass
