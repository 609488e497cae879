"""Fixtures of the store tests: a real SQLite file in tmp_path, and a raw connection to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store.sqlite import SQLiteStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "coldwatch.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    s.open()
    yield s
    s.close()


@pytest.fixture
def raw(db_path: Path, store: SQLiteStore) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to the store's file: what a tamperer (or a DBA) would use."""
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    yield conn
    conn.close()
