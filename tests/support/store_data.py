"""Readings for the store tests (the fixtures, a real SQLite file in tmp_path and a raw connection
to it, are in the store tests' conftest.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from monitor.core.model import Quality, Reading

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def series(channel: str, count: int, start: float = 0.0, step: float = 1.0) -> list[Reading]:
    """Good readings of one channel, ``step`` seconds apart, values 0.1, 1.1, 2.1..."""
    return [Reading.good(channel, at(start + i * step), i + 0.1) for i in range(count)]


def mixed(count: int, start: float = 0.0) -> list[Reading]:
    """Readings of three channels: floats, a string channel and a failed sample now and then."""
    out: list[Reading] = []
    for i in range(count):
        ts = at(start + i)
        if i % 7 == 3:
            out.append(Reading.bad("ult-1.temp", ts, Quality.COMM_ERROR, f"timeout {i}"))
        elif i % 3 == 0:
            out.append(Reading.good("ult-1.temp", ts, -80.0 + i / 1000))
        elif i % 3 == 1:
            out.append(Reading.good("ult-1.status", ts, f"code-{i}"))
        else:
            out.append(Reading.good("dewar-2.level", ts, 400.0 - i, flags=i % 4))
    return out


def drop_triggers(conn: sqlite3.Connection) -> None:
    """Remove the append-only triggers, as someone bent on editing records would."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in names:
        conn.execute(f"DROP TRIGGER {name}")
