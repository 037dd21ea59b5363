-- Nothing to do on PostgreSQL: one database holds the records and the audit chain, and its
-- caches are shared. This migration keeps the two backends' migration lists the same (the SQLite
-- one moves the audit chain into a file of its own).
SELECT 1;
