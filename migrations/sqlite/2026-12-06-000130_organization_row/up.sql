-- The organisation's row exists from the start, so that reading it never writes: SQLite's reader
-- connections are query_only (portal_store::db::SqliteRuntime). Until now the first read
-- inserted it; a database where that already happened keeps its row.
INSERT OR IGNORE INTO organization (id, name, brand_by_location, use_portal, updated_at)
VALUES (1, 'My Clinic', 0, 0, strftime('%Y-%m-%d %H:%M:%f', 'now'));
