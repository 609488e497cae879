"""The escalation record's SQLite table (the SQLite part of alarms/escalation/state.py):
append-only."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alarms.escalation.state import EscalationRow
from alarms.records.escalation_record import SQLiteEscalationLog


def test_the_sqlite_record_is_append_only(tmp_path: Path) -> None:
    record = SQLiteEscalationLog(tmp_path / "cw.db")
    try:
        record.append(EscalationRow("opened", datetime.now(UTC), "h1", "A1007", "k", False, {}))
        conn = sqlite3.connect(tmp_path / "cw.db")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE escalation_log SET action = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM escalation_log")
        conn.close()
    finally:
        record.close()
