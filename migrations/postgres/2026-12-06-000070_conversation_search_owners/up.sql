-- Nothing to do on PostgreSQL: its conversation search is already limited to the caller's own
-- conversations (a correlated EXISTS per participant row). This migration keeps the two
-- backends' migration lists the same (the SQLite one adds an owners column to conversations_fts).
SELECT 1;
