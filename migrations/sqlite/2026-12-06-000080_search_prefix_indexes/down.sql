-- The indexes as they were: prefix indexes of 2 and 3 characters, token positions kept.
DROP TABLE portal_requests_fts;
CREATE VIRTUAL TABLE portal_requests_fts USING fts5(
    search_text, place, state, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO portal_requests_fts (rowid, search_text, place, state)
    SELECT seq, search_text, 'l' || replace(location_id, '-', ''),
        CASE WHEN archived THEN 'archived' ELSE 'open' END
    FROM portal_requests;

DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, sender_name, owners, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO messages_fts (rowid, body, sender_name, owners)
    SELECT m.seq, m.body, m.sender_name,
        (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
           FROM conversation_participants p WHERE p.conversation_id = m.conversation_id)
    FROM messages m;

DROP TABLE conversations_fts;
CREATE VIRTUAL TABLE conversations_fts USING fts5(
    subject, participant_names, owners, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO conversations_fts (rowid, subject, participant_names, owners)
    SELECT c.seq, c.subject, c.participant_names,
        (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
           FROM conversation_participants p WHERE p.conversation_id = c.id)
    FROM conversations c;
