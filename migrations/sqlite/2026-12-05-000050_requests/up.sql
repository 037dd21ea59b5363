-- Patient requests from the portal and the staff's Patient Portal Queue (seed 002): requests,
-- their timeline (what the patient sees), and the tasks the built-in helpers open. Mirrored in
-- ../../postgres with the same names and columns; only the full-text search differs (FTS5 here,
-- a generated tsvector column there).

CREATE TABLE portal_requests (
    -- FTS5's rowid, and the order of the queue and of the archive ("by date of request, in
    -- reverse chronological order"): requests are numbered as they are made.
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    -- The patient's location when the request was made: the queue shows a location's requests.
    location_id TEXT NOT NULL REFERENCES locations (id),
    -- As when requested, for the queue and the archive's search ("by patient name").
    patient_name TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES portal_accounts (id),
    requester_name TEXT NOT NULL,
    relation TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('refill', 'appointment', 'records', 'billing', 'general')),
    -- The parsed fields of the kind, as JSON (portal_core::requests::RequestDetails).
    details TEXT NOT NULL,
    summary TEXT NOT NULL,
    -- Patient name, kind and every text of the request: what the archive's search reads.
    search_text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'in_review', 'completed', 'not_completed')),
    -- Dismissed (completed or not completed): in the archive, not the active queue.
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    dismissed_at TIMESTAMP,
    dismissed_by_name TEXT,
    -- The client's Idempotency-Key: a retried submission finds the first request.
    idempotency_key TEXT,
    CHECK (archived = (status IN ('completed', 'not_completed')))
);
-- The active queue of staff with every location, newest first.
CREATE INDEX portal_requests_queue ON portal_requests (archived, seq);
-- The active queue (and archive) of one location.
CREATE INDEX portal_requests_by_location ON portal_requests (location_id, archived, seq);
-- A patient's requests, for the portal's list.
CREATE INDEX portal_requests_by_patient ON portal_requests (patient_id, seq);
CREATE UNIQUE INDEX portal_requests_idempotency
    ON portal_requests (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The archive's search: a contentless FTS5 table with two extra token columns, `place` (the
-- location's id without hyphens) and `state` ('open' or 'archived'), so that the restriction to
-- the caller's locations and to the archive is an intersection of doclists inside FTS5, and
-- rowid order (seq, the request order) gives the newest first without sorting.
CREATE VIRTUAL TABLE portal_requests_fts USING fts5(
    search_text, place, state, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE TRIGGER portal_requests_fts_insert AFTER INSERT ON portal_requests BEGIN
    INSERT INTO portal_requests_fts (rowid, search_text, place, state) VALUES (
        new.seq, new.search_text, 'l' || replace(new.location_id, '-', ''),
        CASE WHEN new.archived THEN 'archived' ELSE 'open' END
    );
END;
CREATE TRIGGER portal_requests_fts_delete AFTER DELETE ON portal_requests BEGIN
    DELETE FROM portal_requests_fts WHERE rowid = old.seq;
END;
CREATE TRIGGER portal_requests_fts_update AFTER UPDATE OF search_text, location_id, archived ON portal_requests BEGIN
    DELETE FROM portal_requests_fts WHERE rowid = old.seq;
    INSERT INTO portal_requests_fts (rowid, search_text, place, state) VALUES (
        new.seq, new.search_text, 'l' || replace(new.location_id, '-', ''),
        CASE WHEN new.archived THEN 'archived' ELSE 'open' END
    );
END;

-- The number of open requests per location (the queue's count, read on every queue page),
-- kept by triggers so that no writer can forget it: counting ten thousand open rows per page
-- view cost more than the page itself.
CREATE TABLE portal_request_counts (
    location_id TEXT PRIMARY KEY NOT NULL REFERENCES locations (id),
    open_count INTEGER NOT NULL
);
CREATE TRIGGER portal_request_counts_insert AFTER INSERT ON portal_requests WHEN NOT new.archived BEGIN
    INSERT INTO portal_request_counts (location_id, open_count) VALUES (new.location_id, 1)
        ON CONFLICT (location_id) DO UPDATE SET open_count = open_count + 1;
END;
CREATE TRIGGER portal_request_counts_update AFTER UPDATE OF archived, location_id ON portal_requests BEGIN
    UPDATE portal_request_counts SET open_count = open_count - 1
        WHERE location_id = old.location_id AND NOT old.archived;
    INSERT INTO portal_request_counts (location_id, open_count) SELECT new.location_id, 1 WHERE NOT new.archived
        ON CONFLICT (location_id) DO UPDATE SET open_count = open_count + 1;
END;
CREATE TRIGGER portal_request_counts_delete AFTER DELETE ON portal_requests WHEN NOT old.archived BEGIN
    UPDATE portal_request_counts SET open_count = open_count - 1 WHERE location_id = old.location_id;
END;

-- What happened to a request, oldest first: the timeline staff and the patient read.
CREATE TABLE portal_request_events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL REFERENCES portal_requests (id),
    kind TEXT NOT NULL CHECK (kind IN ('submitted', 'in_review', 'completed', 'not_completed', 'reopened', 'replied')),
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('staff', 'portal')),
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    -- A reply by secure message linked to the request.
    conversation_id TEXT REFERENCES conversations (id),
    message_id TEXT REFERENCES messages (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX portal_request_events_by_request ON portal_request_events (request_id, seq);
-- A reply is recorded once, however often its request is retried.
CREATE UNIQUE INDEX portal_request_events_message
    ON portal_request_events (request_id, message_id) WHERE message_id IS NOT NULL;

-- What the built-in helpers open: a draft refill encounter note, an appointment draft, a
-- records-release task; one of each per request (the helper used again opens the same task).
CREATE TABLE portal_request_tasks (
    id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL REFERENCES portal_requests (id),
    patient_id TEXT NOT NULL REFERENCES patients (id),
    location_id TEXT NOT NULL REFERENCES locations (id),
    kind TEXT NOT NULL CHECK (kind IN ('refill_note', 'appointment_draft', 'records_release')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'done')),
    created_by_id TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    completed_by_name TEXT
);
CREATE UNIQUE INDEX portal_request_tasks_one_per_request ON portal_request_tasks (request_id, kind);
