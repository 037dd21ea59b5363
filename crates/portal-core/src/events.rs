//! Domain events: what happened, recorded in the outbox in the same transaction as the change,
//! and turned into side effects (e-mails, toasts, notification deliveries) by portal-notify.
//!
//! Payloads carry ids and the minimum a delivery needs. They never carry health information.
//! Events that carry a one-time secret (a link token) are stored with it until delivery; the
//! worker then replaces the stored payload with [`DomainEvent::redacted`], so no raw token
//! outlives its e-mail.

use serde::{Deserialize, Serialize};

/// Why an account e-mail with a link is sent: an invitation (choose a username and password),
/// or a reset (choose a new password). Seed 002 calls it the "invitation/reset e-mail".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    Invitation,
    Reset,
    /// Self-registration (seed 002, "I am a registered patient"): the link completes the account.
    Registration,
    /// A new e-mail address: the link confirms it.
    EmailChange,
}

impl LinkPurpose {
    /// The path (under the configured public URL) that an e-mail's link opens. The pages that
    /// answer these paths live in portal-http; this is the one place that spells them.
    pub fn path(self, token: &str) -> String {
        match self {
            LinkPurpose::Invitation | LinkPurpose::Reset => format!("/portal/set-password/{token}"),
            LinkPurpose::Registration => format!("/portal/register/complete/{token}"),
            LinkPurpose::EmailChange => format!("/portal/account/email/confirm/{token}"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::Reset => "reset",
            LinkPurpose::Registration => "registration",
            LinkPurpose::EmailChange => "email_change",
        }
    }
}

/// How a portal user relates to a patient they can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    #[serde(rename = "self")]
    Myself,
    Guardian,
    Guarantor,
    Other,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Myself => "self",
            Relation::Guardian => "guardian",
            Relation::Guarantor => "guarantor",
            Relation::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Relation::Myself => "Self",
            Relation::Guardian => "Guardian",
            Relation::Guarantor => "Guarantor",
            Relation::Other => "Other designated user",
        }
    }

    pub fn parse(raw: &str) -> Option<Relation> {
        match raw.trim() {
            "self" => Some(Relation::Myself),
            "guardian" => Some(Relation::Guardian),
            "guarantor" => Some(Relation::Guarantor),
            "other" => Some(Relation::Other),
            _ => None,
        }
    }
}

/// Everything that happens for which something else must be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DomainEvent {
    /// An e-mail with a single-use link: invitation, reset, registration or e-mail confirmation.
    /// `patient_id` (when the link concerns a patient) selects the branding: the location's
    /// when the clinic brands by location, the company's otherwise.
    AccountLinkIssued {
        purpose: LinkPurpose,
        account_id: Option<String>,
        patient_id: Option<String>,
        to: String,
        /// The raw token, until delivery; then redacted.
        token: String,
        /// RFC 3339.
        expires_at: String,
        /// Staff's message to show with an invitation (seed 003's intake-forms message).
        message: Option<String>,
    },
    /// A notice to an account's address that its password was changed (SECURITY.md, L3).
    PasswordChangedNotice { account_id: String, to: String },
    /// A notice to the old address that the account's e-mail is being changed.
    EmailChangeNotice { account_id: String, to: String },
    /// Seed 000 "Portal Registration Completed": a patient or contact finished registration.
    PortalRegistrationCompleted { account_id: String, patient_id: String, relation: Relation },
    /// Seed 000 "Portal Email Changed": a portal user changed their address (confirmed).
    PortalEmailChanged { account_id: String, patient_id: Option<String>, relation: Option<Relation> },
    /// Seed 001, step 3: a portal user has a new message. The e-mail says that a message from the
    /// clinic is waiting and links to the portal's sign-in; it never carries the message, its
    /// subject or the sender. `patient_id` selects the branding; `conversation_id` lets a page
    /// open the thread after sign-in.
    PortalMessageNotice { account_id: String, to: String, patient_id: String, conversation_id: String },
    /// A portal user made a request (seed 002's Patient Portal Queue; the notification rule "New
    /// Portal Request"). Ids and the request's kind only: its text is health information.
    PortalRequestSubmitted {
        request_id: String,
        account_id: String,
        patient_id: String,
        relation: Relation,
        request_kind: String,
    },
    /// A portal user sent a secure message to staff (the notification rule "New Portal Message").
    /// Ids only: never the message, its subject or the sender's name.
    PortalMessageReceived { conversation_id: String, account_id: String, patient_id: String, relation: Relation },
    /// A staff notification's e-mail (seed 000: delivery by e-mail): "a portal event needs your
    /// attention at <location>", with a link to the notifications list and nothing else.
    StaffNotificationEmail { notification_id: String, staff_id: String, to: String, location_name: String },
}

impl DomainEvent {
    /// The event's name, as stored in the outbox's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::AccountLinkIssued { .. } => "account_link_issued",
            DomainEvent::PasswordChangedNotice { .. } => "password_changed_notice",
            DomainEvent::EmailChangeNotice { .. } => "email_change_notice",
            DomainEvent::PortalRegistrationCompleted { .. } => "portal_registration_completed",
            DomainEvent::PortalEmailChanged { .. } => "portal_email_changed",
            DomainEvent::PortalMessageNotice { .. } => "portal_message_notice",
            DomainEvent::PortalRequestSubmitted { .. } => "portal_request_submitted",
            DomainEvent::PortalMessageReceived { .. } => "portal_message_received",
            DomainEvent::StaffNotificationEmail { .. } => "staff_notification_email",
        }
    }

    /// The same event without its one-time secret, to keep after delivery.
    pub fn redacted(&self) -> DomainEvent {
        match self {
            DomainEvent::AccountLinkIssued { purpose, account_id, patient_id, to, expires_at, message, .. } => {
                DomainEvent::AccountLinkIssued {
                    purpose: *purpose,
                    account_id: account_id.clone(),
                    patient_id: patient_id.clone(),
                    to: to.clone(),
                    token: String::new(),
                    expires_at: expires_at.clone(),
                    message: message.clone(),
                }
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_redact_their_secret() {
        let e = DomainEvent::AccountLinkIssued {
            purpose: LinkPurpose::Invitation,
            account_id: None,
            patient_id: Some("p".into()),
            to: "ann@example.com".into(),
            token: "secret".into(),
            expires_at: "2026-11-22T00:00:00Z".into(),
            message: None,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "account_link_issued");
        assert_eq!(json["purpose"], "invitation");
        assert_eq!(serde_json::from_value::<DomainEvent>(json).unwrap(), e);
        let r = serde_json::to_string(&e.redacted()).unwrap();
        assert!(!r.contains("secret"));
        let rel = serde_json::to_value(Relation::Myself).unwrap();
        assert_eq!(rel, "self");
    }
}
