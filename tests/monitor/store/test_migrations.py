"""Schema migrations: versioned from the first release, in order, in a transaction."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import pytest

from monitor.store import sqlite_schema
from monitor.store.base import StoreError
from monitor.store.sqlite import SQLiteStore
from monitor.store.sqlite_schema import APPLICATION_ID, Migration, split_statements
from tests.support.store_data import series

MIGRATIONS = Path(sqlite_schema.__file__).parent / "migrations"


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_migration_log_records_the_initial_schema(store: SQLiteStore, db_path: Path) -> None:
    script = (MIGRATIONS / "0001_initial.sql").read_bytes()
    rows = _rows(db_path, "SELECT version, name, applied_at, sha256 FROM schema_migrations")
    newest = len(sqlite_schema.migrations())
    assert len(rows) == newest
    version, name, applied_at, sha = rows[0]
    assert (version, name) == (1, "0001_initial.sql")
    assert sha == hashlib.sha256(script).hexdigest()
    assert isinstance(applied_at, int) and applied_at > 0
    assert _rows(db_path, "PRAGMA user_version") == [(newest,)]
    assert _rows(db_path, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert _rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert store.schema_version == newest
    tables = {r[0] for r in _rows(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"readings", "events", "batches", "config_versions", "purges", "purge_guard"} <= tables


def test_reopening_applies_nothing_twice(db_path: Path) -> None:
    for _ in range(3):
        with SQLiteStore(db_path) as store:
            store.append(series("a", 1))
    assert _rows(db_path, "SELECT count(*) FROM schema_migrations") == [
        (len(sqlite_schema.migrations()),)
    ]


def test_a_store_from_the_future_is_refused(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        store.append(series("a", 2))
    future = len(sqlite_schema.migrations()) + 1
    conn = sqlite3.connect(str(db_path))
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at, sha256) "
        f"VALUES ({future}, '{future:04d}_future.sql', 0, 'x')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this coldwatch"):
        SQLiteStore(db_path).open()


def test_a_foreign_database_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(str(db_path))
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a coldwatch store"):
        SQLiteStore(db_path).open()
    assert _rows(db_path, "SELECT name FROM sqlite_master") == [("customers",)]


def test_later_migrations_apply_in_order_on_an_existing_store(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SQLiteStore(db_path) as store:
        store.append(series("a", 3))
    shipped = sqlite_schema.migrations()
    n = len(shipped)
    later = (
        Migration(n + 1, "later.sql", "CREATE TABLE later (id INTEGER PRIMARY KEY);", "s2"),
        Migration(n + 2, "later2.sql", "ALTER TABLE later ADD COLUMN note TEXT;", "s3"),
    )
    monkeypatch.setattr(sqlite_schema, "migrations", lambda: (*shipped, *later))
    with SQLiteStore(db_path) as store:
        assert store.schema_version == n + 2
        assert len(store.readings("a")) == 3
        assert store.verify().ok
    assert _rows(db_path, "SELECT version, sha256 FROM schema_migrations ORDER BY version")[n:] == [
        (n + 1, "s2"),
        (n + 2, "s3"),
    ]
    assert [r[1] for r in _rows(db_path, "PRAGMA table_info(later)")] == ["id", "note"]
    assert _rows(db_path, "PRAGMA user_version") == [(n + 2,)]


def test_a_failing_migration_leaves_nothing_behind(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SQLiteStore(db_path):
        pass
    shipped = sqlite_schema.migrations()
    broken = Migration(
        len(shipped) + 1,
        "broken.sql",
        "CREATE TABLE half (id INTEGER);\nCREATE TABLE oops (;\n",
        "s",
    )
    monkeypatch.setattr(sqlite_schema, "migrations", lambda: (*shipped, broken))
    with pytest.raises(StoreError):
        SQLiteStore(db_path).open()
    tables = {r[0] for r in _rows(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half" not in tables
    assert _rows(db_path, "SELECT max(version) FROM schema_migrations") == [(len(shipped),)]


def test_an_edited_released_migration_is_reported(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with SQLiteStore(db_path):
        pass
    first, *rest = sqlite_schema.migrations()
    edited = Migration(1, first.name, first.sql + "\n-- edited\n", "different")
    monkeypatch.setattr(sqlite_schema, "migrations", lambda: (edited, *rest))
    with caplog.at_level(logging.WARNING), SQLiteStore(db_path):
        pass
    assert "must not be edited" in caplog.text


def test_split_statements_keeps_triggers_whole() -> None:
    script = """
-- a comment; with a semicolon
CREATE TABLE t (a INTEGER);
CREATE TRIGGER t_no_update BEFORE UPDATE ON t
BEGIN
    SELECT RAISE(ABORT, 'no; never');
END;
INSERT INTO t VALUES (1);
-- trailing comment
"""
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(StoreError, match="incomplete"):
        split_statements("CREATE TABLE t (a INTEGER)")


def test_shipped_migrations_are_numbered_without_gaps() -> None:
    shipped = sqlite_schema.migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert all(m.name.endswith(".sql") for m in shipped)
