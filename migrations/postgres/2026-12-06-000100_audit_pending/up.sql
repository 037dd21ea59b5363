-- Audit rows of write transactions, waiting to be chained. A write appends its row here inside
-- its own transaction (no lock shared with other writers), and right after its commit the row
-- is moved into `audit_log` with its sequence number and hash by one short transaction that
-- holds the chain's head for many rows at once. Holding the head from the append through each
-- writer's commit (its WAL flush) allowed one audited write per flush: about 500 a second.
-- `id` orders the rows into the chain; whatever a crash leaves here is chained by the next
-- append (the server chains it when it starts).
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
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
