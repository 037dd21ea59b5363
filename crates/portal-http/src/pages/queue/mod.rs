//! The Patient Portal Queue for staff (seed 002, "Patient Portal Queue" and "Un-Archiving
//! Patient Portal Requests"): the open requests of one's locations with the helper button, Reply
//! and the two dismiss buttons; the searchable archive whose status cell un-archives after a
//! confirmation; one request with its timeline, tasks and the reply form (with the seed's
//! defaults: notify by e-mail, associate with the request); the helper's task page; and the
//! staff member's unread portal conversations.
//!
//! Every rule is the queue's (`portal_queue`) or messaging's: who may see or work a request,
//! which change of status is allowed, who may reply. The pages only translate: a refusal becomes
//! a sentence on the page, a request at another location is the same 404 page as a missing one.

mod archive;
mod list;
mod request;
mod task;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use portal_core::AccessError;
use portal_core::events::Relation;
use portal_core::ids::ConversationId;
use portal_messaging::inbox::ConversationSummary;
use portal_queue::{QueueError, RequestView};

use super::forms::{when, when_iso};
use super::{error_page, problem_page};
use crate::error::{Problem, capitalise};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/queue", get(list::queue_page))
        .route("/queue/archive", get(archive::archive_page))
        .route("/queue/tasks/{id}", get(task::task_page).post(task::save))
        .route("/queue/{id}", get(request::request_page))
        .route("/queue/{id}/reply", post(request::reply))
        .route("/queue/{id}/helper", post(request::helper))
        .route("/queue/{id}/dismiss", post(list::dismiss))
        .route("/queue/{id}/reopen", get(archive::reopen_page).post(archive::reopen))
}

/// Said for a request id that is missing, malformed or at a location one does not work at: the
/// three answer alike, so that an id tells nothing about other locations' requests.
const NO_SUCH_REQUEST: &str = "This request does not exist, or it belongs to a location you do not work at. Open the Patient Portal Queue to see the requests you can work.";

const NO_SUCH_TASK: &str = "This task does not exist, or its request belongs to a location you do not work at. Open the Patient Portal Queue to see the requests you can work.";

/// The id as the store writes it (a lowercase UUID), or `None`: a malformed id is answered like
/// a missing one, before it reaches the database.
fn well_formed(id: &str) -> Option<String> {
    ConversationId::parse(id).ok().map(ConversationId::into_string)
}

/// A queue error outside a form: a page that says what happened (never a 500 for bad input).
fn failure(e: QueueError, not_found: &str) -> Response {
    match e {
        QueueError::Access(AccessError::NotFound) => error_page(StatusCode::NOT_FOUND, not_found),
        other => problem_page(Problem::from(other)),
    }
}

/// A refusal (a rule of the queue), as the sentence the page shows.
fn sentence(e: &impl std::fmt::Display) -> String {
    let s = capitalise(&e.to_string());
    if s.ends_with('.') { s } else { s + "." }
}

/// Parses the `before` of a page link: the decimal position of the previous page's last row.
/// `Err(())` for anything else (the page then says so and shows the first page).
fn parse_before(raw: Option<&str>) -> Result<Option<i64>, ()> {
    match raw.map(str::trim).filter(|b| !b.is_empty()) {
        None => Ok(None),
        Some(b) => b.parse::<i64>().ok().filter(|n| *n > 0).map(Some).ok_or(()),
    }
}

/// One request in the queue, the archive or the home page's block.
pub(super) struct RequestLine {
    pub id: String,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub open: bool,
    pub patient_id: String,
    pub patient_name: String,
    pub summary: String,
    pub requester_name: String,
    /// The requester's relation to the patient, in words ("Self", "Guardian").
    pub relation: String,
    pub when: String,
    pub when_iso: String,
    /// Minutes since the request was made (the template words the age).
    pub age_minutes: i64,
    pub dismissed_when: String,
    pub dismissed_by: String,
    /// The helper button's words (the installed helpers decide).
    pub helper_label: &'static str,
}

impl RequestLine {
    pub(super) fn of(state: &AppState, r: &RequestView) -> Self {
        let age = portal_core::time_util::now_utc() - r.created_at;
        Self {
            id: r.id.clone(),
            kind: r.kind.as_str(),
            kind_label: r.kind_label,
            status: r.status.as_str(),
            status_label: r.status_label,
            open: r.open,
            patient_id: r.patient_id.clone(),
            patient_name: r.patient_name.clone(),
            summary: r.summary.clone(),
            requester_name: r.requester_name.clone(),
            relation: Relation::parse(&r.relation).map(|x| x.label().to_owned()).unwrap_or_else(|| r.relation.clone()),
            when: when(r.created_at),
            when_iso: when_iso(r.created_at),
            age_minutes: age.whole_minutes().max(0),
            dismissed_when: r.dismissed_at.map(when).unwrap_or_default(),
            dismissed_by: r.dismissed_by_name.clone().unwrap_or_default(),
            helper_label: state.request_helpers().label(r.kind),
        }
    }
}

/// One conversation listed on a queue page (unread portal messages, past correspondence).
pub(super) struct ConversationItem {
    pub id: String,
    pub subject: String,
    pub others: String,
    pub patient_name: String,
    pub when: String,
    pub when_iso: String,
    pub unread: i32,
    pub archived: bool,
}

impl ConversationItem {
    pub(super) fn of(c: &ConversationSummary) -> Self {
        Self {
            id: c.id.clone(),
            subject: c.subject.clone().unwrap_or_default(),
            others: c.others.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", "),
            patient_name: c.patient_name.clone().unwrap_or_default(),
            when: when(c.last_message_at),
            when_iso: when_iso(c.last_message_at),
            unread: c.unread_count.max(0),
            archived: c.archived,
        }
    }
}

/// The newest open requests and the open count, for the staff home page's block; `None` when
/// the staff member does not work the queue (or it cannot be read now: the home page stays up).
pub(super) async fn home_block(state: &AppState, actor: &portal_core::Actor) -> Option<(i64, Vec<RequestLine>)> {
    match portal_queue::staff::queue(state.db(), actor, None, 5).await {
        Ok(p) => Some((p.open_count, p.requests.iter().map(|r| RequestLine::of(state, r)).collect())),
        Err(QueueError::Access(_)) => None,
        Err(e) => {
            tracing::warn!(error = %e, "reading the request queue for the home page failed");
            None
        }
    }
}
