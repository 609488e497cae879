"""Retention purge: whole old batches only, logged, attributable, and the chain still verifies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.core.model import Event, EventKind
from monitor.store.base import StoreError
from monitor.store.sqlite import SQLiteStore
from tests.support.store_data import at, drop_triggers, mixed, series

DAY = 86_400.0


def _days(store: SQLiteStore, days: int, per_day: int = 20) -> None:
    """One batch per day of readings (and an event), day 0 first."""
    for d in range(days):
        events = [Event(at(d * DAY), EventKind.DEVICE_EVENT, "ult-1", f"day {d}", {"d": d})]
        store.append(mixed(per_day, start=d * DAY), events)


def test_purge_removes_whole_old_batches_and_logs_itself(store: SQLiteStore) -> None:
    _days(store, 10)
    removed = store.purge_before(at(4 * DAY), "alice", "retention: 4 days (SOP-123)")
    assert removed == 80  # days 0..3

    # what is left is days 4..9, untouched
    remaining = store.readings("ult-1.temp") + store.readings("ult-1.status")
    assert min(r.ts for r in remaining) >= at(4 * DAY)
    assert len(store.events(kinds=[EventKind.DEVICE_EVENT])) == 6

    # the purge log
    (purge,) = store.purges()
    assert (purge["first_seq"], purge["last_seq"]) == (1, 4)
    assert (purge["readings"], purge["events"]) == (80, 4)
    assert purge["person"] == "alice" and purge["reason"] == "retention: 4 days (SOP-123)"
    assert purge["before"] == at(4 * DAY)
    assert len(purge["anchor_hash"]) == 64

    # and the purge is itself an event, in a new batch, attributable
    (event,) = store.events(kinds=[EventKind.RETENTION_PURGE])
    assert event.person == "alice" and event.source == "store"
    assert event.data["first_seq"] == 1 and event.data["last_seq"] == 4
    assert event.data["anchor_hash"] == purge["anchor_hash"]
    assert event.data["reason"] == "retention: 4 days (SOP-123)"
    assert "80 readings" in event.message

    result = store.verify()
    assert result.ok, result.problem
    assert (result.batches, result.readings, result.events) == (7, 120, 7)


def test_appends_after_a_purge_continue_the_chain(store: SQLiteStore) -> None:
    _days(store, 5)
    store.purge_before(at(2 * DAY), "alice", "retention")
    info = store.append(series("a", 3, start=10 * DAY))
    assert info is not None and info.seq == 7  # 5 days + the purge's batch
    assert store.verify().ok


def test_a_batch_straddling_the_cutoff_stays(store: SQLiteStore) -> None:
    store.append(series("a", 10, start=0))  # 0..9 s
    store.append(series("a", 10, start=100))  # 100..109 s
    assert store.purge_before(at(105), "alice", "retention") == 10
    assert store.readings("a")[0].ts == at(100)
    assert store.verify().ok


def test_only_a_prefix_of_the_chain_is_purged(store: SQLiteStore) -> None:
    """A late batch of old readings behind a new one stays until everything before it goes."""
    store.append(series("a", 5, start=0))
    store.append(series("a", 5, start=1000))
    store.append(series("a", 5, start=10))  # old readings, committed late
    assert store.purge_before(at(500), "alice", "retention") == 5
    assert len(store.readings("a")) == 10
    assert store.verify().ok


def test_purging_everything_never_reuses_ids(store: SQLiteStore, db_path: Path) -> None:
    _days(store, 3)
    assert store.purge_before(at(100 * DAY), "alice", "decommissioned freezer") == 60
    assert store.readings("ult-1.temp") == []
    store.append(series("a", 4, start=200 * DAY))
    conn = sqlite3.connect(str(db_path))
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM readings ORDER BY id")]
    finally:
        conn.close()
    assert ids == [61, 62, 63, 64]
    store.append(series("a", 2, start=201 * DAY))
    result = store.verify()
    assert result.ok, result.problem
    assert result.readings == 6


def test_successive_purges_verify(db_path: Path) -> None:
    clock = [at(2.5 * DAY)]
    with SQLiteStore(db_path, now=lambda: clock[0]) as store:
        _days(store, 3)  # batches 1..3
        assert store.purge_before(at(DAY), "alice", "first") == 20  # its event: batch 4
        for d in (3, 4, 5):  # batches 5..7
            store.append(mixed(20, start=d * DAY))
        clock[0] = at(6 * DAY)
        # the second purge takes days 1..3 and the first purge's own batch with them
        assert store.purge_before(at(4 * DAY), "bob", "second") == 60
        first, second = store.purges()
        assert (first["person"], first["first_seq"], first["last_seq"]) == ("alice", 1, 1)
        assert (second["person"], second["first_seq"], second["last_seq"]) == ("bob", 2, 5)
        assert [e.person for e in store.events(kinds=[EventKind.RETENTION_PURGE])] == ["bob"]
        result = store.verify()
        assert result.ok, result.problem
        assert (result.batches, result.readings) == (3, 40)


def test_nothing_to_purge(store: SQLiteStore) -> None:
    _days(store, 2)
    assert store.purge_before(at(-DAY), "alice", "retention") == 0
    assert store.purges() == []
    assert store.events(kinds=[EventKind.RETENTION_PURGE]) == []
    assert store.verify().batches == 2


@pytest.mark.parametrize(("person", "reason"), [("", "r"), ("  ", "r"), ("alice", ""), ("a", " ")])
def test_purge_needs_a_person_and_a_reason(store: SQLiteStore, person: str, reason: str) -> None:
    _days(store, 2)
    with pytest.raises(ValueError):
        store.purge_before(at(DAY), person, reason)
    assert store.verify().readings == 40


def test_purge_refuses_records_that_do_not_verify(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    _days(store, 5)
    drop_triggers(raw)
    raw.execute("UPDATE readings SET value = 0.0 WHERE id = 21")  # day 1
    with pytest.raises(StoreError, match="batch 2: hash mismatch"):
        store.purge_before(at(3 * DAY), "alice", "retention")
    assert store.purges() == []
    assert (
        len(store.readings("ult-1.temp"))
        == sum(1 for r in mixed(20) if r.channel == "ult-1.temp") * 5
    )


def test_the_guard_is_closed_after_a_purge(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    _days(store, 3)
    store.purge_before(at(DAY), "alice", "retention")
    assert raw.execute("SELECT active FROM purge_guard").fetchone() == (0,)
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("DELETE FROM readings")


def test_a_forged_purge_record_is_detected(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    """Deleting old batches and writing a purge row for them is not a purge: there is no
    retention_purge event in the chain to match."""
    _days(store, 5)
    anchor = raw.execute("SELECT hash FROM batches WHERE seq = 2").fetchone()[0]
    drop_triggers(raw)
    raw.execute("DELETE FROM readings WHERE batch <= 2")
    raw.execute("DELETE FROM events WHERE batch <= 2")
    raw.execute("DELETE FROM batches WHERE seq <= 2")
    raw.execute(
        "INSERT INTO purges (purged_at, before_ts, person, reason, first_seq, last_seq, "
        "anchor_hash, readings, events, reading_id_hw, event_id_hw, event_id) "
        "VALUES (0, 0, 'mallory', 'tidy up', 1, 2, ?, 40, 2, 40, 2, 5)",
        (anchor,),
    )
    result = store.verify()
    assert not result.ok
    assert result.problem == "purge 1 does not match its retention_purge event 5 (altered)"
