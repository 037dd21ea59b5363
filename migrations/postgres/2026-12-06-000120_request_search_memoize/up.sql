-- The archive's search along one lexeme's postings (`portal_request_archive_search`, migration
-- 2026-12-06-000090) without Memoize: the planner put a Memoize node between each posting and
-- its request's look-up, but every posting is a different request, so it only hashed and
-- missed (27 misses for 26 rows). Without it the function ran in 0.13 ms instead of 0.16 ms
-- ("billing" on the benchmark's 100,000 requests, 3,000 calls inside PostgreSQL, four rounds).
ALTER FUNCTION portal_request_archive_search(BOOLEAN, TEXT, BIGINT, BIGINT, TEXT, TEXT, TEXT[])
    SET enable_memoize = off;
