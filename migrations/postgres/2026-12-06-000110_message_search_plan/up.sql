-- A one-word search of one's conversations (`portal_store::messaging::search`), as a function
-- so that its one query is planned once per connection with the word's tsquery computed once.
--
-- Why: run as a plain statement it was planned on every search (0.4-1.4 ms, as long as running
-- it); as a prepared statement PostgreSQL's generic plan evaluated `to_tsquery('simple', $3)`
-- again for every message it tested. Here `q` is computed once and the plan is generic
-- (`force_generic_plan`: the query's shape has one good plan, the caller's conversations
-- newest first, each tested by its messages and by its subject and names, stopping at the
-- page). On the benchmark's million messages: "refill" 1.6 -> 0.4 ms, "dizzy" 2.3 -> 1.6 ms.
-- Searches of several words keep the statement built per search.
CREATE FUNCTION portal_message_search(p_kind TEXT, p_id TEXT, p_query TEXT, p_limit INTEGER)
RETURNS TABLE (conversation_id TEXT)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    q tsquery := to_tsquery('simple', p_query);
BEGIN
    RETURN QUERY
    SELECT u.conversation_id FROM (
        (SELECT p.conversation_id, p.last_message_at FROM conversation_participants p
          WHERE p.participant_kind = p_kind AND p.participant_id = p_id AND p.archived = false
            AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = p.conversation_id AND m.search_vector @@ q)
              OR EXISTS (SELECT 1 FROM conversations cv WHERE cv.id = p.conversation_id AND cv.search_vector @@ q))
          ORDER BY p.last_message_at DESC, p.conversation_id DESC LIMIT p_limit)
        UNION ALL
        (SELECT p.conversation_id, p.last_message_at FROM conversation_participants p
          WHERE p.participant_kind = p_kind AND p.participant_id = p_id AND p.archived = true
            AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = p.conversation_id AND m.search_vector @@ q)
              OR EXISTS (SELECT 1 FROM conversations cv WHERE cv.id = p.conversation_id AND cv.search_vector @@ q))
          ORDER BY p.last_message_at DESC, p.conversation_id DESC LIMIT p_limit)
    ) u ORDER BY u.last_message_at DESC, u.conversation_id DESC LIMIT p_limit;
END $$;
