-- The audit chain back into the records' file (the reverse of up.sql, as safe to run again).
-- Rows still pending are chained by the next write, as before.
CREATE TABLE IF NOT EXISTS main.audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    patient_id TEXT,
    target_kind TEXT,
    target_id TEXT,
    detail TEXT NOT NULL,
    ip TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS main.audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit.audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    patient_id TEXT,
    target_kind TEXT,
    target_id TEXT,
    detail TEXT NOT NULL,
    ip TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit.audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    drained_to INTEGER NOT NULL DEFAULT 0
);
INSERT INTO main.audit_log
    SELECT seq, at, actor_kind, actor_id, actor_name, action, patient_id, target_kind, target_id, detail, ip,
           prev_hash, hash
    FROM audit.audit_log WHERE seq > (SELECT coalesce(max(seq), 0) FROM main.audit_log) ORDER BY seq;
INSERT OR IGNORE INTO main.audit_head (id, seq, hash) SELECT id, seq, hash FROM audit.audit_head;
INSERT OR IGNORE INTO main.audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
-- Pending rows already chained would be chained again.
DELETE FROM main.audit_pending WHERE id <= (SELECT coalesce(max(drained_to), 0) FROM audit.audit_head);
CREATE INDEX IF NOT EXISTS main.audit_log_by_patient ON audit_log (patient_id, seq);
CREATE INDEX IF NOT EXISTS main.audit_log_by_actor ON audit_log (actor_id, seq);
CREATE INDEX IF NOT EXISTS main.audit_log_by_action ON audit_log (action, seq);
CREATE INDEX IF NOT EXISTS main.audit_log_by_at ON audit_log (at);
CREATE TRIGGER IF NOT EXISTS main.audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS main.audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
DROP TABLE audit.audit_log;
DROP TABLE audit.audit_head;
