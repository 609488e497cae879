"""The notification log: both implementations agree (the SQLite table's own properties are in
tests/alarms/records/test_notification_log_sqlite.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alarms.notify.notification_log import LogRecord, MemoryLog, NotificationLog
from alarms.records.notification_log import SQLiteLog
from tests.support.notify import T0
from tests.support.notify import log_record as record


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
