//! One conversation (seed 001's thread view): the messages oldest first with the unread ones
//! marked (opening marks them read: the domain does it), View Patient, Archive or Unarchive,
//! and the reply box, or, when the domain refuses replies now, the reason in words instead.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portal_core::messaging::MessagingRefused;
use portal_core::staff::Permission;
use portal_messaging::inbox::{self, MessageView, ThreadView};
use portal_messaging::send::{self, ReplyInput};
use portal_messaging::{Caller, MessagingError};
use serde::Deserialize;

use super::{ConversationLine, caller, failure, new_idempotency_key};
use crate::error::capitalise;
use crate::extract::{PageStaff, SignedInStaff};
use crate::pages::forms::{FormErrors, opt, when, when_iso};
use crate::pages::{Chrome, PageForm, PageQuery, render_status};
use crate::state::AppState;

/// The reply box as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ReplyForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    idempotency_key: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ThreadNotice {
    /// A reply was sent (or a repeated submission found the one already sent).
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    unarchived: Option<String>,
    /// "Show earlier messages": the messages before this one.
    #[serde(default)]
    before: Option<String>,
}

struct Participant {
    name: String,
    /// `staff` or `portal`.
    kind: &'static str,
}

struct MessageItem {
    id: String,
    sender: String,
    mine: bool,
    unread: bool,
    body: String,
    when: String,
    when_iso: String,
}

impl MessageItem {
    fn of(m: MessageView) -> Self {
        MessageItem {
            id: m.id,
            sender: m.sender_name,
            mine: m.mine,
            unread: m.unread,
            body: m.body,
            when: when(m.created_at),
            when_iso: when_iso(m.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "messages_thread.html")]
struct ThreadPage {
    chrome: Chrome,
    c: ConversationLine,
    participants: Vec<Participant>,
    patient_id: String,
    /// The View Patient link: the conversation is about a patient and the reader may open charts.
    view_patient: bool,
    messages: Vec<MessageItem>,
    has_earlier: bool,
    /// Showing older messages (`?before=`) rather than the newest.
    showing_earlier: bool,
    /// Why replying is not possible now, as a sentence; empty when the reply box is shown.
    reply_refused: String,
    form: ReplyForm,
    errors: FormErrors,
    /// A reply that was refused: kept, read-only, so that the text is not lost.
    unsent: String,
    /// The form's key had been used for another text (a form sent again after editing it).
    key_reused: bool,
    notice: ThreadNotice,
}

impl ThreadPage {
    fn of(s: &SignedInStaff, t: ThreadView) -> Self {
        let c = &t.conversation;
        let participants =
            c.others.iter().map(|o| Participant { name: o.name.clone(), kind: o.kind.as_str() }).collect::<Vec<_>>();
        Self {
            chrome: Chrome::bare(),
            c: ConversationLine::of(c),
            patient_id: c.patient_id.clone().unwrap_or_default(),
            view_patient: c.patient_id.is_some() && s.staff.has(Permission::ViewPatients),
            participants,
            messages: t.messages.into_iter().map(MessageItem::of).collect(),
            has_earlier: t.has_earlier,
            showing_earlier: false,
            reply_refused: t.reply_refused.as_deref().map(capitalise).unwrap_or_default(),
            form: ReplyForm { body: String::new(), idempotency_key: new_idempotency_key() },
            errors: FormErrors::none(),
            unsent: String::new(),
            key_reused: false,
            notice: ThreadNotice::default(),
        }
    }

    fn unread_count(&self) -> usize {
        self.messages.iter().filter(|m| m.unread).count()
    }

    /// The id of the newest message, for the "latest" anchor after sending.
    fn latest_id(&self) -> &str {
        self.messages.last().map(|m| m.id.as_str()).unwrap_or_default()
    }
}

/// Opens the thread (marking it read) and the page around it; the header is built afterwards, so
/// that its count already leaves this thread out.
async fn open(state: &AppState, s: &SignedInStaff, caller: &Caller, id: &str) -> Result<ThreadPage, Response> {
    let t = inbox::open_thread(state.db(), caller, id).await.map_err(failure)?;
    Ok(ThreadPage::of(s, t))
}

async fn finish(state: &AppState, s: &SignedInStaff, mut page: ThreadPage, status: StatusCode) -> Response {
    page.chrome = Chrome::for_staff(state, s, "/messages").await;
    render_status(status, &page)
}

pub(super) async fn thread_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(notice): PageQuery<ThreadNotice>,
) -> Response {
    let caller = match caller(&s) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut page = match open(&state, &s, &caller, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(before) = notice.before.as_deref().filter(|b| !b.is_empty()) {
        match inbox::messages(state.db(), &caller, &id, Some(before)).await {
            Ok(e) => {
                page.messages = e.messages.into_iter().map(MessageItem::of).collect();
                page.has_earlier = e.has_earlier;
                page.showing_earlier = true;
            }
            Err(e) => return failure(e),
        }
    }
    page.notice = notice;
    finish(&state, &s, page, StatusCode::OK).await
}

pub(super) async fn reply(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReplyForm>,
) -> Response {
    let caller = match caller(&s) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input = ReplyInput { body: form.body.clone(), idempotency_key: opt(&form.idempotency_key) };
    let outcome = send::reply(state.db(), &caller, &id, input).await;
    let (status, errors, refused, key_reused) = match outcome {
        // A repeated submission of the same form lands here too, on the message already sent.
        Ok(sent) => {
            return Redirect::to(&format!("/messages/{}?sent=1#latest", sent.conversation_id)).into_response();
        }
        Err(MessagingError::Invalid(f)) => (StatusCode::UNPROCESSABLE_ENTITY, FormErrors::from_fields(f), None, false),
        Err(MessagingError::Refused(MessagingRefused::IdempotencyKeyReused)) => {
            (StatusCode::CONFLICT, FormErrors::none(), None, true)
        }
        Err(MessagingError::Refused(r)) => (StatusCode::CONFLICT, FormErrors::none(), Some(r.to_string()), false),
        Err(e) => return failure(e),
    };
    let mut page = match open(&state, &s, &caller, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(why) = refused {
        // The thread itself now says why it is read-only; the typed text stays on the page.
        if page.reply_refused.is_empty() {
            page.reply_refused = capitalise(&why);
        }
        page.unsent = form.body.clone();
    }
    // The same key again for a corrected text is fine (nothing was sent under it), except after
    // it was refused as used, or is not a key at all: then the form gets a new one.
    let key = if key_reused || errors.has("idempotency_key") || form.idempotency_key.trim().is_empty() {
        new_idempotency_key()
    } else {
        form.idempotency_key.clone()
    };
    page.errors = errors;
    page.key_reused = key_reused;
    page.form = ReplyForm { body: form.body, idempotency_key: key };
    finish(&state, &s, page, status).await
}

pub(super) async fn archive(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
) -> Response {
    let caller = match caller(&s) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match inbox::archive(state.db(), &caller, &id).await {
        // Archiving is "done with this": back to the Active list, with a way back to the thread.
        Ok(()) => Redirect::to(&format!("/messages?archived={}", crate::extract::urlencode(&id))).into_response(),
        Err(e) => failure(e),
    }
}

pub(super) async fn unarchive(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
) -> Response {
    let caller = match caller(&s) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match inbox::unarchive(state.db(), &caller, &id).await {
        Ok(()) => Redirect::to(&format!("/messages/{}?unarchived=1", crate::extract::urlencode(&id))).into_response(),
        Err(e) => failure(e),
    }
}
