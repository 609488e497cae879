"""SQLiteStore: what goes in comes back exactly, in order, across restarts."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.core.model import (
    FLAG_CALIBRATION_OVERDUE,
    FLAG_LATE,
    Event,
    EventKind,
    Quality,
    Reading,
)
from monitor.store.base import StoreError
from monitor.store.sqlite import SQLiteStore, from_us, to_us
from tests.support.paths import REPO
from tests.support.store_data import T0, at, mixed, series


def test_append_and_read_back_exactly(store: SQLiteStore) -> None:
    readings = [
        Reading.good("ult-1.temp", at(0), -80.123456789012345),
        Reading.good("ult-1.temp", at(1), 0.1 + 0.2),  # not 0.3: must survive bit for bit
        Reading.good("ult-1.temp", at(2), -0.0),
        Reading.good("ult-1.temp", at(3), 1e-310),  # subnormal
        Reading.good("ult-1.temp", at(4), 1.7976931348623157e308, FLAG_CALIBRATION_OVERDUE),
        Reading.good("ult-1.temp", at(5), 5.0, FLAG_LATE | FLAG_CALIBRATION_OVERDUE),
        Reading.bad("ult-1.temp", at(6), Quality.SENSOR_FAULT, "probe open circuit"),
        Reading.bad("ult-1.temp", at(7), Quality.STALE),
    ]
    info = store.append(readings)
    assert info is not None and info.readings == len(readings)

    back = store.readings("ult-1.temp")
    assert back == readings
    assert [r.detail for r in back] == [r.detail for r in readings]  # detail is compare=False
    for got, sent in zip(back, readings, strict=True):
        if isinstance(sent.value, float):
            assert isinstance(got.value, float)
            assert math.copysign(1.0, got.value) == math.copysign(1.0, sent.value)
            assert got.value.hex() == sent.value.hex()
        assert got.ts.tzinfo is UTC
        assert got.quality is sent.quality


def test_string_and_integer_values_keep_their_type(store: SQLiteStore) -> None:
    readings = [
        Reading.good("ult-1.status", at(0), "DOOR OPEN"),
        Reading.good("ult-1.status", at(1), "42"),  # digits stay text
        Reading.good("ult-1.status", at(2), "ünïcödé ✓ \x00 nul inside"),
        Reading.good("ult-1.status", at(3), ""),
        Reading.good("ult-1.status", at(4), 3),  # an int stays an int
        Reading.good("ult-1.status", at(5), True),  # SQLite has no bool: stored as 1
    ]
    store.append(readings)
    values = [r.value for r in store.readings("ult-1.status")]
    assert values == ["DOOR OPEN", "42", "ünïcödé ✓ \x00 nul inside", "", 3, 1]
    assert [type(v) for v in values] == [str, str, str, str, int, int]
    assert store.verify().ok


def test_timestamps_are_exact_microseconds_in_utc(store: SQLiteStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    stamps = [
        datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 14, 0, 0, 2, tzinfo=plus_two),  # = 12:00:00.000002 UTC
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # before the epoch
        datetime(2999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    store.append([Reading.good("c", ts, float(i)) for i, ts in enumerate(stamps)])
    back = store.readings("c")
    assert [r.ts for r in back] == sorted(stamps)
    assert all(r.ts.utcoffset() == timedelta(0) for r in back)
    for ts in stamps:
        assert from_us(to_us(ts)) == ts


def test_naive_datetimes_are_refused(store: SQLiteStore) -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append([Reading.good("c", at(0), 1.0), Reading.good("c", naive, 2.0)])
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append([], [Event(naive, EventKind.GAP, "c", "gap")])
    with pytest.raises(ValueError, match="timezone-aware"):
        store.readings("c", start=naive)
    assert store.readings("c") == []  # nothing of the refused batch was written
    assert store.verify().batches == 0


def test_values_sqlite_cannot_keep_are_refused(store: SQLiteStore) -> None:
    with pytest.raises(ValueError, match="NaN"):
        store.append([Reading.good("c", at(0), 1.0), Reading.good("c", at(1), math.nan)])
    with pytest.raises(ValueError):
        store.append([Reading.good("c", at(0), b"bytes")])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.append([Reading("c", at(0), 1.0, Quality.GOOD, flags=1.5)])  # type: ignore[arg-type]
    store.append([Reading.good("c", at(2), math.inf), Reading.good("c", at(3), -math.inf)])
    assert [r.value for r in store.readings("c")] == [math.inf, -math.inf]
    assert store.verify().ok


def test_range_queries_are_start_inclusive_end_exclusive(store: SQLiteStore) -> None:
    store.append(series("a", 10) + series("b", 10))
    got = store.readings("a", start=at(3), end=at(6))
    assert [r.ts for r in got] == [at(3), at(4), at(5)]
    assert [r.value for r in store.readings("a", start=at(8))] == [8.1, 9.1]
    assert [r.value for r in store.readings("a", end=at(1))] == [0.1]
    assert store.readings("a", start=at(5), end=at(5)) == []
    assert [r.value for r in store.readings("a", start=at(2), limit=3)] == [2.1, 3.1, 4.1]
    assert store.readings("nope") == []
    # one microsecond either side of a boundary
    assert store.readings("a", start=at(3) + timedelta(microseconds=1), end=at(4)) == []
    assert len(store.readings("a", start=at(3), end=at(3) + timedelta(microseconds=1))) == 1


def test_readings_come_back_oldest_first_even_when_appended_out_of_order(
    store: SQLiteStore,
) -> None:
    store.append([Reading.good("a", at(5), 5.0), Reading.good("a", at(1), 1.0)])
    store.append([Reading.good("a", at(3), 3.0), Reading.good("a", at(3), 3.5)])
    assert [r.value for r in store.readings("a")] == [1.0, 3.0, 3.5, 5.0]
    assert store.latest(["a"])["a"].value == 5.0


def test_range_query_uses_the_channel_ts_index(store: SQLiteStore, db_path: Path) -> None:
    conn = sqlite3.connect(str(db_path))
    try:
        plan = " ".join(
            row[-1]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT channel, ts, value, quality, flags, detail "
                "FROM readings WHERE channel = ? AND ts >= ? AND ts < ? ORDER BY ts, id",
                ("a", 0, 1),
            )
        )
    finally:
        conn.close()
    assert "readings_channel_ts" in plan
    assert "TEMP B-TREE" not in plan  # no sort: the index order is the answer's order


def test_latest(store: SQLiteStore) -> None:
    store.append(series("a", 5) + series("b", 3, start=100))
    store.append([Reading.bad("b", at(200), Quality.COMM_ERROR, "timeout")])
    latest = store.latest(["a", "b", "c", "a"])
    assert set(latest) == {"a", "b"}
    assert latest["a"] == Reading.good("a", at(4), 4.1)
    assert latest["b"].quality is Quality.COMM_ERROR
    assert latest["b"].detail == "timeout"
    assert store.latest([]) == {}


def test_events_with_data_and_person(store: SQLiteStore) -> None:
    events = [
        Event(at(0), EventKind.DAEMON_STARTED, "daemon", "started", {"pid": 7, "v": "0.1"}),
        Event(at(1), EventKind.DEVICE_DOWN, "ult-1", "no answer", {"errors": [1, 2], "x": None}),
        Event(
            at(2),
            EventKind.CONFIG_LOADED,
            "daemon",
            "config ✓",
            {"nested": {"b": 1.5, "a": "ü"}},
            "alice",
        ),
        Event(at(3), EventKind.DEVICE_UP, "ult-1", "back", {}),
        Event(at(4), "custom_kind", "dewar-2", "something", {"when": at(4)}),
    ]
    info = store.append([], events)
    assert info is not None and (info.readings, info.events) == (0, 5)
    back = store.events()
    assert [e.kind for e in back] == [str(e.kind) for e in events]
    assert back[0].data == {"pid": 7, "v": "0.1"}
    assert back[1].data == {"errors": [1, 2], "x": None}
    assert back[2].data == {"nested": {"a": "ü", "b": 1.5}}
    assert back[2].person == "alice" and back[2].message == "config ✓"
    assert back[4].data == {"when": str(at(4))}  # non-JSON values are kept as their text
    assert all(e.ts.tzinfo is UTC for e in back)

    assert [e.source for e in store.events(source="ult-1")] == ["ult-1", "ult-1"]
    kinds = [EventKind.DEVICE_DOWN, EventKind.DEVICE_UP]
    assert [e.message for e in store.events(kinds=kinds)] == ["no answer", "back"]
    assert store.events(kinds=[]) == []
    assert [e.ts for e in store.events(start=at(1), end=at(3))] == [at(1), at(2)]
    assert len(store.events(limit=2)) == 2
    newest = store.events(kinds=kinds, source="ult-1", limit=1, newest_first=True)
    assert [e.message for e in newest] == ["back"]
    assert [e.ts for e in store.events(newest_first=True)] == [at(4), at(3), at(2), at(1), at(0)]
    assert store.verify().ok


def test_one_batch_per_append(store: SQLiteStore) -> None:
    assert store.append([], []) is None
    first = store.append(series("a", 3), [Event(at(0), EventKind.GAP, "a", "gap")])
    second = store.append(series("a", 2, start=10))
    third = store.append([], [Event(at(20), EventKind.DEVICE_UP, "d", "up")])
    assert first is not None and second is not None and third is not None
    assert (first.seq, first.readings, first.events) == (1, 3, 1)
    assert (second.seq, second.readings, second.events) == (2, 2, 0)
    assert (third.seq, third.readings, third.events) == (3, 0, 1)
    assert len({first.hash, second.hash, third.hash}) == 3
    assert all(len(i.hash) == 64 for i in (first, second, third))
    result = store.verify()
    assert (result.ok, result.batches, result.readings, result.events) == (True, 3, 5, 2)


def test_batch_rows_record_the_chain(store: SQLiteStore, db_path: Path) -> None:
    first = store.append(series("a", 3))
    second = store.append(series("a", 2, start=10))
    assert first is not None and second is not None
    conn = sqlite3.connect(str(db_path))
    try:
        rows = conn.execute(
            "SELECT seq, first_reading_id, last_reading_id, readings, prev_hash, hash "
            "FROM batches ORDER BY seq"
        ).fetchall()
        batch_of = dict(conn.execute("SELECT id, batch FROM readings").fetchall())
    finally:
        conn.close()
    assert rows == [
        (1, 1, 3, 3, "0" * 64, first.hash),
        (2, 4, 5, 2, first.hash, second.hash),
    ]
    assert batch_of == {1: 1, 2: 1, 3: 1, 4: 2, 5: 2}


def test_a_restart_keeps_everything(db_path: Path) -> None:
    readings = mixed(50)
    events = [Event(at(0), EventKind.DAEMON_STARTED, "daemon", "hi", {"a": 1}, "bob")]
    with SQLiteStore(db_path) as store:
        store.append(readings[:20], events)
        store.append(readings[20:])
        before = store.verify()
    with SQLiteStore(db_path) as store:
        assert store.verify() == before
        assert sorted(
            store.readings("ult-1.temp") + store.readings("ult-1.status"),
            key=lambda r: r.ts,
        ) == [r for r in readings if r.channel != "dewar-2.level"]
        assert store.events() == events
        assert store.append(series("a", 1, start=999)) is not None
        assert store.verify().batches == 3


def test_a_second_store_on_the_same_file_without_close_sees_every_commit(db_path: Path) -> None:
    crashed = SQLiteStore(db_path)
    crashed.open()
    crashed.append(series("a", 10))
    crashed.append(series("a", 10, start=10))
    # no close(): as if the process had died; a new one opens the same file
    again = SQLiteStore(db_path)
    again.open()
    try:
        assert len(again.readings("a")) == 20
        assert again.append(series("a", 1, start=100)) is not None
        assert again.verify().ok and again.verify().batches == 3
    finally:
        again.close()
        crashed.close()


def test_a_killed_process_keeps_every_committed_batch(db_path: Path) -> None:
    script = f"""
