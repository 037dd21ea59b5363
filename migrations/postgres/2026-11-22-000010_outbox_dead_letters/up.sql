-- Dead letters: an event whose delivery failed `max_attempts` times is kept, with its last error,
-- but no longer claimed nor counted as pending. `dead_at` says when the worker gave up.
ALTER TABLE outbox_events ADD COLUMN dead_at TIMESTAMP;
-- The claim query looks only at live, undelivered events.
DROP INDEX outbox_events_pending;
CREATE INDEX outbox_events_pending ON outbox_events (available_at, created_at) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_events_dead ON outbox_events (dead_at) WHERE dead_at IS NOT NULL;
