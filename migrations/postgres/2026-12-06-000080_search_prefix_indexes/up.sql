-- Nothing to do on PostgreSQL: prefix searches there are tsquery `word:*` over GIN indexes.
-- This migration keeps the two backends' migration lists the same (the SQLite one rebuilds its
-- FTS5 tables with longer prefix indexes).
SELECT 1;
