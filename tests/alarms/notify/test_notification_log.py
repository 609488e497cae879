"""The notification log: both implementations agree, the SQLite table is append-only and
lives beside the store's tables in the same file."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from alarms.notify.log import LogRecord, MemoryLog, NotificationLog
from alarms.notify.log_sqlite import SQLiteLog
from monitor.store.base import StoreError
from monitor.store.sqlite import SQLiteStore
from tests.support.notify import T0


def record(key: str, who: str, status: str, minutes: float = 0, **more: object) -> LogRecord:
    return LogRecord(
        key=key,
        alarm_id=key.split("/")[0],
        person_id=who,
        channel=str(more.pop("channel", "sms")),
        attempt=int(more.pop("attempt", 1)),  # type: ignore[call-overload]
        status=status,  # type: ignore[arg-type]
        at=T0 + timedelta(minutes=minutes),
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["memory", "sqlite"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> NotificationLog:
    return MemoryLog() if request.param == "memory" else SQLiteLog(tmp_path / "log.db")


def test_round_trip_and_order(log: NotificationLog) -> None:
    full = record(
        "A1007/raised",
        "alice",
        "failed",
        possible_duplicate=True,
        outcome_unknown=True,
        final=True,
        retryable=True,
        provider_id="SM1",
        error="timed out",
        notification='{"x": 1}',
        attempt=3,
        channel="phone",
    )
    first = log.append(record("A1007/raised", "alice", "pending"))
    second = log.append(full)
    assert second.seq > first.seq
    got = log.history("A1007/raised", "alice")
    assert got == [first, second]
    assert got[1] == LogRecord(**{**full.__dict__, "seq": second.seq})
    log.close()


def test_unfinished(log: NotificationLog) -> None:
    log.append(record("A1/raised", "alice", "pending", 0))
    log.append(record("A1/raised", "alice", "sent", 1))
    log.append(record("A2/raised", "bob", "pending", 2))
    log.append(record("A2/raised", "bob", "failed", 3, final=True))
    log.append(record("A2/raised", "bob", "exhausted", 3, channel="*"))
    log.append(record("A3/raised", "carol", "pending", 4))
    log.append(record("A1/raised", "dave", "pending", 5))
    log.append(record("A3/raised", "carol", "failed", 6))
    assert log.unfinished() == [("A3/raised", "carol"), ("A1/raised", "dave")]
    assert log.unfinished(since=T0 + timedelta(minutes=5)) == [("A1/raised", "dave")]
    assert [r.person_id for r in log.for_alarm("A1")] == ["alice", "alice", "dave"]
    log.close()


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
