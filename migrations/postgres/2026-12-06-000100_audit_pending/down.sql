-- Rows still waiting would be lost with the table: refuse instead of dropping them silently.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_pending) THEN
        RAISE EXCEPTION 'audit_pending holds rows not yet chained: start the server once to chain them';
    END IF;
END $$;
DROP TABLE audit_pending;
