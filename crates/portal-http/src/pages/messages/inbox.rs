//! The inbox (seed 001, "Message Inbox"): the Active and Archived sections, 25 conversations a
//! page, newest message first, with unread dots and counts; and search over both sections
//! ("enter a name or keyword ... at least 3 characters"; clearing it returns to the list).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use portal_core::ids::ConversationId;
use portal_core::messaging::InboxFolder;
use portal_messaging::MessagingError;
use portal_messaging::inbox::{self, PAGE};
use serde::Deserialize;

use super::{ConversationLine, caller, failure};
use crate::cursor::{decode_cursor, encode_cursor};
use crate::extract::PageStaff;
use crate::pages::forms::{FormErrors, query};
use crate::pages::{Chrome, PageQuery, error_page, render_status};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct InboxParams {
    /// `active` (or nothing) or `archived`.
    #[serde(default)]
    folder: Option<String>,
    /// A search term; blank shows the list.
    #[serde(default)]
    q: Option<String>,
    /// Where the page starts (a "next page" link's cursor).
    #[serde(default)]
    after: Option<String>,
    /// The conversation just archived, for the notice's link back to it.
    #[serde(default)]
    archived: Option<String>,
}

#[derive(Template)]
#[template(path = "messages_inbox.html")]
struct InboxPage {
    chrome: Chrome,
    /// `active` or `archived`.
    folder: &'static str,
    lines: Vec<ConversationLine>,
    /// The next page's link, empty on the last page.
    next_href: String,
    /// Showing a page after the first one (the "newest" link is offered).
    paged: bool,
    /// Showing search results instead of a section.
    searching: bool,
    /// The search term as typed.
    q: String,
    errors: FormErrors,
    /// The `after` value could not be read: the first page is shown instead.
    bad_cursor: bool,
    /// Search results stop at one page: say so when it is full.
    results_full: bool,
    /// The id of the conversation just archived, for the notice.
    archived_id: String,
}

impl InboxPage {
    fn folder_param(&self) -> &'static str {
        if self.folder == "archived" { "archived" } else { "" }
    }

    /// The link to the first page of the section shown.
    fn first_href(&self) -> String {
        format!("/messages{}", query(&[("folder", self.folder_param())]))
    }
}

pub(super) async fn inbox_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(p): PageQuery<InboxParams>,
) -> Response {
    let caller = match caller(&s) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(folder) = InboxFolder::parse(p.folder.as_deref().unwrap_or("")) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The inbox has two sections, Active and Archived, and this address names neither. Open Messages from the menu.",
        );
    };
    let mut page = InboxPage {
        // Replaced at the end, once the unread count is final.
        chrome: Chrome::bare(),
        folder: folder.as_str(),
        lines: vec![],
        next_href: String::new(),
        paged: false,
        searching: false,
        q: p.q.clone().unwrap_or_default(),
        errors: FormErrors::none(),
        bad_cursor: false,
        results_full: false,
        archived_id: p
            .archived
            .as_deref()
            .and_then(|id| ConversationId::parse(id).ok())
            .map(ConversationId::into_string)
            .unwrap_or_default(),
    };
    let mut status = StatusCode::OK;
    if !page.q.trim().is_empty() {
        match inbox::search(state.db(), &caller, &page.q).await {
            Ok(found) => {
                page.searching = true;
                page.results_full = found.len() as i64 >= PAGE;
                page.lines = found.iter().map(ConversationLine::of).collect();
            }
            // Too short, too long or no word at all: said beside the field, and the section is
            // listed below as if no search had been made.
            Err(MessagingError::Invalid(f)) => {
                page.errors = FormErrors::from_fields(f);
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
            Err(e) => return failure(e),
        }
    }
    if !page.searching {
        let after = match p.after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => {
                let c = decode_cursor(raw);
                if c.is_none() {
                    page.bad_cursor = true;
                    status = StatusCode::BAD_REQUEST;
                }
                c
            }
        };
        page.paged = after.is_some();
        match inbox::inbox(state.db(), &caller, folder, after).await {
            Ok(found) => {
                page.lines = found.conversations.iter().map(ConversationLine::of).collect();
                if let Some(next) = &found.next {
                    page.next_href = format!(
                        "/messages{}",
                        query(&[("folder", page.folder_param()), ("after", &encode_cursor(next))])
                    );
                }
            }
            Err(e) => return failure(e),
        }
    }
    // Built last: the header's unread count is read after everything above.
    page.chrome = Chrome::for_staff(&state, &s, "/messages").await;
    render_status(status, &page)
}