import os
from datetime import UTC, datetime, timedelta
from monitor.core.model import Reading
from monitor.store.sqlite import SQLiteStore
t0 = datetime(2026, 3, 1, tzinfo=UTC)
store = SQLiteStore({str(db_path)!r})
store.open()
for b in range(5):
    store.append([Reading.good("a", t0 + timedelta(seconds=b * 100 + i), float(i))
                  for i in range(100)])
os._exit(0)  # no close, no atexit, no checkpoint
"""
    root = REPO
    subprocess.run([sys.executable, "-c", script], check=True, cwd=root, timeout=60)
    assert Path(f"{db_path}-wal").exists()  # the commits live in the WAL
    with SQLiteStore(db_path) as store:
        result = store.verify()
        assert (result.ok, result.batches, result.readings) == (True, 5, 500)


def test_concurrent_appends_from_threads_stay_one_chain(store: SQLiteStore) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for b in range(20):
                store.append(series(name, 25, start=b * 100))
                store.readings(name, limit=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"ch{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = store.verify()
    assert (result.ok, result.batches, result.readings) == (True, 80, 2000)


def test_closed_or_unopened_store_raises_store_error(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    with pytest.raises(StoreError, match="not open"):
        store.append(series("a", 1))
    with pytest.raises(StoreError, match="not open"):
        store.readings("a")
    store.open()
    store.open()  # idempotent
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="not open"):
        store.verify()


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteStore(tmp_path / "missing-dir" / "x.db").open()


def test_a_failed_append_writes_nothing(store: SQLiteStore, db_path: Path) -> None:
    store.append(series("a", 3))
    blocker = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with SQLiteStore(db_path, busy_timeout=0.05) as reader:  # an up-to-date store opens
            assert len(reader.readings("a")) == 3  # without the write lock, and reads
            assert reader.verify().ok
        writer = store._writer
        assert writer is not None
        writer.execute("PRAGMA busy_timeout = 50")
        with pytest.raises(StoreError, match="nothing of the batch was written"):
            store.append(series("a", 5, start=10))
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert len(store.readings("a")) == 3
    assert store.append(series("a", 5, start=10)) is not None  # and the store still works
    result = store.verify()
    assert (result.ok, result.batches, result.readings) == (True, 2, 8)


def test_config_versions_round_trip_and_dedupe(store: SQLiteStore) -> None:
    import hashlib
    import json

    effective = {"site": {"name": "Cell Therapy Suite"}, "secret": "***"}
    text = json.dumps(effective, sort_keys=True, separators=(",", ":"))
    sha = hashlib.sha256(text.encode()).hexdigest()
    first = store.record_config(text, sha, ["/etc/coldwatch/site.yaml"], T0, "alice")
    again = store.record_config(text, sha, ["/elsewhere.yaml"], at(60), "bob")
    assert again == first

    other = json.dumps({"site": {"name": "B"}})
    other_sha = hashlib.sha256(other.encode()).hexdigest()
    second = store.record_config(other, other_sha, ["a.yaml", "b.yaml"], at(120), None)
    assert second != first

    versions = store.config_versions()
    assert [v.id for v in versions] == [first, second]
    assert versions[0].effective == effective
    assert versions[0].sha256 == sha
    assert versions[0].sources == ["/etc/coldwatch/site.yaml"]
    assert versions[0].loaded_at == T0 and versions[0].person == "alice"
    assert versions[1].sources == ["a.yaml", "b.yaml"] and versions[1].person is None

    with pytest.raises(ValueError, match="SHA-256"):
        store.record_config(text, "0" * 64, [], T0, None)
    assert store.verify().ok


def test_reads_do_not_wait_for_the_writer_lock(store: SQLiteStore) -> None:
    store.append(series("a", 3))
    with store._lock:  # a batch is being written
        assert len(store.readings("a")) == 3
        assert store.latest(["a"])["a"].value == 2.1
