-- Search over subjects and participant names, restricted inside FTS5 to the caller's own
-- conversations, as `messages_fts` already is: the table gains an `owners` column (one token per
-- participant: kind and id without hyphens) and a search asks for `owners : <caller> AND word`.
-- Measured with 200,000 conversations (a staff member in 1,000 of them): a word in a common
-- subject ("refill": 15,000 conversations) or name ("john": 20,000) took 45-51 ms as an IN list
-- of every match; the caller's own doclist intersected with the word's is a few milliseconds.
--
-- Contentless (the text stays in `conversations`), since `owners` is no column of it. A
-- conversation's participants are written just after it, so each participant written or removed
-- rewrites the conversation's row; a change of subject or names does too.
DROP TRIGGER conversations_fts_insert;
DROP TRIGGER conversations_fts_delete;
DROP TRIGGER conversations_fts_update;
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
