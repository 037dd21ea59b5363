-- The same table as PostgreSQL's (see there). SQLite's writers are serialised by BEGIN
-- IMMEDIATE, so its appends chain their row at once and leave nothing here; the table keeps
-- the schema alike and lets the chaining code drain it on both backends.
CREATE TABLE audit_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    patient_id TEXT,
    target_kind TEXT,
    target_id TEXT,
    detail TEXT NOT NULL,
    ip TEXT
);
