-- coldwatch store, schema version 7: the per-minute roll-up of readings (derived data).
--
-- NOT a record: the raw readings are the record and stay in the hash chain; these rows are
-- re-derived from them at will (`coldwatch rollup rebuild`), checked against them by
-- `coldwatch verify` (a mismatch is derived-data drift, not a broken chain) and kept up to date
-- in the same transaction as each batch of readings (monitor/store/sqlite_rollup.py). They
-- exist so that a chart of 30 days of 1 Hz readings reads 43,200 rows a channel, not 2.6 M.
--
-- One row per channel and UTC minute that has at least one reading. `minute` is the start of
-- the minute in microseconds since 1970-01-01T00:00:00Z. n, min, max, sum: over the readings
-- of quality 'good' with a numeric value (mean = sum / n; min/max/sum NULL when n = 0).
-- bad: the other readings of that minute (a failed sample, a bad quality, a text value): the
-- chart draws a minute with bad readings as a gap, never as if it were fine.
CREATE TABLE rollup_minutes (
    channel TEXT NOT NULL,
    minute INTEGER NOT NULL,
    n INTEGER NOT NULL,
    min REAL,
    max REAL,
    sum REAL,
    bad INTEGER NOT NULL,
    PRIMARY KEY (channel, minute)
) WITHOUT ROWID;

-- One row: the highest reading id the roll-up includes. Below the readings' highest id, the
-- roll-up is behind (a store migrated to this version, or an interrupted rebuild): opening
-- the store completes it from there.
CREATE TABLE rollup_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through_reading_id INTEGER NOT NULL
);
INSERT INTO rollup_state (id, through_reading_id) VALUES (1, 0);
