-- Portal accounts (seeds 002, 003, 004): a patient's access level and portal status facts, the
-- auto-enable setting (instance, overridable per location), accounts, their grants to patients,
-- single-use links sent by e-mail (only their SHA-256 is kept), and bulk onboarding jobs.
-- Mirrored in ../../postgres with the same names and columns.

-- "Patient Can Access Portal"; when an invitation concerning the patient was last sent; when
-- anyone holding a grant to the patient last signed in (the status turns green at the first).
ALTER TABLE patients ADD COLUMN portal_access BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE patients ADD COLUMN portal_last_invited_at TIMESTAMP;
ALTER TABLE patients ADD COLUMN portal_last_signed_in_at TIMESTAMP;
-- Self-registration and forgot-password look patients up by their e-mail address.
CREATE INDEX patients_by_email ON patients (email);

-- "Should the patient be able to activate portal without further confirmation": the instance's
-- value, and a location's override (NULL: follow the instance).
ALTER TABLE organization ADD COLUMN auto_enable_portal BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE locations ADD COLUMN auto_enable_portal BOOLEAN;

CREATE TABLE portal_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    -- Lowercase; NULL until the holder chooses one (an invitation asks for it).
    username TEXT UNIQUE,
    -- Lowercase; not unique: family members may share one address.
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    -- NULL until a password is set (argon2id PHC string).
    password_hash TEXT,
    must_change_password BOOLEAN NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    registered_at TIMESTAMP,
    first_signed_in_at TIMESTAMP,
    last_signed_in_at TIMESTAMP
);
CREATE INDEX portal_accounts_by_email ON portal_accounts (email);

CREATE TABLE portal_grants (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES portal_accounts (id) ON DELETE CASCADE,
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    relation TEXT NOT NULL,
    -- The contact the grant was made for, if any (no foreign key: the grant outlives the row).
    contact_id TEXT,
    -- Comma-separated parts: messages, requests, documents, appointments, billing.
    scopes TEXT NOT NULL,
    -- Last day of access (inclusive, UTC); NULL: no end.
    ends_on DATE,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by TEXT
);
-- At most one live grant per account and patient, and one live "self" grant per patient.
CREATE UNIQUE INDEX portal_grants_live ON portal_grants (account_id, patient_id) WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX portal_grants_live_self ON portal_grants (patient_id) WHERE revoked_at IS NULL AND relation = 'self';
CREATE INDEX portal_grants_by_patient ON portal_grants (patient_id, created_at);

CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    account_id TEXT REFERENCES portal_accounts (id) ON DELETE CASCADE,
    patient_id TEXT REFERENCES patients (id) ON DELETE CASCADE,
    -- The address the link was sent to.
    email TEXT NOT NULL,
    -- JSON: relation, contact id, new e-mail, staff message, intake form ids.
    data TEXT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX account_tokens_by_account ON account_tokens (account_id) WHERE used_at IS NULL;
CREATE INDEX account_tokens_by_patient ON account_tokens (patient_id) WHERE used_at IS NULL;

-- Onboarding Tool bulk runs: counts updated after every chunk, so a page can show progress.
CREATE TABLE bulk_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    created_by TEXT,
    created_by_name TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    -- JSON object: reason -> count.
    skipped_reasons TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
