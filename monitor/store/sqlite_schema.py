"""The store file's connection settings and its schema migrations.

Connection settings
    Every store connection is in autocommit mode (transactions are explicit; a write is one
    :func:`write_transaction`) with the same PRAGMAs: WAL, ``synchronous`` NORMAL or FULL, a
    ``busy_timeout``, a 16 MiB page cache.

Schema migrations
    ``monitor/store/migrations/NNNN_name.sql``, applied in order on :meth:`SQLiteStore.open`, each
    in one transaction with its ``schema_migrations`` row (version, name, applied_at, SHA-256 of
    the script). A store whose schema is newer than this code is refused.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from operator import attrgetter
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote

from monitor.store.base import StoreError

log = logging.getLogger(__name__)

APPLICATION_ID: Final = 0x636F6C64  # "cold", in the SQLite header: marks the file as ours
APPEND_ONLY_MESSAGE: Final = "coldwatch: records are append-only"


def append_only_triggers(table: str) -> str:
    """The SQL of the two triggers that refuse ``UPDATE`` and ``DELETE`` on ``table``."""
    return "".join(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}\n"
        f"BEGIN\n    SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}');\nEND;\n"
        for verb in ("UPDATE", "DELETE")
    )


DEFAULT_BUSY_TIMEOUT: Final = 10.0  # seconds


# --- connection settings ---------------------------------------------------------------------


def apply_pragmas(
    conn: sqlite3.Connection,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> None:
    """The settings of every store connection (``bench/bench_store.py`` uses them too)."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"cannot put the store in WAL mode (journal_mode is {mode!r})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA cache_size = -16384")  # 16 MiB: keeps the (channel, ts) index hot
    conn.execute("PRAGMA foreign_keys = OFF")


def connect(
    path: str | Path,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    *,
    read_only: bool = False,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the store's PRAGMAs.

    ``read_only``: opened ``mode=ro`` and ``query_only``, without changing the journal mode,
    so that a user who may only read the file (its group, ``coldwatch verify``) can open it."""
    target = f"file:{quote(str(Path(path).absolute()))}?mode=ro" if read_only else str(path)
    conn = sqlite3.connect(
        target,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        uri=read_only,
    )
    try:
        if read_only:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("PRAGMA query_only = ON")
        else:
            apply_pragmas(conn, synchronous, busy_timeout)
    except BaseException:
        conn.close()
        raise
    return conn


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:  # the failed statement may have rolled back already
            log.debug("rollback failed", exc_info=True)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (the write lock at once), ``COMMIT`` when the body returns, rolled
    back when it raises, whatever it raises. The connection must be in autocommit mode and not
    in a transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


# --- migrations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    sha256: str


_CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)"""


@cache
def migrations() -> tuple[Migration, ...]:
    """The migration scripts shipped with this code, in version order (1, 2, ... no gaps)."""
    folder = resources.files("monitor.store").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        prefix = name.split("_", 1)[0]
        if not prefix.isdigit():
            raise StoreError(f"migration {name}: the name must start with its version (0001_)")
        raw = entry.read_bytes()
        found.append(
            Migration(int(prefix), name, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())
        )
    found.sort(key=attrgetter("version"))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations must be numbered 1, 2, 3... without gaps: {versions}")
    return tuple(found)


def split_statements(script: str) -> list[str]:
    """The statements of a migration script, each complete (triggers keep their inner ';')."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines(keepends=True):
        buffer.append(line)
        text = "".join(buffer)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            buffer = []
    rest = [ln for ln in buffer if ln.strip() and not ln.strip().startswith("--")]
    if rest:
        raise StoreError(f"migration script ends in an incomplete statement: {''.join(rest)!r}")
    return statements


def _applied_migrations(conn: sqlite3.Connection, newest: int) -> dict[int, str] | None:
    """version -> script SHA-256 of what the store has applied; None for a new, empty file.
    Refuses a file that is not a coldwatch store, or whose schema is newer than this code."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(f"not a coldwatch store (SQLite application_id {app_id:#x})")
    has_log = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not has_log:
        others = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        if others:
            raise StoreError("not a coldwatch store (it has tables but no schema_migrations)")
        return None
    applied: dict[int, str] = dict(
        conn.execute("SELECT version, sha256 FROM schema_migrations").fetchall()
    )
    if applied and max(applied) > newest:
        raise StoreError(
            f"the store's schema is version {max(applied)}, newer than this coldwatch knows "
            f"(up to {newest}); upgrade coldwatch before opening it"
        )
    return applied


def _warn_if_edited(known: Sequence[Migration], applied: dict[int, str]) -> None:
    for migration in known:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.sha256:
            log.warning(
                "migration %s was applied from a script with SHA-256 %s; the shipped script's "
                "is %s (released migrations must not be edited)",
                migration.name,
                recorded,
                migration.sha256,
            )


def migrate(conn: sqlite3.Connection, now_us: int) -> int:
    """Bring the schema up to date; return its version. Refuse stores newer than this code.

    An up-to-date store is only read (no write lock: ``coldwatch verify`` beside a running
    daemon, or a read-only copy, opens at once); otherwise the missing migrations are applied
    in order, each with its ``schema_migrations`` row, all in one transaction."""
    known = migrations()
    newest = known[-1].version
    applied = _applied_migrations(conn, newest)
    if applied is not None and all(m.version in applied for m in known):
        _warn_if_edited(known, applied)
        return newest
    with write_transaction(conn):
        applied = _applied_migrations(conn, newest)  # again: another process may have migrated
        if applied is None:
            conn.execute(_CREATE_MIGRATIONS_TABLE)
            applied = {}
        _warn_if_edited(known, applied)
        for migration in known:
            if migration.version in applied:
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at, sha256) "
                "VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, now_us, migration.sha256),
            )
            log.info("store schema migrated to version %d (%s)", migration.version, migration.name)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {newest}")
    return newest
