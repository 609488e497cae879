-- coldwatch store, schema version 3: people who sign in (users), their sign-ins and sessions,
-- and the API tokens of machines.
--
-- Times are INTEGER microseconds since 1970-01-01T00:00:00Z (UTC).
--
-- user_versions, sign_in_log and api_token_log are append-only side logs, hash-chained as
-- monitor/store/side_chain.py describes (format 1: each row's hash covers the table name, the
-- previous row's hash and every column but seq) and checked by `coldwatch verify`.

-- Every change to a user is a new version: a user id is never reused or renamed (version 1
-- is its creation; UNIQUE refuses a second one), a user is disabled, never deleted. Each
-- version is the user's whole state after the change, who made it (changed_by: a user id, or
-- an OS user, per changed_by_kind; os_user: the operating-system account the change came from)
-- and why (reason). verified_by: the admin who verified the
-- person's identity when the user was added (21 CFR 11.100(b)). password_hash is an argon2id
-- encoding (never the password); password_one_time: set by an admin's reset, must be changed
-- at the next sign-in and cannot sign.
CREATE TABLE user_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    change TEXT NOT NULL,
    printed_name TEXT NOT NULL,
    role TEXT NOT NULL,
    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    person_id TEXT,
    password_hash TEXT,
    password_set_us INTEGER,
    password_one_time INTEGER NOT NULL CHECK (password_one_time IN (0, 1)),
    changed_by TEXT NOT NULL,
    changed_by_kind TEXT NOT NULL CHECK (changed_by_kind IN ('user', 'os_user')),
    os_user TEXT,
    verified_by TEXT,
    reason TEXT NOT NULL,
    prev_hash TEXT,
    hash TEXT,
    UNIQUE (user_id, version)
);
CREATE INDEX user_versions_person ON user_versions (person_id);
CREATE TRIGGER user_versions_no_update BEFORE UPDATE ON user_versions
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER user_versions_no_delete BEFORE DELETE ON user_versions
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

-- Sign-ins, failed sign-ins, sign-outs, session ends and lockouts. user_id is what was typed
-- for a failed sign-in (it may name nobody); until_us: the end of a lockout.
CREATE TABLE sign_in_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    source TEXT NOT NULL,
    session_id TEXT,
    until_us INTEGER,
    detail TEXT,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX sign_in_log_user ON sign_in_log (user_id, seq);
CREATE TRIGGER sign_in_log_no_update BEFORE UPDATE ON sign_in_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER sign_in_log_no_delete BEFORE DELETE ON sign_in_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

-- API tokens for machines: created and revoked by an admin; one role each, an expiry, never
-- a signature. token_hash is the SHA-256 of the token (the token itself is shown once).
CREATE TABLE api_token_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    token_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('created', 'revoked')),
    token_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    expires_us INTEGER NOT NULL,
    changed_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX api_token_log_hash ON api_token_log (token_hash);
CREATE TRIGGER api_token_log_no_update BEFORE UPDATE ON api_token_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER api_token_log_no_delete BEFORE DELETE ON api_token_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;

-- Open web sessions: working state, not a record (sign-in and sign-out are in sign_in_log).
-- token_hash is the SHA-256 of the session token, never the token. signed_at_us: when the
-- session's holder first signed with user id and password (a continuous session, 21 CFR
-- 11.200(a)(1)): later signatures in it need the password alone.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    ended_us INTEGER,
    end_reason TEXT,
    signed_at_us INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);
