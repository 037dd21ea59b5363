-- The organisation's row exists from the start, so that reading it never writes (SQLite's
-- readers are query_only; both backends list the same migrations). Until now the first read
-- inserted it; a database where that already happened keeps its row.
INSERT INTO organization (id, name, brand_by_location, use_portal, updated_at)
VALUES (1, 'My Clinic', FALSE, FALSE, date_trunc('microseconds', now() AT TIME ZONE 'UTC'))
ON CONFLICT (id) DO NOTHING;
