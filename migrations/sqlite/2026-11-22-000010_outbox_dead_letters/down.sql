DROP INDEX outbox_events_dead;
DROP INDEX outbox_events_pending;
CREATE INDEX outbox_events_pending ON outbox_events (available_at, created_at) WHERE delivered_at IS NULL;
ALTER TABLE outbox_events DROP COLUMN dead_at;
