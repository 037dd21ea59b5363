-- Staff notifications (seed 000, "Set up Notifications"): rules per location, and the
-- notifications they deliver to staff (a toast in the app, an e-mail, or both). Mirrored in
-- ../../sqlite with the same names and columns.

CREATE TABLE notification_rules (
    id TEXT PRIMARY KEY NOT NULL,
    location_id TEXT NOT NULL REFERENCES locations (id),
    event TEXT NOT NULL CHECK (event IN ('registration_completed', 'document_completed', 'file_uploaded',
        'treatment_plan_signed', 'email_changed', 'consent_revoked', 'new_message', 'new_request')),
    name TEXT NOT NULL,
    starts_on DATE NOT NULL,
    ends_on DATE,
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'information')),
    -- Staff ids, comma-separated (at most 50), and role names, comma-separated.
    recipient_users TEXT NOT NULL,
    recipient_care_team BOOLEAN NOT NULL,
    recipient_roles TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    toast BOOLEAN NOT NULL,
    email BOOLEAN NOT NULL,
    -- Deleting a rule keeps its row (its notifications point at it) and stops it.
    deleted_at TIMESTAMP,
    created_by_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (toast OR email)
);
-- Delivery reads the live rules of one location and event.
CREATE INDEX notification_rules_by_event ON notification_rules (location_id, event) WHERE deleted_at IS NULL;

-- One notification per person, rule and event: the unique index makes a delivery retried (or
-- run by two replicas at once) write it once.
CREATE TABLE staff_notifications (
    id TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff_users (id),
    -- NULL for a rule's test notification.
    rule_id TEXT REFERENCES notification_rules (id),
    -- The outbox event delivered (NULL for a test).
    event_id TEXT,
    patient_id TEXT REFERENCES patients (id),
    location_id TEXT NOT NULL REFERENCES locations (id),
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'information')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    -- A path inside the app the notification opens (the patient's chart, the queue).
    link TEXT,
    toast BOOLEAN NOT NULL,
    email BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Shown as a toast (to any of the person's open tabs); NULL: waiting for them to sign in.
    toasted_at TIMESTAMP,
    read_at TIMESTAMP
);
CREATE UNIQUE INDEX staff_notifications_once ON staff_notifications (rule_id, event_id, staff_id)
    WHERE rule_id IS NOT NULL AND event_id IS NOT NULL;
-- A person's list, newest first; their unread count; their toasts still to show.
CREATE INDEX staff_notifications_by_staff ON staff_notifications (staff_id, created_at);
CREATE INDEX staff_notifications_unread ON staff_notifications (staff_id) WHERE read_at IS NULL;
CREATE INDEX staff_notifications_to_toast ON staff_notifications (staff_id) WHERE toast AND toasted_at IS NULL;
