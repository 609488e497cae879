-- coldwatch store, schema version 4: the audit trail.
--
-- Who did what, when, why, to what, and what it changed: every alarm command from any path
-- (cli, sms, voice, web, http), every configuration load (with a diff against the previous
-- version), every planned stop and restart. Times are INTEGER microseconds since
-- 1970-01-01T00:00:00Z (UTC).
--
-- who      person (the coldwatch person id), user_id (a web user), os_user (the OS account
--          the control socket's peer credentials named), method (cli, sms, voice, web, http,
--          system)
-- what     action (alarm.acknowledged, config.loaded, daemon.stop_requested ...), subject
--          (alarm code or key, configuration version, user id...), equipment (when one is
--          concerned)
-- when     at_us; clock_sync: 1 when the kernel said NTP keeps the clock synchronised, 0 when
--          it said it does not, NULL when unknown
-- why      reason (the comment or reason given; NULL when none was)
-- values   old_value, new_value, detail: canonical JSON; secrets are redacted before they
--          are written (a configuration diff shows only the redaction)
--
-- The rows form a hash chain (the side-log chain, format 1, monitor/store/side_chain.py):
-- hash = SHA-256("coldwatch-side-v1\n" || "audit_log" || "\n" || prev_hash || canonical JSON
-- of {"seq": seq, column: value...}) over every column but seq, prev_hash and hash, a NULL
-- column left out; seq runs 1, 2, 3... without gaps. `coldwatch verify` recomputes it.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    action TEXT NOT NULL,
    method TEXT NOT NULL,
    person TEXT,
    user_id TEXT,
    os_user TEXT,
    subject TEXT,
    equipment TEXT,
    reason TEXT,
    old_value TEXT,
    new_value TEXT,
    detail TEXT,
    clock_sync INTEGER CHECK (clock_sync IN (0, 1)),
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_us);
CREATE INDEX audit_log_person ON audit_log (person, at_us);
CREATE INDEX audit_log_equipment ON audit_log (equipment, at_us);
CREATE INDEX audit_log_action ON audit_log (action, at_us);

-- The audit trail is never rewritten and never purged.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
