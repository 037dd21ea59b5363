-- Nothing on SQLite: PostgreSQL's migration of this name changes a setting of its archive
-- search function (see there). Kept so that both backends list the same migrations.
SELECT 1;
