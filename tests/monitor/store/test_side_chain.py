"""The side logs' hash chains (monitor/store/side_chain.py): the notification log and the
escalation record chained row by row, an edit or a removal made around the triggers named by
``verify``, an old table without the chain columns upgraded, and ``coldwatch verify``."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from alarms.escalation.state import EscalationRow
from alarms.notify.notification_log import LogRecord
from alarms.records.escalation_record import SQLiteEscalationLog
from alarms.records.notification_log import SQLiteLog
from monitor.app.cli import main
from monitor.store import side_chain
from monitor.store.side_chain import (
    ESCALATION_LOG,
    LOCKOUT_LOG,
    NOTIFICATION_LOG,
    SideLog,
    open_side_log,
)
from monitor.store.side_chain_verify import SideLogCheck, verify_file
from monitor.store.sqlite import SQLiteStore
from tests.support.paths import REPO

ROOT = REPO
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# the notification log's table as coldwatch created it before the chain
OLD_NOTIFICATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS notification_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    key TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'exhausted')),
    possible_duplicate INTEGER NOT NULL,
    outcome_unknown INTEGER NOT NULL,
    final INTEGER NOT NULL,
    retryable INTEGER,
    provider_id TEXT,
    error TEXT,
    notification TEXT
);
CREATE TRIGGER IF NOT EXISTS notification_log_no_update BEFORE UPDATE ON notification_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER IF NOT EXISTS notification_log_no_delete BEFORE DELETE ON notification_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
"""


