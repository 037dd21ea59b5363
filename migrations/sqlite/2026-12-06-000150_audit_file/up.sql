-- The audit chain moves to a file of its own, `<database>-audit.<ext>`, which every connection
-- attaches as `audit` (crates/portal-store/src/db.rs, `sqlite_audit_file`): a commit to a SQLite
-- file empties every other connection's page cache for that file, and audited reads commit
-- their rows hundreds of times a second under load. The records' file now changes only when
-- records do. Writes keep their audit rows in `audit_pending` (in the records' file, committed
-- with the change) until the group commit chains them, as on PostgreSQL; `drained_to` is the
-- last pending row already chained, so that chaining writes only the audit file (see
-- crates/portal-store/src/audit.rs).
--
-- Safe to run again after a crash at any point (see metadata.toml): the empty `main.` tables
-- created below stand in for ones already dropped, and the copies skip what is already there.
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
INSERT INTO audit.audit_log
    SELECT seq, at, actor_kind, actor_id, actor_name, action, patient_id, target_kind, target_id, detail, ip,
           prev_hash, hash
    FROM main.audit_log WHERE seq > (SELECT coalesce(max(seq), 0) FROM audit.audit_log) ORDER BY seq;
INSERT OR IGNORE INTO audit.audit_head (id, seq, hash, drained_to)
    SELECT id, seq, hash, 0 FROM main.audit_head;
-- A new database (or one whose head was lost) starts the chain.
INSERT OR IGNORE INTO audit.audit_head (id, seq, hash, drained_to)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
CREATE INDEX IF NOT EXISTS audit.audit_log_by_patient ON audit_log (patient_id, seq);
CREATE INDEX IF NOT EXISTS audit.audit_log_by_actor ON audit_log (actor_id, seq);
CREATE INDEX IF NOT EXISTS audit.audit_log_by_action ON audit_log (action, seq);
CREATE INDEX IF NOT EXISTS audit.audit_log_by_at ON audit_log (at);
CREATE TRIGGER IF NOT EXISTS audit.audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit.audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
DROP TABLE main.audit_log;
DROP TABLE main.audit_head;
