-- The events outbox: side effects (e-mails, toasts, notification deliveries) recorded in the same
-- transaction as the change that causes them, delivered at least once by a worker.
CREATE TABLE outbox_events (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    available_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_until TIMESTAMP,
    delivered_at TIMESTAMP
);
CREATE INDEX outbox_events_pending ON outbox_events (available_at, created_at) WHERE delivered_at IS NULL;
