-- The three full-text indexes (requests, messages, conversations) again, with prefix indexes for
-- 2 to 8 characters and `detail = column` (no token positions: no search asks for phrases or
-- NEAR, and column filters still work).
--
-- Why: every search word is a prefix query. A prefix longer than the table's prefix indexes
-- ("billing*" with indexes of 2 and 3 characters) makes FTS5 read and merge the whole doclist of
-- every matching term before the first row comes back; a prefix index of that length is read
-- incrementally like one term, so "newest first, stop at the page" stops early again. Measured
-- on the benchmark's 100,000 requests: "billing" in the archive 1.0 ms -> 0.11 ms, and the
-- server's archive search 1,090 -> 2,670 requests a second. Words longer than 8 characters
-- still work, as before (the merge). Positions are most of a doclist's bytes; without them the
-- indexes with five more prefix lengths are about twice the size of the old ones.
--
-- The triggers that keep the tables (see the earlier migrations) name them and are unchanged.
-- Each table is merged into one segment after it is filled ('optimize'): a bulk fill leaves
-- segments that the first insert afterwards would merge (seconds for a million messages).
DROP TABLE portal_requests_fts;
CREATE VIRTUAL TABLE portal_requests_fts USING fts5(
    search_text, place, state, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8', detail = column
);
INSERT INTO portal_requests_fts (rowid, search_text, place, state)
    SELECT seq, search_text, 'l' || replace(location_id, '-', ''),
        CASE WHEN archived THEN 'archived' ELSE 'open' END
    FROM portal_requests;
INSERT INTO portal_requests_fts (portal_requests_fts) VALUES ('optimize');

DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, sender_name, owners, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8', detail = column
);
INSERT INTO messages_fts (rowid, body, sender_name, owners)
    SELECT m.seq, m.body, m.sender_name,
        (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
           FROM conversation_participants p WHERE p.conversation_id = m.conversation_id)
    FROM messages m;
INSERT INTO messages_fts (messages_fts) VALUES ('optimize');

DROP TABLE conversations_fts;
CREATE VIRTUAL TABLE conversations_fts USING fts5(
    subject, participant_names, owners, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8', detail = column
);
INSERT INTO conversations_fts (rowid, subject, participant_names, owners)
    SELECT c.seq, c.subject, c.participant_names,
        (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
           FROM conversation_participants p WHERE p.conversation_id = c.id)
    FROM conversations c;
INSERT INTO conversations_fts (conversations_fts) VALUES ('optimize');
