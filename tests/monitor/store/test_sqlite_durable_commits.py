"""The run markers' commits are fsynced whatever the store's ``synchronous`` setting.

With ``synchronous=NORMAL`` a WAL commit is not fsynced: a power loss can take it back. The
daemon's ``daemon_started`` goes through :meth:`SQLiteStore.append_durable` (one commit with
``synchronous=FULL``) and its stop through :meth:`SQLiteStore.durable_from_now`; the statements
the writer connection runs (its trace) show the setting each commit was made with.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.core.model import Event, EventKind, Reading
from monitor.store.base import StoreError
from monitor.store.sqlite import SQLiteStore
from tests.support.sql_trace import Traced
from tests.support.store_data import at


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "cw.db")
    opened.open()
    yield opened
    opened.close()


def marker(kind: str, second: float) -> Event:
    return Event(at(second), kind, "daemon", kind)


def test_a_durable_append_is_one_full_commit_and_the_others_stay_normal(
    store: SQLiteStore,
) -> None:
    traced = Traced(store)
    store.append([Reading.good("fr.a", at(0), -80.0)])
    store.append_durable([], [marker(EventKind.DAEMON_STARTED, 1)])
    store.append([Reading.good("fr.a", at(2), -80.0)], [marker("note", 2)])
    assert traced.statements[traced.statements.index("PRAGMA synchronous = FULL") :][:2] == [
        "PRAGMA synchronous = FULL",
        "BEGIN IMMEDIATE",
    ]
    assert traced.commits() == [
        ("NORMAL", []),
        ("FULL", [EventKind.DAEMON_STARTED]),
        ("NORMAL", ["note"]),
    ]
    assert traced.level() == "NORMAL"
    assert [e.kind for e in store.events()] == [EventKind.DAEMON_STARTED, "note"]


def test_a_store_already_full_has_nothing_to_switch(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "cw.db", synchronous="FULL") as store:
        traced = Traced(store)
        store.append_durable([], [marker(EventKind.DAEMON_STARTED, 1)])
        assert not any(s.startswith("PRAGMA synchronous") for s in traced.statements)
        assert traced.level() == "FULL"


def test_durable_from_now_lasts_until_the_store_is_closed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "cw.db")
    store.open()
    traced = Traced(store)
    store.durable_from_now()
    store.append([Reading.good("fr.a", at(0), -80.0)])
    store.append_durable([], [marker("note", 1)])  # does not set it back to NORMAL
    store.append([], [marker(EventKind.DAEMON_STOPPED, 2)])
    assert traced.commits() == [
        ("FULL", []),
        ("FULL", ["note"]),
        ("FULL", [EventKind.DAEMON_STOPPED]),
    ]
    store.close()
    store.open()  # the next run's connection: the configured setting again
    try:
        assert Traced(store).level() == "NORMAL"
    finally:
        store.close()


def test_a_durable_append_that_fails_writes_nothing_and_says_so(store: SQLiteStore) -> None:
    assert store._writer is not None
    store._writer.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON events "
        "BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
    )
    with pytest.raises(StoreError, match="append failed, nothing of the batch was written"):
        store.append_durable([], [marker(EventKind.DAEMON_STARTED, 1)])
    assert store.events() == []
    assert Traced(store).level() == "NORMAL"
    store.close()
    with pytest.raises(StoreError, match="is not open"):
        store.append_durable([], [marker(EventKind.DAEMON_STARTED, 1)])
