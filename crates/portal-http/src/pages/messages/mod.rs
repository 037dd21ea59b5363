//! Secure messaging for staff (seed 001, "My Messages"): the inbox with its Active and Archived
//! sections and search, a thread with reply, archive and unarchive, Compose from the inbox and
//! New Message from the patient chart (Portal or Staff).
//!
//! Every rule is the messaging domain's (`portal_messaging`): who may write to whom, who sees
//! which conversation (only one's own, whatever the role), when a reply is refused and why. The
//! pages only translate: a refusal becomes a sentence beside the field it concerns, a
//! conversation one is not in is the same 404 page as a missing one.

mod compose;
mod inbox;
mod thread;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use portal_core::AccessError;
use portal_messaging::inbox::ConversationSummary;
use portal_messaging::{Caller, MessagingError};

use super::forms::{when, when_iso};
use super::{error_page, problem_page};
use crate::extract::SignedInStaff;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/messages", get(inbox::inbox_page))
        .route("/messages/new", get(compose::new_page).post(compose::send))
        .route("/messages/{id}", get(thread::thread_page))
        .route("/messages/{id}/reply", post(thread::reply))
        .route("/messages/{id}/archive", post(thread::archive))
        .route("/messages/{id}/unarchive", post(thread::unarchive))
}

/// Said for a conversation id that is missing, malformed or someone else's: the three answer
/// alike, so that an id tells nothing about conversations one is not in.
const NO_SUCH_CONVERSATION: &str = "This conversation does not exist, or you are not taking part in it. Only the people in a conversation can open it.";

/// The staff member as the messaging domain's caller.
fn caller(s: &SignedInStaff) -> Result<Caller, Response> {
    Caller::staff(&s.actor).map_err(|e| problem_page(e.into()))
}

/// A domain error outside a form: a page that says what happened (never a 500 for bad input).
fn failure(e: MessagingError) -> Response {
    match e {
        MessagingError::Access(AccessError::NotFound) => error_page(StatusCode::NOT_FOUND, NO_SUCH_CONVERSATION),
        other => problem_page(other.into()),
    }
}

/// A fresh idempotency key for a send form: random, generated when the form is rendered, so that
/// a double click or a re-POST after a network error sends the message once.
fn new_idempotency_key() -> String {
    portal_store::ids::new_id()
}

// ---------------------------------------------------------------------------------------------
// One conversation in a list
// ---------------------------------------------------------------------------------------------

/// One line of the inbox or of search results.
pub(super) struct ConversationLine {
    pub id: String,
    /// `portal` or `staff` (the template words it).
    pub kind: &'static str,
    /// Everyone else in it, by name.
    pub others: String,
    pub patient_name: String,
    pub subject: String,
    pub when: String,
    pub when_iso: String,
    pub unread: i32,
    pub archived: bool,
}

impl ConversationLine {
    fn of(c: &ConversationSummary) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind.as_str(),
            others: c.others.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", "),
            patient_name: c.patient_name.clone().unwrap_or_default(),
            subject: c.subject.clone().unwrap_or_default(),
            when: when(c.last_message_at),
            when_iso: when_iso(c.last_message_at),
            unread: c.unread_count.max(0),
            archived: c.archived,
        }
    }
}
