DROP TRIGGER conversations_fts_participant_insert;
DROP TRIGGER conversations_fts_participant_delete;
DROP TRIGGER conversations_fts_delete;
DROP TRIGGER conversations_fts_update;
DROP TABLE conversations_fts;

CREATE VIRTUAL TABLE conversations_fts USING fts5(
    subject, participant_names, content = 'conversations', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO conversations_fts (conversations_fts) VALUES ('rebuild');
CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_fts (rowid, subject, participant_names) VALUES (new.seq, new.subject, new.participant_names);
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversations_fts (conversations_fts, rowid, subject, participant_names)
        VALUES ('delete', old.seq, old.subject, old.participant_names);
END;
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF subject, participant_names ON conversations BEGIN
    INSERT INTO conversations_fts (conversations_fts, rowid, subject, participant_names)
        VALUES ('delete', old.seq, old.subject, old.participant_names);
    INSERT INTO conversations_fts (rowid, subject, participant_names) VALUES (new.seq, new.subject, new.participant_names);
END;
