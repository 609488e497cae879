"""The escalation record in SQLite: :class:`SQLiteEscalationLog`, the store adapter of
:class:`alarms.escalation.state.EscalationLog`.

The rows live in their own table, ``escalation_log``, in the store's file (append-only,
enforced by triggers, and hash-chained row by row like ``notification_log``:
:mod:`monitor.store.side_chain`, checked by ``coldwatch verify``). The table is also the record
of which tier was reached and when, for excursion reports.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from alarms.escalation.state import EscalationRow
from monitor.store import side_chain
from monitor.store.canonical import from_us, to_us
from monitor.store.side_chain import ESCALATION_LOG, open_side_log
from monitor.store.sqlite_schema import append_only_triggers

SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS escalation_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    action TEXT NOT NULL,
    track TEXT,
    code TEXT,
    alarm_key TEXT,
    closed INTEGER NOT NULL,
    event_id TEXT,
    ann_seq INTEGER,
    data TEXT NOT NULL,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX IF NOT EXISTS escalation_log_track ON escalation_log (track, seq);
CREATE INDEX IF NOT EXISTS escalation_log_code ON escalation_log (code, seq);
CREATE INDEX IF NOT EXISTS escalation_log_ann ON escalation_log (ann_seq);
CREATE INDEX IF NOT EXISTS escalation_log_action ON escalation_log (action, at_us);
{append_only_triggers("escalation_log")}
"""

_COLUMNS: Final = ", ".join(("seq", *ESCALATION_LOG.columns))


class SQLiteEscalationLog:
    """An :class:`~alarms.escalation.state.EscalationLog` in ``path`` (``None``: in memory).
    ``synchronous=FULL``: the step is on disk before its page leaves. Sharing the store's file:
    open the store first."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._conn = open_side_log(path, SCHEMA, ESCALATION_LOG)
        self._lock = threading.Lock()

    def append(self, row: EscalationRow) -> EscalationRow:
        values = (
            to_us(row.at),
            row.action,
            row.track,
            row.code,
            row.alarm_key,
            int(row.closed),
            row.event_id,
            row.ann_seq,
            json.dumps(row.data, separators=(",", ":"), sort_keys=True),
        )
        with self._lock:
            (seq,) = side_chain.append(self._conn, ESCALATION_LOG, (values,))
        return replace(row, seq=seq)

    def open_tracks(self) -> list[EscalationRow]:
        return self._select(
            "seq IN (SELECT MAX(seq) FROM escalation_log WHERE track IS NOT NULL GROUP BY track)"
            " AND closed = 0",
            (),
        )

    def last_announcement_seq(self) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT MAX(ann_seq) FROM escalation_log").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def bundles(self, since: datetime) -> list[EscalationRow]:
        return self._select("action = 'bundled' AND at_us >= ?", (to_us(since),))

    def for_code(self, code: str) -> list[EscalationRow]:
        return self._select("code = ?", (code,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _select(self, where: str, args: tuple[Any, ...]) -> list[EscalationRow]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM escalation_log WHERE {where} ORDER BY seq", args
            ).fetchall()
        return [_row(values) for values in rows]


def _row(values: tuple[Any, ...]) -> EscalationRow:
    seq, at_us, action, track, code, alarm_key, closed, event_id, ann_seq, data = values
    return EscalationRow(
        action=action,
        at=from_us(at_us),
        track=track,
        code=code,
        alarm_key=alarm_key,
        closed=bool(closed),
        data=json.loads(data),
        event_id=event_id,
        ann_seq=ann_seq,
        seq=seq,
    )
