-- coldwatch store, schema version 2: the alarm history and the alarm engine's checkpoint.
--
-- Times are INTEGER microseconds since 1970-01-01T00:00:00Z (UTC).

-- Every alarm state change, acknowledgement, shelve, reset, suppression, late finding and
-- configuration load, with who (person), how (via: sms, voice, web, cli) and why (comment).
-- `at` is when it happened (a reading's time, for late data long before `recorded_at`);
-- `state` is the alarm's displayed state after it, `previous` before it; `announce` names
-- what the escalation layer was told (NULL: recorded only). `data` is canonical JSON: the
-- alarm's full view after the change, plus details; the engine restarts from the newest row
-- of each key.
--
-- The rows form their own hash chain: hash = SHA-256("coldwatch-alarm-v1\n" || prev_hash ||
-- canonical JSON of [seq, recorded_at, at, key, code, action, state, previous, announce,
-- late, person, via, comment, data]); seq runs 1, 2, 3... without gaps; prev_hash of row 1 is
-- 64 zeros. `coldwatch verify` recomputes it (monitor/store/sqlite_alarms.py).
CREATE TABLE alarm_history (
    seq INTEGER PRIMARY KEY,
    recorded_at INTEGER NOT NULL,
    at INTEGER NOT NULL,
    key TEXT NOT NULL,
    code TEXT,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    previous TEXT,
    announce TEXT,
    late INTEGER NOT NULL CHECK (late IN (0, 1)),
    person TEXT,
    via TEXT,
    comment TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX alarm_history_key ON alarm_history (key, seq);
CREATE INDEX alarm_history_code ON alarm_history (code, seq);
CREATE INDEX alarm_history_recorded ON alarm_history (recorded_at);

-- The history is never rewritten and never purged.
CREATE TRIGGER alarm_history_no_update BEFORE UPDATE ON alarm_history
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER alarm_history_no_delete BEFORE DELETE ON alarm_history
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

-- The alarm engine's working checkpoint, not a record: per alarm key, the timers of its
-- condition that a restart needs (on-delay starts and the like), as JSON. Replaced in the
-- same transaction as the history rows written with it; whatever decides an alarm's state
-- (active, acknowledged, shelved until...) is in alarm_history, never only here.
CREATE TABLE alarm_timers (
    key TEXT PRIMARY KEY,
    updated_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
