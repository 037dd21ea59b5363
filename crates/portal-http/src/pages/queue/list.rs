//! The queue (seed 002's Patient Portal Queue): open requests of one's locations, newest first,
//! 25 a page, each with its helper button, Reply and the two dismiss buttons; and the staff
//! member's own unread conversations with portal users.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portal_core::requests::Dismissal;
use portal_queue::staff::{self, PAGE};
use serde::Deserialize;

use super::{ConversationItem, NO_SUCH_REQUEST, RequestLine, failure, parse_before, well_formed};
use crate::extract::PageStaff;
use crate::pages::{Chrome, PageForm, PageQuery, error_page, render_status};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct QueueParams {
    #[serde(default)]
    before: Option<String>,
    /// The request just dismissed (`completed` or `not_completed` in `how`), for the notice.
    #[serde(default)]
    dismissed: Option<String>,
    #[serde(default)]
    how: Option<String>,
    /// The request just put back in the queue, for the notice.
    #[serde(default)]
    reopened: Option<String>,
}

#[derive(Template)]
#[template(path = "queue_list.html")]
struct QueuePage {
    chrome: Chrome,
    lines: Vec<RequestLine>,
    open_count: i64,
    next_href: String,
    paged: bool,
    bad_before: bool,
    portal_messages: Vec<ConversationItem>,
    /// The unread portal conversations could not be read now (the queue still shows).
    messages_unavailable: bool,
    dismissed_id: String,
    dismissed_how: String,
    reopened_id: String,
}

pub(super) async fn queue_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(p): PageQuery<QueueParams>,
) -> Response {
    let (before, bad_before) = match parse_before(p.before.as_deref()) {
        Ok(b) => (b, false),
        Err(()) => (None, true),
    };
    let found = match staff::queue(state.db(), &s.actor, before, PAGE).await {
        Ok(f) => f,
        Err(e) => return failure(e, NO_SUCH_REQUEST),
    };
    let (portal_messages, messages_unavailable) = match portal_messaging::Caller::staff(&s.actor) {
        Ok(caller) => match portal_messaging::inbox::unread_portal(state.db(), &caller).await {
            Ok(c) => (c.iter().map(ConversationItem::of).collect(), false),
            Err(e) => {
                tracing::warn!(error = %e, "reading unread portal conversations failed");
                (vec![], true)
            }
        },
        Err(_) => (vec![], false),
    };
    let page = QueuePage {
        lines: found.requests.iter().map(|r| RequestLine::of(&state, r)).collect(),
        open_count: found.open_count,
        next_href: found.next_before.map(|n| format!("/queue?before={n}")).unwrap_or_default(),
        paged: before.is_some(),
        bad_before,
        portal_messages,
        messages_unavailable,
        dismissed_id: p.dismissed.as_deref().and_then(well_formed).unwrap_or_default(),
        dismissed_how: match p.how.as_deref() {
            Some("not_completed") => "not_completed".into(),
            _ => "completed".into(),
        },
        reopened_id: p.reopened.as_deref().and_then(well_formed).unwrap_or_default(),
        chrome: Chrome::for_staff(&state, &s, "/queue").await,
    };
    render_status(if bad_before { StatusCode::BAD_REQUEST } else { StatusCode::OK }, &page)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DismissForm {
    #[serde(default)]
    how: String,
}

pub(super) async fn dismiss(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<DismissForm>,
) -> Response {
    let Some(id) = well_formed(&id) else { return error_page(StatusCode::NOT_FOUND, NO_SUCH_REQUEST) };
    let Ok(how) = Dismissal::parse(&form.how) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "A request is dismissed either as completed or as will not be completed, and this form said neither. Go back to the queue and use one of the two buttons.",
        );
    };
    match staff::dismiss(state.db(), &s.actor, &id, how).await {
        Ok(r) => Redirect::to(&format!("/queue?dismissed={}&how={}", r.id, r.status.as_str())).into_response(),
        Err(e) => failure(e, NO_SUCH_REQUEST),
    }
}
