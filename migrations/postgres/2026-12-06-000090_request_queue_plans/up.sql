-- The queue's page and the archive's search walk `portal_requests_queue` (archived, seq DESC).
-- With `seq`'s own unique index beside it, the planner walked that one instead and filtered out
-- the other state's rows one by one (the queue's first page read 240 rows for 26, 0.10 ms
-- against 0.03 ms, measured on 100,000 requests). `seq` is the request's number from its own
-- sequence and nothing writes it, so the unique index only added a wrong choice and a write.
ALTER TABLE portal_requests DROP CONSTRAINT portal_requests_seq_key;

-- The archive's search, newest first, in the order of a word's postings: one row per lexeme of
-- a request's `search_vector` (exactly `tsvector_to_array`), kept by the trigger below. A
-- search whose longest word is the prefix of exactly one lexeme reads that lexeme's rows from
-- the newest down and stops at the page, instead of testing the `tsvector` of every archived
-- request from the newest down until a page matched (a surname on 2 % of the requests: 0.45
-- -> 0.17 ms, measured on 100,000). Other searches keep the plain query. `COLLATE "C"`: byte
-- order, so that the lexemes starting with a word are one range of the index.
CREATE TABLE portal_request_terms (
    term TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (term, seq)
);

CREATE FUNCTION portal_request_terms_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM portal_request_terms
        WHERE term = ANY (tsvector_to_array(OLD.search_vector)) AND seq = OLD.seq;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO portal_request_terms (term, seq)
        SELECT t, NEW.seq FROM unnest(tsvector_to_array(NEW.search_vector)) AS t;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER portal_request_terms_keep
    AFTER INSERT OR DELETE OR UPDATE OF search_text, seq ON portal_requests
    FOR EACH ROW EXECUTE FUNCTION portal_request_terms_keep();

INSERT INTO portal_request_terms (term, seq)
SELECT t, r.seq FROM portal_requests r, unnest(tsvector_to_array(r.search_vector)) AS t;

-- One page of the archive's search along the postings of the one lexeme in [p_from, p_to)
-- (nothing when the range holds several lexemes or none), each request checked for the whole
-- query, its state and the locations (NULL: all). A function for its settings: the shape has
-- one good plan for every value, but PostgreSQL would plan it again on every call (0.23 ms,
-- more than running it), since its estimate for a generic plan never beats the custom ones;
-- `force_generic_plan` keeps the plan the session prepared. `OFFSET 0` keeps the lateral a
-- nested loop of look-ups by (archived, seq); `ts_match_vq` is `@@` that the planner cannot
-- trade for the GIN index's bitmap of every match.
CREATE FUNCTION portal_request_archive_search(
    p_archived BOOLEAN, p_query TEXT, p_before BIGINT, p_limit BIGINT, p_from TEXT, p_to TEXT,
    p_locations TEXT[]
) RETURNS SETOF portal_requests LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT r.* FROM portal_request_terms t
    CROSS JOIN LATERAL (
        SELECT * FROM portal_requests r
        WHERE r.archived = p_archived AND r.seq = t.seq
          AND (p_locations IS NULL OR r.location_id = ANY (p_locations))
          AND ts_match_vq(r.search_vector, to_tsquery('simple', p_query))
        OFFSET 0
    ) r
    WHERE t.term = (SELECT term FROM portal_request_terms WHERE term >= p_from AND term < p_to ORDER BY term LIMIT 1)
      AND t.term = (SELECT term FROM portal_request_terms WHERE term >= p_from AND term < p_to ORDER BY term DESC LIMIT 1)
      AND t.seq < p_before
    ORDER BY t.seq DESC
    LIMIT p_limit;
END
$$;
