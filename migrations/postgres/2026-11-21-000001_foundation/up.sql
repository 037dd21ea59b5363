-- Foundation: organisation, settings history, locations, staff, sessions, patients, contacts,
-- care teams, the audit chain. Mirrored in ../../sqlite with the same names and columns.

CREATE TABLE organization (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    phone TEXT,
    logo_content_type TEXT,
    logo BYTEA,
    brand_by_location BOOLEAN NOT NULL DEFAULT FALSE,
    use_portal BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE setting_changes (
    id TEXT PRIMARY KEY NOT NULL,
    setting TEXT NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    fee_locations BIGINT,
    fee_total_cents BIGINT,
    acknowledged BOOLEAN NOT NULL,
    changed_by TEXT,
    changed_by_name TEXT NOT NULL,
    ip TEXT,
    changed_at TIMESTAMP NOT NULL
);
CREATE INDEX setting_changes_by_setting ON setting_changes (setting, changed_at);

CREATE TABLE locations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    address_line1 TEXT,
    city TEXT,
    state TEXT,
    zip TEXT,
    phone TEXT,
    time_zone TEXT NOT NULL,
    logo_content_type TEXT,
    logo BYTEA,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE staff_users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    perm_allow_document_share BOOLEAN NOT NULL DEFAULT FALSE,
    perm_available_for_portal_messages BOOLEAN NOT NULL DEFAULT FALSE,
    perm_manage_portal_packages BOOLEAN NOT NULL DEFAULT FALSE,
    perm_manage_portal_settings BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE staff_locations (
    staff_id TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    location_id TEXT NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    PRIMARY KEY (staff_id, location_id)
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    absolute_expires_at TIMESTAMP NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_kind, user_id);

CREATE TABLE sign_in_failures (
    account_key TEXT PRIMARY KEY NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    last_failure_at TIMESTAMP NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('record_number', 1000);

CREATE TABLE patients (
    id TEXT PRIMARY KEY NOT NULL,
    record_number TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    search_name TEXT NOT NULL COLLATE "C",
    date_of_birth DATE NOT NULL,
    email TEXT,
    phone TEXT,
    address_line1 TEXT,
    city TEXT,
    state TEXT,
    zip TEXT,
    location_id TEXT NOT NULL REFERENCES locations (id),
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX patients_by_location_name ON patients (location_id, search_name);
CREATE INDEX patients_by_name ON patients (search_name);
CREATE INDEX patients_by_dob ON patients (date_of_birth);

CREATE TABLE patient_contacts (
    id TEXT PRIMARY KEY NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    relation TEXT,
    email TEXT,
    phone TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX patient_contacts_by_patient ON patient_contacts (patient_id);

CREATE TABLE care_team_members (
    patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    staff_id TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    team_role TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (patient_id, staff_id)
);
CREATE INDEX care_team_members_by_staff ON care_team_members (staff_id);

-- Append-only, hash-chained: each row's hash covers its fields and the previous row's hash.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    patient_id TEXT,
    target_kind TEXT,
    target_id TEXT,
    detail TEXT NOT NULL,
    ip TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_by_patient ON audit_log (patient_id, seq);
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_by_action ON audit_log (action, seq);
CREATE INDEX audit_log_by_at ON audit_log (at);

-- One row: the chain's head, locked by every audited write so that rows are chained in order.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The log cannot be edited or shortened through SQL by mistake; `portal audit verify` catches
-- anything done around these triggers.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
