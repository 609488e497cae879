"""Verifying the store's file: every check of :meth:`SQLiteStore.verify
<monitor.store.sqlite.SQLiteStore.verify>` over one consistent snapshot.

The batch chain from its anchor (:mod:`monitor.store.chain`), every reading and event covered by
a batch, the event of the last retention purge, the configuration versions, and the alarm
history's own chain (:mod:`monitor.store.sqlite_alarms`), and that every electronic signature
is bound to the record it names and that record to it (:mod:`monitor.store.sqlite_signatures`).
Last, the per-minute roll-up against the readings (:mod:`monitor.store.sqlite_rollup`): derived
data, so a difference is reported as drift beside an intact chain, never as a broken one.
"""

from __future__ import annotations

import sqlite3

from monitor.store import sqlite_alarms, sqlite_rollup, sqlite_signatures
from monitor.store.base import VerifyResult
from monitor.store.chain import (
    ChainProblem,
    check_configs,
    check_coverage,
    check_purge_event,
    find_anchor,
    walk,
)


def verify_snapshot(conn: sqlite3.Connection) -> VerifyResult:
    """Check the file ``conn`` reads (a connection of its own, not in a transaction) in one
    read transaction; the first problem found is the result's. An unreadable file raises
    :class:`sqlite3.Error`."""
    batches = readings = events = 0
    conn.execute("PRAGMA query_only = ON")
    conn.execute("BEGIN")  # one read transaction: a consistent snapshot
    try:
        anchor, purges = find_anchor(conn)
        reading_hw, event_hw, next_seq = anchor.reading_hw, anchor.event_hw, anchor.next_seq
        for walked in walk(conn, anchor):
            batches += 1
            readings += walked.readings
            events += walked.events
            reading_hw, event_hw, next_seq = (
                walked.reading_hw,
                walked.event_hw,
                walked.seq + 1,
            )
        check_coverage(conn, "readings", anchor.reading_hw, reading_hw, next_seq)
        check_coverage(conn, "events", anchor.event_hw, event_hw, next_seq)
        if purges:
            check_purge_event(conn, purges[-1])
        check_configs(conn)
        alarm_records = sqlite_alarms.check_chain(conn)
        signatures = sqlite_signatures.check_bindings(conn)
        rollup = sqlite_rollup.check(conn)
    except ChainProblem as problem:
        return VerifyResult(False, batches, readings, events, problem.seq, problem.message)
    finally:
        conn.execute("COMMIT")
    return VerifyResult(
        True,
        batches,
        readings,
        events,
        alarm_records=alarm_records,
        signatures=signatures,
        rollup_minutes=rollup.minutes,
        rollup_drift=rollup.drift,
    )
