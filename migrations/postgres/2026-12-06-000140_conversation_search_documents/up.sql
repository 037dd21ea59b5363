-- Nothing to do on PostgreSQL: its message search already answers conversations (a correlated
-- EXISTS per participant row of the caller). This migration keeps the two backends' migration
-- lists the same (the SQLite one indexes one full-text row per conversation, its messages
-- included, instead of one per message).
SELECT 1;
