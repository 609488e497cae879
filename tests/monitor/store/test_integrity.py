"""Append-only triggers, and verify() naming the batch a tamperer touched."""

from __future__ import annotations

import sqlite3

import pytest

from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.store.sqlite import APPEND_ONLY_MESSAGE, SQLiteStore
from tests.support.store_data import T0, at, drop_triggers, mixed, series


def _fill(store: SQLiteStore, batches: int = 20, size: int = 50) -> None:
    for b in range(batches):
        events = [Event(at(b * 1000), EventKind.DEVICE_EVENT, "ult-1", f"batch {b}", {"b": b})]
        store.append(mixed(size, start=b * 1000), events)


def _record_config(store: SQLiteStore) -> None:
    import hashlib

    text = '{"site":{"name":"A"}}'
    store.record_config(text, hashlib.sha256(text.encode()).hexdigest(), ["a.yaml"], T0, None)


# --- append-only -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE readings SET value = 1.0 WHERE id = 1",
        "DELETE FROM readings WHERE id = 1",
        "DELETE FROM readings",
        "UPDATE events SET message = 'x' WHERE id = 1",
        "DELETE FROM events WHERE id = 1",
        "UPDATE batches SET hash = 'x' WHERE seq = 1",
        "DELETE FROM batches WHERE seq = 1",
        "UPDATE config_versions SET person = 'mallory'",
        "DELETE FROM config_versions",
        "UPDATE schema_migrations SET sha256 = 'x'",
        "DELETE FROM schema_migrations",
        "DELETE FROM purge_guard",
    ],
)
def test_updates_and_deletes_are_refused(
    store: SQLiteStore, raw: sqlite3.Connection, statement: str
) -> None:
    store.append(series("a", 3), [Event(at(0), EventKind.GAP, "a", "gap")])
    _record_config(store)
    with pytest.raises(sqlite3.IntegrityError, match=APPEND_ONLY_MESSAGE):
        raw.execute(statement)
    assert store.verify().ok
    assert len(store.readings("a")) == 3


