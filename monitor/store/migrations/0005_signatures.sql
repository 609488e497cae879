-- coldwatch store, schema version 5: electronic signatures (21 CFR Part 11).
--
-- One row per signature applied to a record. The signed record is named by its table
-- (record_table: 'alarm_history'), its sequence number (record_seq) and its hash in that
-- table's chain when it was signed (record_hash): `coldwatch verify` checks that the record
-- still has that hash and that the record itself carries this signature (its
-- data.signature), so a signature copied onto another record, or a record altered after
-- signing, is found (11.70). The record and its signature are written in one transaction.
--
-- signed_us: when it was signed, from the server clock (UTC microseconds); clock_sync: 1 when
-- the kernel said NTP kept the clock synchronised, 0 when it said not, NULL when unknown.
-- recorded_us: when the row was written (later than signed_us when the disk refused the
-- record and it was kept in the fallback journal meanwhile).
-- user_id: the signer; printed_name: the signer's name frozen at signing (11.50).
-- meaning: one of the closed list configured for the action (web.signatures.meanings);
-- comment: what the signer wrote; action: acknowledge, shelve, out_of_service,
-- return_to_service, reset (report_approval later).
-- credentials: user_id_and_password (the first signing of a continuous session) or password
-- (a later one in the same session, session_id), 11.200(a)(1).
--
-- The rows form a hash chain (the side-log chain, format 1, monitor/store/side_chain.py)
-- over every column but seq, prev_hash and hash; `coldwatch verify` recomputes it.
CREATE TABLE signatures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    signed_us INTEGER NOT NULL,
    recorded_us INTEGER NOT NULL,
    record_table TEXT NOT NULL,
    record_seq INTEGER NOT NULL,
    record_hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    printed_name TEXT NOT NULL,
    meaning TEXT NOT NULL,
    comment TEXT NOT NULL,
    action TEXT NOT NULL,
    credentials TEXT NOT NULL CHECK (credentials IN ('user_id_and_password', 'password')),
    session_id TEXT,
    clock_sync INTEGER CHECK (clock_sync IN (0, 1)),
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX signatures_record ON signatures (record_table, record_seq);
CREATE INDEX signatures_user ON signatures (user_id, signed_us);

-- Signatures are never rewritten and never purged.
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN
    SELECT RAISE(ABORT, 'coldwatch: records are append-only');
END;
