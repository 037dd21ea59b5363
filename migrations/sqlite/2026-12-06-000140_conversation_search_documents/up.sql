-- Message search reads one full-text row per conversation instead of one per message:
-- `conversations_fts` gains a `messages` column (every message's body and sender name) and
-- `messages_fts` goes. A search is then the caller's own doclist (one entry per conversation,
-- not per message) intersected with the word's, and each match is already a conversation: no
-- look-up of each matching message for its conversation. Measured on the benchmark's million
-- messages (a staff member in 1,000 conversations), a search's statement after another
-- connection's commit (as under load, where audit rows commit all the time): "refill" 2.46 ->
-- 1.46 ms, "thyroid" 1.50 -> 0.91, "metformin" 2.34 -> 1.77, "dizzy" 1.06 -> 0.61; the same
-- conversations found.
--
-- The same matches as before: a word matches a conversation when it starts a word of its
-- subject, a participant's name, or any of its messages (each word of a search on its own, so
-- two words may match two different messages). The row is rewritten when a message is written,
-- changed or removed, and when a participant is added or removed or the subject or names
-- change: a message costs its conversation's text tokenized again (a few kilobytes for a long
-- thread), on the one writer.
--
-- Prefix indexes up to 12 characters (8 before): a word longer than the longest one makes FTS5
-- merge the whole doclist of every term it starts before the first row comes back, and words of
-- 9 to 12 letters are common in a clinic's messages (medications, "appointment", "prescription").
-- "metformin" 2.32 -> 0.84 ms on the same data; the index 7 % larger (226 -> 242 MB).
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

DROP TRIGGER conversations_fts_participant_insert;
DROP TRIGGER conversations_fts_participant_delete;
DROP TRIGGER conversations_fts_delete;
DROP TRIGGER conversations_fts_update;
DROP TABLE conversations_fts;

CREATE VIRTUAL TABLE conversations_fts USING fts5(
    subject, participant_names, messages, owners, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6 7 8 9 10 11 12', detail = column
);

-- What each conversation's row holds (the triggers and this migration write it from here).
CREATE VIEW conversation_search_rows AS
    SELECT c.seq, c.id, c.subject, c.participant_names,
        (SELECT group_concat(m.body || ' ' || m.sender_name, ' ')
           FROM messages m WHERE m.conversation_id = c.id) AS messages,
        (SELECT group_concat(p.participant_kind || replace(p.participant_id, '-', ''), ' ')
           FROM conversation_participants p WHERE p.conversation_id = c.id) AS owners
    FROM conversations c;

INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
    SELECT seq, subject, participant_names, messages, owners FROM conversation_search_rows;
INSERT INTO conversations_fts (conversations_fts) VALUES ('optimize');

CREATE TRIGGER conversations_fts_message_insert AFTER INSERT ON messages BEGIN
    DELETE FROM conversations_fts WHERE rowid = (SELECT seq FROM conversations WHERE id = new.conversation_id);
    INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
        SELECT seq, subject, participant_names, messages, owners
        FROM conversation_search_rows WHERE id = new.conversation_id;
END;
CREATE TRIGGER conversations_fts_message_delete AFTER DELETE ON messages BEGIN
    DELETE FROM conversations_fts WHERE rowid = (SELECT seq FROM conversations WHERE id = old.conversation_id);
    INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
        SELECT seq, subject, participant_names, messages, owners
        FROM conversation_search_rows WHERE id = old.conversation_id;
END;
CREATE TRIGGER conversations_fts_message_update AFTER UPDATE OF body, sender_name ON messages BEGIN
    DELETE FROM conversations_fts WHERE rowid = (SELECT seq FROM conversations WHERE id = new.conversation_id);
    INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
        SELECT seq, subject, participant_names, messages, owners
        FROM conversation_search_rows WHERE id = new.conversation_id;
END;
CREATE TRIGGER conversations_fts_participant_insert AFTER INSERT ON conversation_participants BEGIN
    DELETE FROM conversations_fts WHERE rowid = (SELECT seq FROM conversations WHERE id = new.conversation_id);
    INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
        SELECT seq, subject, participant_names, messages, owners
        FROM conversation_search_rows WHERE id = new.conversation_id;
END;
CREATE TRIGGER conversations_fts_participant_delete AFTER DELETE ON conversation_participants BEGIN
    DELETE FROM conversations_fts WHERE rowid = (SELECT seq FROM conversations WHERE id = old.conversation_id);
    INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
        SELECT seq, subject, participant_names, messages, owners
        FROM conversation_search_rows WHERE id = old.conversation_id;
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM conversations_fts WHERE rowid = old.seq;
END;
-- Only these columns: every message updates last_message_at, which must not rewrite the index.
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF subject, participant_names ON conversations BEGIN
    DELETE FROM conversations_fts WHERE rowid = old.seq;
    INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
        SELECT seq, subject, participant_names, messages, owners
        FROM conversation_search_rows WHERE seq = new.seq;
END;