def test_updates_to_the_purge_log_are_refused(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    store.append(series("a", 3, start=-86400))
    store.append(series("a", 3))
    assert store.purge_before(at(-3600), "alice", "retention") == 3
    with pytest.raises(sqlite3.IntegrityError, match=APPEND_ONLY_MESSAGE):
        raw.execute("UPDATE purges SET person = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match=APPEND_ONLY_MESSAGE):
        raw.execute("DELETE FROM purges")


def test_the_guard_only_opens_inside_a_transaction_nobody_else_sees(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    assert raw.execute("SELECT active FROM purge_guard").fetchone() == (0,)
    store.append(series("a", 3))
    # even someone who sets the guard cannot UPDATE: updates are never allowed
    raw.execute("BEGIN")
    raw.execute("UPDATE purge_guard SET active = 1")
    with pytest.raises(sqlite3.IntegrityError, match=APPEND_ONLY_MESSAGE):
        raw.execute("UPDATE readings SET value = 0")
    raw.execute("ROLLBACK")


# --- verify ----------------------------------------------------------------------------------


def test_verify_passes_on_a_clean_store(store: SQLiteStore) -> None:
    empty = store.verify()
    assert (empty.ok, empty.batches, empty.readings, empty.events) == (True, 0, 0, 0)
    _fill(store)
    _record_config(store)
    result = store.verify()
    assert result.ok and result.problem is None and result.first_bad_batch is None
    assert (result.batches, result.readings, result.events) == (20, 1000, 20)


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE readings SET value = value + 0.001 WHERE id = 863 AND typeof(value) = 'real'",
        "UPDATE readings SET value = value + 1e-12 WHERE id = 863",  # a few ulps
        "UPDATE readings SET ts = ts + 1 WHERE id = 851",
        "UPDATE readings SET channel = 'ult-9.temp' WHERE id = 851",
        "UPDATE readings SET quality = 'good', value = 1.0 WHERE id = 854",
        "UPDATE readings SET detail = 'all fine' WHERE id = 854",
        "UPDATE readings SET flags = 0 WHERE id = 853",
        "UPDATE readings SET value = '-80.0' WHERE id = 851",  # same number, now text
        "UPDATE readings SET ts = 'yesterday' WHERE id = 851",
        "UPDATE readings SET batch = 16 WHERE id = 851",
        "UPDATE events SET message = 'nothing happened' WHERE id = 18",
        "UPDATE events SET data = '{\"b\":99}' WHERE id = 18",
        "UPDATE events SET person = 'mallory' WHERE id = 18",
        "UPDATE batches SET committed_at = committed_at + 1 WHERE seq = 18",
    ],
)
def test_verify_names_the_batch_of_an_edited_row(
    store: SQLiteStore, raw: sqlite3.Connection, edit: str
) -> None:
    _fill(store)  # batch 18 holds readings 851..900 and event 18
    drop_triggers(raw)
    assert raw.execute(edit).rowcount == 1
    result = store.verify()
    assert not result.ok
    assert result.first_bad_batch == 18
    assert result.problem == "batch 18: hash mismatch (a reading or event in it was altered)"
    assert result.batches == 17  # the good ones before it


def test_verify_notices_the_sign_of_zero(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    store.append([Reading.good("a", at(0), 0.0)])
    drop_triggers(raw)
    raw.execute("UPDATE readings SET value = -0.0")
    assert store.verify().first_bad_batch == 1


def test_verify_detects_swapped_rows(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    store.append([Reading.good("a", at(0), 1.0), Reading.good("b", at(0), 2.0)])
    store.append([Reading.good("a", at(1), 3.0)])
    drop_triggers(raw)
    raw.execute("UPDATE readings SET value = 2.0, channel = 'b' WHERE id = 1")
    raw.execute("UPDATE readings SET value = 1.0, channel = 'a' WHERE id = 2")
    result = store.verify()
    assert (result.ok, result.first_bad_batch) == (False, 1)


def test_verify_names_the_batch_of_a_deleted_row(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    _fill(store)
    drop_triggers(raw)
    raw.execute("DELETE FROM readings WHERE id = 870")  # batch 18
    result = store.verify()
    assert (result.ok, result.first_bad_batch) == (False, 18)
    assert result.problem == "batch 18: 49 readings found, 50 recorded (rows missing)"


def test_verify_names_a_deleted_event(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    _fill(store)
    drop_triggers(raw)
    raw.execute("DELETE FROM events WHERE id = 5")
    result = store.verify()
    assert (result.ok, result.first_bad_batch) == (False, 5)
    assert result.problem == "batch 5: 0 events found, 1 recorded (rows missing)"


def test_verify_names_a_deleted_batch_row(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    _fill(store)
    drop_triggers(raw)
    raw.execute("DELETE FROM batches WHERE seq = 12")
    result = store.verify()
    assert (result.ok, result.first_bad_batch) == (False, 12)
    assert result.problem == "batch 12 missing (seq gap)"


def test_verify_names_a_deleted_first_batch(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    _fill(store, batches=3)
    drop_triggers(raw)
    raw.execute("DELETE FROM batches WHERE seq = 1")
    result = store.verify()
    assert (result.ok, result.first_bad_batch, result.problem) == (
        False,
        1,
        "batch 1 missing (seq gap)",
    )


def test_verify_notices_the_last_batch_row_deleted(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    _fill(store, batches=3)
    drop_triggers(raw)
    raw.execute("DELETE FROM batches WHERE seq = 3")  # its readings are left without a batch
    result = store.verify()
    assert (result.ok, result.first_bad_batch) == (False, 3)
    assert result.problem is not None and "not covered by any batch" in result.problem


def test_verify_notices_rows_written_outside_the_chain(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    _fill(store, batches=3)
    raw.execute(
        "INSERT INTO readings (channel, ts, value, quality, flags, detail, batch) "
        "VALUES ('a', 0, 1.0, 'good', 0, NULL, 3)"
    )
    result = store.verify()
    assert not result.ok
    assert result.problem == (
        "readings from id 151 are not covered by any batch (batch 4 missing, or rows written "
        "outside the chain)"
    )


def test_verify_notices_a_rewritten_batch_hash(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    """Recomputing one batch's hash after an edit is not enough: the next batch's prev_hash
    still holds the old one."""
    _fill(store, batches=5)
    drop_triggers(raw)
    raw.execute("UPDATE batches SET hash = ? WHERE seq = 3", ("f" * 64,))
    result = store.verify()
    assert not result.ok and result.first_bad_batch == 3  # its own hash no longer matches
    assert result.problem is not None and "hash mismatch" in result.problem


def test_verify_notices_a_broken_prev_hash(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    _fill(store, batches=5)
    drop_triggers(raw)
    raw.execute("UPDATE batches SET prev_hash = ? WHERE seq = 4", ("e" * 64,))
    result = store.verify()
    assert (result.ok, result.first_bad_batch) == (False, 4)
    assert result.problem == "batch 4: prev_hash does not match the hash of batch 3 (chain broken)"


def test_verify_notices_an_altered_config_version(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    _fill(store, batches=2)
    _record_config(store)
    drop_triggers(raw)
    raw.execute("""UPDATE config_versions SET effective = '{"site":{"name":"B"}}'""")
    result = store.verify()
    assert not result.ok and result.first_bad_batch is None
    assert result.problem == "config version 1: sha256 does not match its content (altered)"


def test_verify_accepts_every_value_shape(store: SQLiteStore) -> None:
    """The canonical form's branches: all reals, reals and NULLs, mixed types, NULs in text."""
    store.append(series("a", 5))
    store.append([Reading.bad("a", at(10), Quality.STALE), Reading.good("a", at(11), 1.0)])
    store.append([Reading.bad("a", at(20), Quality.STALE)])
    store.append([Reading.good("s", at(30), "x\x00y"), Reading.good("s", at(31), 7)])
    store.append([Reading.good("with\x00nul", at(40), 1.0, 3)])
    store.append([Reading.bad("a", at(50), Quality.COMM_ERROR, "d\x00etail")])
    store.append([], [Event(at(60), "k", "s\x00rc", "m", {"a": "\x00"}, "p\x00")])
    result = store.verify()
    assert result.ok, result.problem
    assert result.batches == 7
