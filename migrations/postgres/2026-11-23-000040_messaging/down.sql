DROP TABLE messages;
DROP TABLE conversation_participants;
DROP TABLE conversations;
ALTER TABLE organization DROP COLUMN portal_messaging_recipients;
