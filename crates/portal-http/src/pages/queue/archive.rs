//! The archive (seed 002's Patient Portal Archive): dismissed requests of one's locations, newest
//! request first, searchable by patient name, type or text (at least 3 characters, with Clear);
//! the status cell opens "Mark this request as un-reviewed?", whose Yes puts the request back in
//! the active queue.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portal_queue::QueueError;
use portal_queue::staff::{self, PAGE};
use serde::Deserialize;

use super::{NO_SUCH_REQUEST, RequestLine, failure, parse_before, sentence, well_formed};
use crate::extract::PageStaff;
use crate::pages::forms::{FormErrors, query};
use crate::pages::{Chrome, PageQuery, error_page, render_status};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct ArchiveParams {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    before: Option<String>,
}

#[derive(Template)]
#[template(path = "queue_archive.html")]
struct ArchivePage {
    chrome: Chrome,
    lines: Vec<RequestLine>,
    q: String,
    /// Showing search results (a valid term was given).
    searching: bool,
    errors: FormErrors,
    next_href: String,
    first_href: String,
    paged: bool,
    bad_before: bool,
}

pub(super) async fn archive_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(p): PageQuery<ArchiveParams>,
) -> Response {
    let q = p.q.clone().unwrap_or_default();
    let (before, bad_before) = match parse_before(p.before.as_deref()) {
        Ok(b) => (b, false),
        Err(()) => (None, true),
    };
    let mut status = if bad_before { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut errors = FormErrors::none();
    let term = (!q.trim().is_empty()).then_some(q.as_str());
    let found = match staff::archive(state.db(), &s.actor, term, before, PAGE).await {
        Ok(f) => Some(f),
        // Too short, too long or no word at all: said beside the field, and the archive is
        // listed below as if no search had been made.
        Err(QueueError::Invalid(f)) => {
            errors = FormErrors::from_fields(f);
            status = StatusCode::UNPROCESSABLE_ENTITY;
            None
        }
        Err(e) => return failure(e, NO_SUCH_REQUEST),
    };
    let searching = found.is_some() && term.is_some();
    let found = match found {
        Some(f) => f,
        None => match staff::archive(state.db(), &s.actor, None, before, PAGE).await {
            Ok(f) => f,
            Err(e) => return failure(e, NO_SUCH_REQUEST),
        },
    };
    let kept_q = if searching { q.trim() } else { "" };
    let page = ArchivePage {
        lines: found.requests.iter().map(|r| RequestLine::of(&state, r)).collect(),
        next_href: found
            .next_before
            .map(|n| format!("/queue/archive{}", query(&[("q", kept_q), ("before", &n.to_string())])))
            .unwrap_or_default(),
        first_href: format!("/queue/archive{}", query(&[("q", kept_q)])),
        paged: before.is_some(),
        bad_before,
        q,
        searching,
        errors,
        chrome: Chrome::for_staff(&state, &s, "/queue").await,
    };
    render_status(status, &page)
}

#[derive(Template)]
#[template(path = "queue_reopen.html")]
struct ReopenPage {
    chrome: Chrome,
    r: RequestLine,
    /// Why it cannot be un-archived (it is already open), in words; empty otherwise.
    refused: String,
}

/// The confirmation: "Mark this request as un-reviewed?" (seed 002's prompt).
pub(super) async fn reopen_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = well_formed(&id) else { return error_page(StatusCode::NOT_FOUND, NO_SUCH_REQUEST) };
    let detail = match staff::view(state.db(), &s.actor, &id).await {
        Ok(d) => d,
        Err(e) => return failure(e, NO_SUCH_REQUEST),
    };
    let refused =
        if detail.request.open { sentence(&portal_core::requests::RequestRefused::StillOpen) } else { String::new() };
    let page = ReopenPage {
        r: RequestLine::of(&state, &detail.request),
        refused,
        chrome: Chrome::for_staff(&state, &s, "/queue").await,
    };
    render_status(StatusCode::OK, &page)
}

pub(super) async fn reopen(State(state): State<AppState>, PageStaff(s): PageStaff, Path(id): Path<String>) -> Response {
    let Some(id) = well_formed(&id) else { return error_page(StatusCode::NOT_FOUND, NO_SUCH_REQUEST) };
    match staff::reopen(state.db(), &s.actor, &id).await {
        Ok(r) => Redirect::to(&format!("/queue?reopened={}", r.id)).into_response(),
        Err(e) => failure(e, NO_SUCH_REQUEST),
    }
}
