-- One full-text row per message again (`messages_fts`), and `conversations_fts` without the
-- messages, with the triggers as they were.
DROP TRIGGER conversations_fts_message_insert;
DROP TRIGGER conversations_fts_message_delete;
DROP TRIGGER conversations_fts_message_update;
DROP TRIGGER conversations_fts_participant_insert;
DROP TRIGGER conversations_fts_participant_delete;
DROP TRIGGER conversations_fts_delete;
DROP TRIGGER conversations_fts_update;
DROP TABLE conversations_fts;

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
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body, sender_name, owners) VALUES (
        new.seq, new.body, new.sender_name,
        (SELECT group_concat(participant_kind || replace(participant_id, '-', ''), ' ')
           FROM conversation_participants WHERE conversation_id = new.conversation_id)
    );
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.seq;
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, sender_name ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.seq;
    INSERT INTO messages_fts (rowid, body, sender_name, owners) VALUES (
        new.seq, new.body, new.sender_name,
        (SELECT group_concat(participant_kind || replace(participant_id, '-', ''), ' ')
           FROM conversation_participants WHERE conversation_id = new.conversation_id)
    );
END;

CREATE VIRTUAL TABLE conversations_fts USING fts5(
    subject, participant_names, owners, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8', detail = column
);
INSERT INTO conversations_fts (rowid, subject, participant_names, owners)
    SELECT seq, subject, participant_names, owners FROM conversation_search_rows;
INSERT INTO conversations_fts (conversations_fts) VALUES ('optimize');
DROP VIEW conversation_search_rows;

CREATE TRIGGER conversations_fts_participant_insert AFTER INSERT ON conversation_participants BEGIN
    DELETE FROM conversations_fts WHERE rowid = (SELECT seq FROM conversations WHERE id = new.conversation_id);
    INSERT INTO conversations_fts (rowid, subject, participant_names, owners)
        SELECT c.seq, c.subject, c.participant_names,
            (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
               FROM conversation_participants p WHERE p.conversation_id = c.id)
        FROM conversations c WHERE c.id = new.conversation_id;
END;
CREATE TRIGGER conversations_fts_participant_delete AFTER DELETE ON conversation_participants BEGIN
    DELETE FROM conversations_fts WHERE rowid = (SELECT seq FROM conversations WHERE id = old.conversation_id);
    INSERT INTO conversations_fts (rowid, subject, participant_names, owners)
        SELECT c.seq, c.subject, c.participant_names,
            (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
               FROM conversation_participants p WHERE p.conversation_id = c.id)
        FROM conversations c WHERE c.id = old.conversation_id;
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM conversations_fts WHERE rowid = old.seq;
END;
-- Only these columns: every message updates last_message_at, which must not rewrite the index.
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF subject, participant_names ON conversations BEGIN
    DELETE FROM conversations_fts WHERE rowid = old.seq;
    INSERT INTO conversations_fts (rowid, subject, participant_names, owners) VALUES (
        new.seq, new.subject, new.participant_names,
        (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
           FROM conversation_participants p WHERE p.conversation_id = new.id)
    );
END;
