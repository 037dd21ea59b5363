-- Secure messaging (seed 001): conversations, their participants (one row per person, with that
-- person's archive flag and unread count), messages, and full-text search over subjects,
-- participant names and messages. Mirrored in ../../sqlite with the same names and columns;
-- only the full-text search differs (generated tsvector columns with GIN indexes here).

-- Which staff portal users may write to: every staff member with Available for Portal Messages
-- ('available_for_portal_messages') or only the patient's care team ('care_team').
ALTER TABLE organization ADD COLUMN portal_messaging_recipients TEXT NOT NULL DEFAULT 'available_for_portal_messages';

CREATE TABLE conversations (
    -- Mirrors SQLite's integer key (FTS5's rowid there); unused for search here.
    seq BIGSERIAL NOT NULL UNIQUE,
    id TEXT PRIMARY KEY NOT NULL,
    -- 'portal' (one staff member and one portal user) or 'staff' (two or more staff members).
    kind TEXT NOT NULL CHECK (kind IN ('portal', 'staff')),
    -- Required for portal conversations, optional for staff ones (the View Patient link).
    patient_id TEXT REFERENCES patients (id),
    subject TEXT,
    -- The participants' names at the start, for search ("by name").
    participant_names TEXT NOT NULL,
    started_by_kind TEXT NOT NULL,
    started_by_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_message_at TIMESTAMP NOT NULL,
    message_count INTEGER NOT NULL,
    -- 'simple': no stemming and no stop words, as with SQLite's unicode61 tokenizer.
    search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', coalesce(subject, '') || ' ' || participant_names)
    ) STORED,
    CHECK (kind = 'staff' OR patient_id IS NOT NULL)
);
CREATE INDEX conversations_by_patient ON conversations (patient_id) WHERE patient_id IS NOT NULL;
CREATE INDEX conversations_search ON conversations USING GIN (search_vector);

CREATE TABLE conversation_participants (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    participant_kind TEXT NOT NULL CHECK (participant_kind IN ('staff', 'portal')),
    -- A staff id or a portal account id (no foreign key: either table).
    participant_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    archived_at TIMESTAMP,
    -- A copy of the conversation's, so that the inbox is one index range of this table.
    last_message_at TIMESTAMP NOT NULL,
    -- Messages from others since this participant last opened the conversation.
    unread_count INTEGER NOT NULL DEFAULT 0,
    last_read_at TIMESTAMP,
    PRIMARY KEY (conversation_id, participant_kind, participant_id)
);
-- The inbox: a participant's Active or Archived conversations, newest first, 25 a page.
CREATE INDEX conversation_participants_inbox
    ON conversation_participants (participant_kind, participant_id, archived, last_message_at DESC, conversation_id DESC);
-- The unread count in the page header: only rows with something unread.
CREATE INDEX conversation_participants_unread
    ON conversation_participants (participant_kind, participant_id) WHERE unread_count > 0;

CREATE TABLE messages (
    seq BIGSERIAL NOT NULL UNIQUE,
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    sender_kind TEXT NOT NULL CHECK (sender_kind IN ('staff', 'portal')),
    sender_id TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    -- Plain text, at most 10,000 characters.
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- The client's Idempotency-Key: a retried send finds the first message instead of sending again.
    idempotency_key TEXT,
    search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', body || ' ' || sender_name)) STORED
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
CREATE UNIQUE INDEX messages_idempotency
    ON messages (sender_kind, sender_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_search ON messages USING GIN (search_vector);
