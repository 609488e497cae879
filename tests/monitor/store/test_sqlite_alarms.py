"""The alarm history in the store: append-only, hash-chained, verified with the rest."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store.base import AlarmRecord
from monitor.store.sqlite import SQLiteStore
from tests.support.alarm_engine import at


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "cw.db") as s:
        yield s


def rows(n: int) -> list[AlarmRecord]:
    return [
        AlarmRecord(
            at(i),
            at(i),
            "fr.temp/warm",
            "raised" if i % 2 == 0 else "acknowledged",
            "UNACK" if i % 2 == 0 else "ACKED",
            code="A1007",
            person=None if i % 2 == 0 else "ana",
            via=None if i % 2 == 0 else "sms",
            comment=None if i % 2 == 0 else f"seen {i}, geprüft",
            data={"alarm": {"value": -64.5 + i, "unit": "C"}},
        )
        for i in range(n)
    ]


def test_records_round_trip_and_the_latest_per_key(store: SQLiteStore) -> None:
    written = store.append_alarm_records(rows(3), {"fr.temp/warm": {"pending": {"high": None}}})
    assert [r.seq for r in written] == [1, 2, 3]
    back = store.alarm_records()
    assert back == written
    assert store.alarm_latest()["fr.temp/warm"].seq == 3
    assert store.alarm_timers() == {"fr.temp/warm": {"pending": {"high": None}}}
    store.append_alarm_records([], {"fr.temp/warm": None})
    assert store.alarm_timers() == {}
    assert [r.seq for r in store.alarm_records(after_seq=1, code="A1007", limit=1)] == [2]
    assert store.verify().ok and store.verify().alarm_records == 3


def test_the_history_is_append_only(store: SQLiteStore, tmp_path: Path) -> None:
    store.append_alarm_records(rows(2))
    conn = sqlite3.connect(str(tmp_path / "cw.db"), isolation_level=None)
    try:
        for sql in (
            "UPDATE alarm_history SET person = 'mallory' WHERE seq = 2",
            "DELETE FROM alarm_history WHERE seq = 2",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("UPDATE alarm_history SET comment = 'not seen' WHERE seq = 2", "row 2: hash mismatch"),
        ("DELETE FROM alarm_history WHERE seq = 2", "row 2 missing"),
        ("UPDATE alarm_history SET late = 1 WHERE seq = 3", "row 3: hash mismatch"),
    ],
)
def test_verify_names_the_altered_row(
    store: SQLiteStore, tmp_path: Path, edit: str, problem: str
) -> None:
    store.append_alarm_records(rows(4))
    conn = sqlite3.connect(str(tmp_path / "cw.db"), isolation_level=None)
    try:
        for name in ("alarm_history_no_update", "alarm_history_no_delete"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute(edit)
    finally:
        conn.close()
    result = store.verify()
    assert not result.ok and problem in (result.problem or "")
