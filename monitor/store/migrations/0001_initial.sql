-- coldwatch store, schema version 1.
--
-- Released migrations are never edited: schema_migrations keeps the SHA-256 of every script
-- it applied. Later work adds 0002_*.sql, 0003_*.sql, ... (alarms, audit trail) beside this
-- file; the runner in monitor/store/sqlite.py applies the missing ones in order, each in the
-- same transaction as its schema_migrations row.
--
-- Times are INTEGER microseconds since 1970-01-01T00:00:00Z (UTC).
-- schema_migrations itself is created by the runner before this script runs.

-- One row per sample. `value` has no declared type on purpose: SQLite then keeps REAL,
-- INTEGER and TEXT exactly as given (a REAL-affinity column would turn -0.0 into 0 and
-- text digits into numbers). NULL unless the quality is 'good'.
CREATE TABLE readings (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value,
    quality TEXT NOT NULL,
    flags INTEGER NOT NULL,
    detail TEXT,
    batch INTEGER NOT NULL
);
CREATE INDEX readings_channel_ts ON readings (channel, ts);

-- Things that happened. `data` is canonical JSON (sorted keys, no spaces).
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL,
    person TEXT,
    batch INTEGER NOT NULL
);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_source_ts ON events (source, ts);  -- a device's latest up/down event

-- The hash chain: one row per committed append. Reading and event ids of a batch are the
-- contiguous ranges first..last (NULL when the batch has none). `format` names the canonical
-- serialization the hash was computed over (see monitor/store/sqlite.py).
CREATE TABLE batches (
    seq INTEGER PRIMARY KEY,
    format INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,
    first_reading_id INTEGER,
    last_reading_id INTEGER,
    readings INTEGER NOT NULL,
    first_event_id INTEGER,
    last_event_id INTEGER,
    events INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

-- Effective configurations (secrets redacted) in force over time. sha256 is the SHA-256 of
-- the UTF-8 of `effective`, exactly as stored.
CREATE TABLE config_versions (
    id INTEGER PRIMARY KEY,
    loaded_at INTEGER NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    sources TEXT NOT NULL,
    effective TEXT NOT NULL,
    person TEXT
);

-- The retention purge log. Batches first_seq..last_seq were removed; verification of the
-- chain starts after them, from anchor_hash (the hash of batch last_seq) and the id
-- high-water marks. event_id is the retention_purge event that records the purge inside the
-- chain.
CREATE TABLE purges (
    id INTEGER PRIMARY KEY,
    purged_at INTEGER NOT NULL,
    before_ts INTEGER NOT NULL,
    person TEXT NOT NULL,
    reason TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    anchor_hash TEXT NOT NULL,
    readings INTEGER NOT NULL,
    events INTEGER NOT NULL,
    reading_id_hw INTEGER NOT NULL,
    event_id_hw INTEGER NOT NULL,
    event_id INTEGER NOT NULL
);

-- One row; `active` is 1 only inside purge_before's transaction, which sets and clears it,
-- so no other connection ever sees it set.
CREATE TABLE purge_guard (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    active INTEGER NOT NULL CHECK (active IN (0, 1))
);
INSERT INTO purge_guard (id, active) VALUES (1, 0);

-- Append-only. UPDATE is never allowed; DELETE only inside a retention purge.
CREATE TRIGGER readings_no_update BEFORE UPDATE ON readings
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER readings_no_delete BEFORE DELETE ON readings
WHEN (SELECT active FROM purge_guard WHERE id = 1) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
WHEN (SELECT active FROM purge_guard WHERE id = 1) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

CREATE TRIGGER batches_no_update BEFORE UPDATE ON batches
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
WHEN (SELECT active FROM purge_guard WHERE id = 1) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

CREATE TRIGGER config_versions_no_update BEFORE UPDATE ON config_versions
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER config_versions_no_delete BEFORE DELETE ON config_versions
WHEN (SELECT active FROM purge_guard WHERE id = 1) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

-- The purge log and the migration log are never rewritten.
CREATE TRIGGER purges_no_update BEFORE UPDATE ON purges
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER purges_no_delete BEFORE DELETE ON purges
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER schema_migrations_no_update BEFORE UPDATE ON schema_migrations
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER schema_migrations_no_delete BEFORE DELETE ON schema_migrations
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER purge_guard_no_delete BEFORE DELETE ON purge_guard
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