def page(i: int, status: str = "pending") -> LogRecord:
    return LogRecord(
        key=f"A{i % 7}/raised",
        alarm_id=f"A{i % 7}",
        person_id="alice" if i % 2 else "bob",
        channel="sms",
        attempt=1 + i % 3,
        status=status,  # type: ignore[arg-type]
        at=T0 + timedelta(seconds=i),
        retryable=None if i % 3 else True,
        provider_id=f"SM{i}" if status == "sent" else None,
        error="timed out" if status == "failed" else None,
        notification='{"text":"Freezer 07 warm: -62.0 °C"}' if status == "pending" else None,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store file (the side logs live in it, after the store's own tables)."""
    path = tmp_path / "coldwatch.db"
    SQLiteStore(path).open()
    return path


def write_log(db: Path, count: int) -> None:
    log = SQLiteLog(db)
    try:
        for i in range(count):
            log.append(page(i, ("pending", "sent", "failed")[i % 3]))
    finally:
        log.close()


def check(db: Path, log: SideLog = NOTIFICATION_LOG) -> SideLogCheck:
    found = {c.log.table: c for c in verify_file(db)}
    return found[log.table]


def tamper(db: Path, table: str, sql: str, *args: object) -> None:
    """What someone with the sqlite3 shell can do: drop the trigger, edit, put it back."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            (table,),
        ).fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute(sql, args)
        for _, trigger_sql in triggers:
            conn.execute(trigger_sql)
    finally:
        conn.close()


# --- the chain ---------------------------------------------------------------------------


def test_rows_are_chained_and_verify(db: Path) -> None:
    write_log(db, 10)
    result = check(db)
    assert result.ok and result.rows == 10 and result.earlier == 0
    assert result.line() == "notification log: 10 rows, hash chain intact"
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT seq, prev_hash, hash FROM notification_log ORDER BY seq")
        links = rows.fetchall()
    finally:
        conn.close()
    assert [seq for seq, _, _ in links] == list(range(1, 11))
    assert links[0][1] == "0" * 64
    assert all(links[i][1] == links[i - 1][2] for i in range(1, 10))


def test_the_escalation_record_is_chained_too(db: Path) -> None:
    record = SQLiteEscalationLog(db)
    try:
        for i in range(5):
            record.append(
                EscalationRow(
                    "paged", T0 + timedelta(minutes=i), "h1", "A1007", "k", i == 4, {"step": i}
                )
            )
    finally:
        record.close()
    assert check(db, ESCALATION_LOG).line() == "escalation record: 5 rows, hash chain intact"
    tamper(db, "escalation_log", "UPDATE escalation_log SET data = '{\"step\":9}' WHERE seq = 3")
    result = check(db, ESCALATION_LOG)
    assert not result.ok and result.bad_seq == 3


def test_an_edited_field_is_named_by_its_seq(db: Path) -> None:
    write_log(db, 12)
    tamper(db, "notification_log", "UPDATE notification_log SET status = 'sent' WHERE seq = 7")
    result = check(db)
    assert not result.ok and result.bad_seq == 7
    assert result.line() == ("notification log: FAILED: row 7: hash mismatch (the row was altered)")


def test_a_null_set_where_there_was_a_value_is_an_edit(db: Path) -> None:
    write_log(db, 6)
    tamper(db, "notification_log", "UPDATE notification_log SET provider_id = NULL WHERE seq = 2")
    assert check(db).bad_seq == 2


def test_a_rehashed_row_breaks_the_link_to_the_next(db: Path) -> None:
    write_log(db, 6)
    conn = sqlite3.connect(db)
    row = conn.execute(
        f"SELECT {', '.join(NOTIFICATION_LOG.columns)}, prev_hash FROM notification_log "
        "WHERE seq = 4"
    ).fetchone()
    conn.close()
    values = list(row[:-1])
    values[NOTIFICATION_LOG.columns.index("person_id")] = "mallory"
    forged = side_chain.row_hash(NOTIFICATION_LOG, row[-1], 4, values)
    tamper(
        db,
        "notification_log",
        "UPDATE notification_log SET person_id = 'mallory', hash = ? WHERE seq = 4",
        forged,
    )
    result = check(db)
    assert result.bad_seq == 5 and "prev_hash does not match the hash of row 4" in str(
        result.problem
    )


def test_a_deleted_row_is_a_gap(db: Path) -> None:
    write_log(db, 8)
    tamper(db, "notification_log", "DELETE FROM notification_log WHERE seq = 5")
    result = check(db)
    assert not result.ok and result.bad_seq == 5
    assert result.problem == "row 5 missing (seq gap: row 6 follows row 4)"


def test_rows_removed_from_the_end_are_found_by_the_sequence_counter(db: Path) -> None:
    write_log(db, 8)
    tamper(db, "notification_log", "DELETE FROM notification_log WHERE seq > 5")
    result = check(db)
    assert not result.ok and result.bad_seq == 6
    assert "rows 6..8 missing: removed from the end" in str(result.problem)
    # the next append keeps the gap (it does not reuse the seqs): still reported
    write_log(db, 1)
    result = check(db)
    assert result.bad_seq == 6 and "rows 6..8 missing" in str(result.problem)


def test_a_row_inserted_by_hand_has_no_hash(db: Path) -> None:
    write_log(db, 3)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(
        "INSERT INTO notification_log (at_us, key, alarm_id, person_id, channel, attempt, "
        "status, possible_duplicate, outcome_unknown, final) "
        "VALUES (0, 'A1/raised', 'A1', 'alice', 'sms', 1, 'sent', 0, 0, 0)"
    )
    conn.close()
    result = check(db)
    assert result.bad_seq == 4 and "no hash (written outside the chain)" in str(result.problem)


def test_append_is_one_transaction_and_refuses_values_sqlite_would_change(db: Path) -> None:
    conn = open_side_log(db, OLD_NOTIFICATION_SCHEMA, NOTIFICATION_LOG)
    try:
        good = (0, "k", "A1", "p", "sms", 1, "pending", False, False, False, *[None] * 5)
        bad = (*good[:6], "delivered", *good[7:])  # refused by the CHECK constraint
        with pytest.raises(sqlite3.IntegrityError):
            side_chain.append(conn, NOTIFICATION_LOG, [good, bad])
        assert not conn.in_transaction
        assert conn.execute("SELECT count(*) FROM notification_log").fetchone()[0] == 0
        with pytest.raises(TypeError, match="int, float, str or None"):
            side_chain.append(conn, NOTIFICATION_LOG, [(T0, *good[1:])])
        assert side_chain.append(conn, NOTIFICATION_LOG, [good, good]) == [1, 2]
    finally:
        conn.close()
    assert check(db).ok


# --- tables from before the chain --------------------------------------------------------


def old_log(db: Path, count: int) -> None:
    """A notification log written by coldwatch before the chain."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.executescript(OLD_NOTIFICATION_SCHEMA)
        for i in range(count):
            conn.execute(
                "INSERT INTO notification_log (at_us, key, alarm_id, person_id, channel, "
                "attempt, status, possible_duplicate, outcome_unknown, final, provider_id) "
                "VALUES (?, ?, 'A1', 'alice', 'sms', 1, 'sent', 0, 0, 0, ?)",
                (i, f"A1/raised/{i}", f"SM{i}"),
            )
    finally:
        conn.close()


def test_an_old_table_is_reported_not_chained_without_crashing(db: Path) -> None:
    old_log(db, 4)
    result = check(db)
    assert result.ok and not result.chained
    assert (
        result.line()
        == "notification log: 4 rows, not hash-chained (the table has no hash columns)"
    )


def test_an_old_table_is_upgraded_and_its_rows_sealed(db: Path) -> None:
    old_log(db, 4)
    write_log(db, 3)  # opens the log: ALTER TABLE, anchor; then 3 chained rows
    result = check(db)
    assert result.ok and result.rows == 7 and result.earlier == 4
    assert result.line() == (
        "notification log: 7 rows, hash chain intact "
        "(4 earlier rows precede the chain, sealed by its anchor)"
    )
    log = SQLiteLog(db)  # a second open changes nothing
    try:
        assert [r.seq for r in log.for_alarm("A1")][:4] == [1, 2, 3, 4]
    finally:
        log.close()
    assert check(db).earlier == 4
    # an earlier row is covered from the upgrade on
    tamper(db, "notification_log", "UPDATE notification_log SET person_id = 'bob' WHERE seq = 2")
    result = check(db)
    assert not result.ok and "do not match its anchor" in str(result.problem)


def test_an_old_table_upgraded_by_the_first_append(db: Path) -> None:
    """What adopting the chain takes for a log whose open does not name it (the lockout log
    later): side_chain.append upgrades the table itself."""
    old_log(db, 2)
    conn = open_side_log(db, OLD_NOTIFICATION_SCHEMA)  # no chained table named
    try:
        row = (9, "k", "A1", "p", "sms", 1, "pending", 0, 0, 0, None, None, None, None, None)
        assert side_chain.append(conn, NOTIFICATION_LOG, [row]) == [3]
    finally:
        conn.close()
    result = check(db)
    assert result.ok and result.earlier == 2 and result.rows == 3


def test_an_empty_old_table_needs_no_anchor(db: Path) -> None:
    old_log(db, 0)
    write_log(db, 2)
    result = check(db)
    assert result.ok and result.earlier == 0 and result.rows == 2


def test_a_side_log_not_chained_yet_then_adopting_the_chain(db: Path) -> None:
    """The PIN lockout log (alarms/records/lockout_log.py) is not chained yet: verify counts its
    rows; once its append goes through side_chain.append, the table is upgraded and chained."""
    schema = """
    CREATE TABLE IF NOT EXISTS ack_lockout_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_us INTEGER NOT NULL,
        lock_key TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('failed', 'locked', 'reset', 'unlocked')),
        until_us INTEGER
    );
    """
    conn = open_side_log(db, schema)
    try:
        conn.execute(
            "INSERT INTO ack_lockout_log (at_us, lock_key, action) VALUES (1, '+4470', 'failed')"
        )
        assert check(db, LOCKOUT_LOG).line() == (
            "PIN lockout log: 1 row, not hash-chained (the table has no hash columns)"
        )
        side_chain.append(
            conn, LOCKOUT_LOG, [(2, "+4470", "locked", 900), (3, "+4470", "reset", None)]
        )
    finally:
        conn.close()
    assert check(db, LOCKOUT_LOG).line() == (
        "PIN lockout log: 3 rows, hash chain intact "
        "(1 earlier row precedes the chain, sealed by its anchor)"
    )


# --- coldwatch verify --------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, db: Path) -> Path:
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(db)
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_cli_verify_prints_a_line_per_side_log(
    config: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "-c", str(config)]) == 0
    identity = [  # the store's migrations create the identity logs
        "user versions: 0 rows, hash chain intact",
        "sign-in log: 0 rows, hash chain intact",
        "API token log: 0 rows, hash chain intact",
    ]
    assert capsys.readouterr().out.splitlines() == [
        "ok: 0 batches, 0 readings, 0 events; hash chain intact",
        *identity,
        "audit trail (table audit_log): 0 rows, hash chain intact",
        "electronic signatures (table signatures): 0 rows, hash chain intact",
        "roll-up (derived data): 0 channel-minutes equal the readings",
    ]  # no other side log in the file yet; the audit trail and the signatures come with the
    # store's schema
    write_log(db, 5)
    SQLiteEscalationLog(db).close()
    assert main(["verify", "-c", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ok: 0 batches, 0 readings, 0 events; hash chain intact",
        "notification log: 5 rows, hash chain intact",
        "escalation record: 0 rows, hash chain intact",
        *identity,
        "audit trail (table audit_log): 0 rows, hash chain intact",
        "electronic signatures (table signatures): 0 rows, hash chain intact",
        "roll-up (derived data): 0 channel-minutes equal the readings",
    ]


def test_cli_verify_fails_on_an_edited_side_log(
    config: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_log(db, 5)
    tamper(db, "notification_log", "UPDATE notification_log SET channel = 'voice' WHERE seq = 2")
    assert main(["verify", "-c", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok: 0 batches, 0 readings, 0 events; hash chain intact"
    assert out[1] == "notification log: FAILED: row 2: hash mismatch (the row was altered)"


# --- cost --------------------------------------------------------------------------------


def test_appending_a_thousand_rows(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timing assertion: prints the cost per row (synchronous=FULL, one commit each)."""
    log = SQLiteLog(db)
    try:
        start = time.perf_counter()
        for i in range(1000):
            log.append(page(i))
        elapsed = time.perf_counter() - start
    finally:
        log.close()
    start = time.perf_counter()
    result = check(db)
    checked = time.perf_counter() - start
    assert result.ok and result.rows == 1000
    with capsys.disabled():
        print(
            f"\n1,000 chained notification-log appends: {elapsed:.3f} s "
            f"({elapsed * 1e3 / 1000:.2f} ms per row); verify: {checked * 1000:.1f} ms"
        )
