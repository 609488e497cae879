"""Every write of the SQLite store is one transaction: all of it or nothing, an SQLite failure
a StoreError that names the write, and the store usable again afterwards."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from monitor.core.model import Event, EventKind
from monitor.store.base import AlarmRecord, StoreError
from monitor.store.sqlite import SQLiteStore
from monitor.store.sqlite_schema import connect, write_transaction
from tests.support.store_data import T0, at, series

CONFIG_JSON = '{"site": {"name": "B"}}'


def _record_config(store: SQLiteStore) -> object:
    sha = hashlib.sha256(CONFIG_JSON.encode()).hexdigest()
    return store.record_config(CONFIG_JSON, sha, ["site.yaml"], T0, "alice")


def _alarm_record(store: SQLiteStore) -> object:
    return store.append_alarm_records([AlarmRecord(T0, T0, "fr.temp/warm", "raised", "UNACK")])


def _what_is_stored(store: SQLiteStore) -> tuple[int, int, int, int, int]:
    return (
        len(store.readings("a")),
        len(store.events()),
        len(store.config_versions()),
        len(store.purges()),
        len(store.alarm_records()),
    )


WRITES: dict[str, tuple[str, Callable[[SQLiteStore], object]]] = {
    "append": (
        "append failed, nothing of the batch was written: ",
        lambda store: store.append(series("a", 2, start=100)),
    ),
    "record_config": ("cannot record the configuration: ", _record_config),
    "purge_before": (
        "retention purge failed, nothing was removed: ",
        lambda store: store.purge_before(at(50), "alice", "retention"),
    ),
    "append_alarm_records": ("alarm records not written: ", _alarm_record),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_a_write_that_cannot_take_the_lock_is_a_store_error_and_writes_nothing(
    store: SQLiteStore, db_path: Path, name: str
) -> None:
    failure, write = WRITES[name]
    store.append(series("a", 3))
    before = _what_is_stored(store)
    writer = store._writer
    assert writer is not None
    writer.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreError) as raised:
            write(store)
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert str(raised.value).startswith(failure)
    assert isinstance(raised.value.__cause__, sqlite3.Error)
    assert not writer.in_transaction
    assert _what_is_stored(store) == before
    write(store)  # the store still works
    assert _what_is_stored(store) != before
    assert store.verify().ok


class _FailingClock:
    """A clock that raises on its ``fail_at``-th reading after being armed."""

    def __init__(self) -> None:
        self.calls_left: int | None = None

    def __call__(self) -> datetime:
        if self.calls_left is not None:
            self.calls_left -= 1
            if self.calls_left == 0:
                raise RuntimeError("the clock broke")
        return at(10_000)


def test_an_error_midway_through_a_purge_rolls_back_its_deletes(db_path: Path) -> None:
    """The purge reads the clock after deleting the old rows: a failure there undoes them,
    and the error comes through as it was raised (it is not an SQLite error)."""
    clock = _FailingClock()
    with SQLiteStore(db_path, now=clock) as store:
        for day in range(3):
            events = [Event(at(day * 100), EventKind.DEVICE_EVENT, "ult-1", f"day {day}", {})]
            store.append(series("a", 5, start=day * 100), events)
        before = _what_is_stored(store)
        clock.calls_left = 1
        with pytest.raises(RuntimeError, match="the clock broke"):
            store.purge_before(at(150), "alice", "retention")
        assert _what_is_stored(store) == before
        assert store._writer is not None and not store._writer.in_transaction
        result = store.verify()
        assert (result.ok, result.batches, result.readings) == (True, 3, 15)
        clock.calls_left = None
        assert store.purge_before(at(150), "alice", "retention") == 10
        assert store.verify().ok


def test_write_transaction_commits_on_return_and_rolls_back_on_any_error(db_path: Path) -> None:
    conn = connect(db_path)
    try:
        conn.execute("CREATE TABLE t (x INTEGER)")
        with write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            assert conn.in_transaction
        with pytest.raises(KeyError), write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise KeyError("not an SQLite error")
        assert not conn.in_transaction
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        conn.close()
