//! Secure messages for portal users (seed 001 "My Messages", issue 4): the inbox (Active and
//! Archived, 25 a page, search), a thread, New Message to a staff member about one of the
//! user's patients, reply, archive and unarchive, and the header's unread count.
//!
//! Every rule (which patients, which staff, who may still reply, what a message may hold) is the
//! messaging domain's; these pages only translate its answers. A conversation the user may not
//! see answers exactly like a missing one (the portal's 404 page). Each send form carries an
//! idempotency key made when the form is rendered, so that a double click or a re-sent POST
//! sends one message. A refused send shows the page again with what was typed.

use crate::cursor::{decode_cursor, encode_cursor};
use askama::Template;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_core::FieldErrors;
use portal_core::messaging::{InboxFolder, MessagingRefused, ParticipantKind, parse_message};
use portal_core::patient::InvalidValue;
use portal_messaging::inbox::{self, ConversationSummary, ThreadView};
use portal_messaging::send::{self, PortalUserMessageInput, ReplyInput, StaffRecipient};
use portal_messaging::{Caller, MessagingError};
use serde::Deserialize;

use super::{PortalChrome, PortalOpen, SwitchItem, not_found};
use crate::extract::{PagePortal, SignedInPortal};
use crate::pages::forms::{FormErrors, SelectOption, opt, query, when, when_iso};
use crate::pages::{PageForm, PageQuery, problem_page, render_status};
use crate::state::AppState;

type IdPath = Result<Path<String>, PathRejection>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/messages", get(inbox_page))
        .route("/portal/messages/new", get(new_page).post(send_new))
        .route("/portal/messages/{id}", get(thread_page))
        .route("/portal/messages/{id}/reply", post(reply))
        .route("/portal/messages/{id}/archive", post(archive))
        .route("/portal/messages/{id}/unarchive", post(unarchive))
}

fn caller(s: &SignedInPortal) -> Caller {
    Caller::portal(s.principal().clone(), s.ip.clone())
}

/// The header's count for `s`. A failure costs the badge, not the page it decorates: the
/// cause is logged (a store error names no person) and the badge stays hidden.
pub(super) async fn header_unread(state: &AppState, s: &SignedInPortal) -> i64 {
    if s.principal().must_change_password {
        return 0;
    }
    match inbox::unread_count(state.db(), &caller(s)).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "the portal header's unread count failed");
            0
        }
    }
}

/// A temporary password is replaced before anything else opens (as on every portal page).
fn password_first(s: &SignedInPortal) -> Option<Response> {
    s.principal().must_change_password.then(|| Redirect::to("/portal/choose-password").into_response())
}

/// A domain error no form handles: the portal's 404 for anything the user may not reach (a
/// conversation or patient that is missing, someone else's, or behind a revoked grant), else
/// the readable error page.
async fn unreachable_or_problem(state: &AppState, e: MessagingError) -> Response {
    match e {
        MessagingError::Access(_) => not_found(state).await,
        other => problem_page(other.into()),
    }
}

/// Field errors of a send, with an empty message flagged for the template to word ("Write your
/// message"), rather than "is required" after a label.
fn send_errors(f: FieldErrors) -> FormErrors {
    let missing = InvalidValue::Missing.to_string();
    let empty_body = f.get("body") == Some(missing.as_str());
    let mut errors = FormErrors::from_fields(f);
    if empty_body {
        errors.reflag("body");
    }
    errors
}

/// A fresh idempotency key for a form about to be rendered.
fn new_key() -> String {
    portal_store::ids::new_id()
}

/// The patients whose messages the user may reach now (grants in force covering messages), as
/// the switcher names them, in the switcher's order.
fn messaging_patients(chrome: &PortalChrome, s: &SignedInPortal) -> Vec<SwitchItem> {
    let ids = caller(s).message_patients().unwrap_or_default();
    chrome.patients.iter().filter(|p| ids.contains(&p.id)).cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// The inbox
// ---------------------------------------------------------------------------------------------

/// One conversation in the list.
struct Row {
    id: String,
    /// The staff member(s) the user writes with.
    with: String,
    /// Which of the user's patients it is about (a guardian of two children sees which one).
    patient: String,
    subject: String,
    when: String,
    when_iso: String,
    unread: i32,
    archived: bool,
}

fn names_of_staff(c: &ConversationSummary) -> String {
    let names: Vec<&str> =
        c.others.iter().filter(|p| p.kind == ParticipantKind::Staff).map(|p| p.name.as_str()).collect();
    names.join(", ")
}

impl Row {
    fn of(c: ConversationSummary) -> Self {
        Self {
            with: names_of_staff(&c),
            patient: c.patient_name.clone().unwrap_or_default(),
            subject: c.subject.clone().unwrap_or_default(),
            when: when(c.last_message_at),
            when_iso: when_iso(c.last_message_at),
            unread: c.unread_count,
            archived: c.archived,
            id: c.id,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct InboxQuery {
    #[serde(default)]
    folder: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    done: String,
}

#[derive(Template)]
#[template(path = "portal_messages_inbox.html")]
struct InboxPage {
    chrome: PortalChrome,
    /// `active` or `archived`.
    folder: &'static str,
    q: String,
    /// Showing search results (Active and Archived together).
    searching: bool,
    errors: FormErrors,
    rows: Vec<Row>,
    /// Older conversations of this section, or empty.
    next_href: String,
    /// Back to the newest page, when this is a later one.
    newest_href: String,
    /// The `after` of the address could not be read: the newest page is shown instead.
    bad_cursor: bool,
    /// `archived` after archiving a conversation, else empty.
    notice: &'static str,
    /// The user may start a conversation (a patient whose grant covers messages).
    may_write: bool,
}

async fn inbox_page(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageQuery(q): PageQuery<InboxQuery>,
) -> Response {
    if let Some(r) = password_first(&s) {
        return r;
    }
    let chrome = match PortalChrome::signed_in(&state, &s, None, "messages").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // An unknown section name is read as the default one, like a missing one.
    let folder = InboxFolder::parse(&q.folder).unwrap_or_default();
    let caller = caller(&s);
    let mut errors = FormErrors::none();
    let term = q.q.trim();
    if !term.is_empty() {
        match inbox::search(state.db(), &caller, term).await {
            Ok(found) => {
                let page = InboxPage {
                    may_write: !messaging_patients(&chrome, &s).is_empty(),
                    chrome,
                    folder: folder.as_str(),
                    q: q.q.clone(),
                    searching: true,
                    errors,
                    rows: found.into_iter().map(Row::of).collect(),
                    next_href: String::new(),
                    newest_href: String::new(),
                    bad_cursor: false,
                    notice: "",
                };
                return render_status(StatusCode::OK, &page);
            }
            // Too short, too long, no words: said beside the field; the section is listed below.
            Err(MessagingError::Invalid(f)) => {
                for e in f.0 {
                    errors.add_sentence(&e.field, e.detail);
                }
            }
            Err(e) => return unreachable_or_problem(&state, e).await,
        }
    }
    let after = q.after.trim();
    let cursor = if after.is_empty() { None } else { decode_cursor(after) };
    let bad_cursor = !after.is_empty() && cursor.is_none();
    let later_page = cursor.is_some();
    let page = match inbox::inbox(state.db(), &caller, folder, cursor).await {
        Ok(p) => p,
        Err(e) => return unreachable_or_problem(&state, e).await,
    };
    let folder_q = if folder == InboxFolder::Archived { "archived" } else { "" };
    let next_href = match &page.next {
        Some(c) => format!("/portal/messages{}", query(&[("folder", folder_q), ("after", &encode_cursor(c))])),
        None => String::new(),
    };
    let newest_href =
        if later_page { format!("/portal/messages{}", query(&[("folder", folder_q)])) } else { String::new() };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = InboxPage {
        may_write: !messaging_patients(&chrome, &s).is_empty(),
        chrome,
        folder: folder.as_str(),
        q: q.q.clone(),
        searching: false,
        errors,
        rows: page.conversations.into_iter().map(Row::of).collect(),
        next_href,
        newest_href,
        bad_cursor,
        notice: if q.done == "archived" { "archived" } else { "" },
    };
    render_status(status, &page)
}

// ---------------------------------------------------------------------------------------------
// A thread
// ---------------------------------------------------------------------------------------------

/// One message of a thread.
struct MessageRow {
    id: String,
    from: String,
    mine: bool,
    body: String,
    when: String,
    when_iso: String,
    unread: bool,
}

impl MessageRow {
    fn of(m: portal_messaging::inbox::MessageView) -> Self {
        MessageRow {
            from: m.sender_name,
            mine: m.mine,
            body: m.body,
            when: when(m.created_at),
            when_iso: when_iso(m.created_at),
            unread: m.unread,
            id: m.id,
        }
    }
}

#[derive(Template)]
#[template(path = "portal_messages_thread.html")]
struct ThreadPage {
    chrome: PortalChrome,
    id: String,
    subject: String,
    with: String,
    patient_id: String,
    patient_name: String,
    archived: bool,
    has_earlier: bool,
    /// Showing older messages (`?before=`) rather than the newest.
    showing_earlier: bool,
    /// Why the user cannot reply any more (the thread is read-only), in words.
    reply_refused: Option<String>,
    messages: Vec<MessageRow>,
    /// The reply being written (kept when it was refused).
    body: String,
    key: String,
    errors: FormErrors,
    /// `unarchived` after moving the conversation back to Active, else empty.
    notice: &'static str,
}

impl ThreadPage {
    async fn build(state: &AppState, s: &SignedInPortal, t: ThreadView) -> Result<Self, Response> {
        let c = t.conversation;
        let chrome = PortalChrome::signed_in(state, s, c.patient_id.as_deref(), "messages").await?;
        Ok(Self {
            chrome,
            subject: c.subject.clone().unwrap_or_default(),
            with: names_of_staff(&c),
            patient_id: c.patient_id.clone().unwrap_or_default(),
            patient_name: c.patient_name.clone().unwrap_or_default(),
            archived: c.archived,
            has_earlier: t.has_earlier,
            showing_earlier: false,
            reply_refused: t.reply_refused.map(|r| crate::error::capitalise(&r)),
            messages: t.messages.into_iter().map(MessageRow::of).collect(),
            id: c.id,
            body: String::new(),
            key: new_key(),
            errors: FormErrors::none(),
            notice: "",
        })
    }
}

/// Opens the thread (marking it read) and builds its page.
async fn open(state: &AppState, s: &SignedInPortal, id: &str) -> Result<ThreadPage, Response> {
    match inbox::open_thread(state.db(), &caller(s), id).await {
        Ok(t) => ThreadPage::build(state, s, t).await,
        Err(e) => Err(unreachable_or_problem(state, e).await),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ThreadQuery {
    #[serde(default)]
    done: String,
    /// "Show earlier messages": the messages before this one.
    #[serde(default)]
    before: String,
}

async fn thread_page(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    id: IdPath,
    PageQuery(q): PageQuery<ThreadQuery>,
) -> Response {
    let Ok(Path(id)) = id else { return not_found(&state).await };
    if let Some(r) = password_first(&s) {
        return r;
    }
    let mut page = match open(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.notice = if q.done == "unarchived" { "unarchived" } else { "" };
    if !q.before.is_empty() {
        match inbox::messages(state.db(), &caller(&s), &id, Some(&q.before)).await {
            Ok(e) => {
                page.messages = e.messages.into_iter().map(MessageRow::of).collect();
                page.has_earlier = e.has_earlier;
                page.showing_earlier = true;
            }
            Err(e) => return unreachable_or_problem(&state, e).await,
        }
    }
    render_status(StatusCode::OK, &page)
}

#[derive(Debug, Default, Deserialize)]
struct ReplyForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    idempotency_key: String,
}

async fn reply(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    id: IdPath,
    PageForm(form): PageForm<ReplyForm>,
) -> Response {
    let Ok(Path(id)) = id else { return not_found(&state).await };
    if let Some(r) = password_first(&s) {
        return r;
    }
    let input = ReplyInput { body: form.body.clone(), idempotency_key: opt(&form.idempotency_key) };
    let (errors, status, key) = match send::reply(state.db(), &caller(&s), &id, input).await {
        Ok(sent) => {
            return Redirect::to(&format!("/portal/messages/{}#message-{}", sent.conversation_id, sent.message.id))
                .into_response();
        }
        Err(MessagingError::Invalid(f)) => {
            (send_errors(f), StatusCode::UNPROCESSABLE_ENTITY, form.idempotency_key.clone())
        }
        Err(MessagingError::Refused(r)) => refused_send(&r, &form.idempotency_key),
        Err(e) => return unreachable_or_problem(&state, e).await,
    };
    let mut page = match open(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.body = form.body;
    page.errors = errors;
    if !key.trim().is_empty() {
        page.key = key;
    }
    render_status(status, &page)
}

/// A send a rule refused: the error for the form, its status, and the key the form carries
/// next. A key already used for another text (a changed message sent again after the first
/// one went through) gets a fresh key: sending again then sends this text as a new message.
fn refused_send(r: &MessagingRefused, key: &str) -> (FormErrors, StatusCode, String) {
    match r {
        MessagingRefused::IdempotencyKeyReused => {
            let mut e = FormErrors::none();
            e.flag("idempotency_key");
            (e, StatusCode::UNPROCESSABLE_ENTITY, new_key())
        }
        MessagingRefused::RecipientNotAvailable => {
            let mut e = FormErrors::none();
            e.flag("staff_id");
            (e, StatusCode::CONFLICT, key.to_owned())
        }
        other => (FormErrors::with_sentence("send", other), StatusCode::CONFLICT, key.to_owned()),
    }
}

async fn archive(_: PortalOpen, State(state): State<AppState>, PagePortal(s): PagePortal, id: IdPath) -> Response {
    let Ok(Path(id)) = id else { return not_found(&state).await };
    if let Some(r) = password_first(&s) {
        return r;
    }
    match inbox::archive(state.db(), &caller(&s), &id).await {
        Ok(()) => Redirect::to("/portal/messages?done=archived").into_response(),
        Err(e) => unreachable_or_problem(&state, e).await,
    }
}

async fn unarchive(_: PortalOpen, State(state): State<AppState>, PagePortal(s): PagePortal, id: IdPath) -> Response {
    let Ok(Path(id)) = id else { return not_found(&state).await };
    if let Some(r) = password_first(&s) {
        return r;
    }
    match inbox::unarchive(state.db(), &caller(&s), &id).await {
        // The id was read by the domain as a conversation id: safe in the address.
        Ok(()) => Redirect::to(&format!("/portal/messages/{id}?done=unarchived")).into_response(),
        Err(e) => unreachable_or_problem(&state, e).await,
    }
}

// ---------------------------------------------------------------------------------------------
// New Message
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
struct NewForm {
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    staff_id: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    idempotency_key: String,
}

#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    #[serde(default)]
    patient: Option<String>,
    /// Sent by the chooser's button: with no `patient`, "Continue" was pressed without a
    /// choice (an unticked radio button sends nothing).
    #[serde(default)]
    chosen: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_messages_new.html")]
struct NewPage {
    chrome: PortalChrome,
    /// The patients the user may write about.
    patients: Vec<SwitchItem>,
    /// The one chosen (or the only one); `None`: the page asks which.
    patient: Option<SwitchItem>,
    staff: Vec<SelectOption>,
    form: NewForm,
    errors: FormErrors,
    /// The clinic's phone, for the page that says nobody can be written to.
    phone: Option<String>,
}

impl NewPage {
    /// The page for `patient_id` (blank: the only patient, or the choice), with `staff` offered.
    async fn build(state: &AppState, s: &SignedInPortal, patient_id: &str) -> Result<Self, Response> {
        let mut chrome = PortalChrome::signed_in(state, s, None, "messages").await?;
        let patients = messaging_patients(&chrome, s);
        let chosen = match (patient_id.trim(), patients.as_slice()) {
            ("", [only]) => Some(only.clone()),
            ("", _) => None,
            (id, _) => match patients.iter().find(|p| p.id == id) {
                Some(p) => Some(p.clone()),
                // Not a patient whose messages the user reaches: like a missing one.
                None => return Err(not_found(state).await),
            },
        };
        // The switcher marks the patient written about.
        for p in &mut chrome.patients {
            p.current = chosen.as_ref().is_some_and(|c| c.id == p.id);
        }
        let staff: Vec<StaffRecipient> = match &chosen {
            Some(p) => match send::staff_for_portal_user(state.db(), s.principal(), &p.id).await {
                Ok(v) => v,
                Err(e) => return Err(unreachable_or_problem(state, e).await),
            },
            None => vec![],
        };
        let phone = portal_practice::company::company(state.db()).await.ok().and_then(|c| c.phone);
        Ok(Self {
            chrome,
            form: NewForm {
                patient_id: chosen.as_ref().map(|p| p.id.clone()).unwrap_or_default(),
                idempotency_key: new_key(),
                ..NewForm::default()
            },
            // One person to write to is chosen already; several wait for a choice.
            staff: match staff.as_slice() {
                [only] => vec![SelectOption::new(only.staff_id.clone(), only.name.clone(), &only.staff_id)],
                _ => staff.into_iter().map(|r| SelectOption::new(r.staff_id, r.name, "")).collect(),
            },
            patients,
            patient: chosen,
            errors: FormErrors::none(),
            phone,
        })
    }

    /// Keeps what was typed (and the choice of staff member) on the page shown again.
    fn keep(mut self, form: NewForm) -> Self {
        if !form.staff_id.trim().is_empty() || self.staff.len() > 1 {
            for o in &mut self.staff {
                o.selected = o.value == form.staff_id;
            }
        }
        let key = if form.idempotency_key.trim().is_empty() {
            self.form.idempotency_key.clone()
        } else {
            form.idempotency_key.clone()
        };
        self.form = NewForm { patient_id: self.form.patient_id.clone(), idempotency_key: key, ..form };
        self
    }
}

async fn new_page(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageQuery(q): PageQuery<NewQuery>,
) -> Response {
    if let Some(r) = password_first(&s) {
        return r;
    }
    let mut page = match NewPage::build(&state, &s, q.patient.as_deref().unwrap_or_default()).await {
        Ok(page) => page,
        Err(r) => return r,
    };
    // Nobody is chosen for the user who writes about several people: a message about the wrong
    // child is worse than one more click.
    if page.patient.is_none() && (q.patient.is_some() || q.chosen.is_some()) {
        page.errors.flag("patient");
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    render_status(StatusCode::OK, &page)
}

async fn send_new(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageForm(form): PageForm<NewForm>,
) -> Response {
    if let Some(r) = password_first(&s) {
        return r;
    }
    // Nobody chosen: said together with any problem of the text, before asking the domain
    // (which reads the text first and would report one thing at a time).
    let (errors, status, key) = if form.staff_id.trim().is_empty() {
        let mut errors = match parse_message(Some(&form.subject), &form.body) {
            Ok(_) => FormErrors::none(),
            Err(f) => send_errors(f),
        };
        errors.flag("staff_id");
        (errors, StatusCode::UNPROCESSABLE_ENTITY, form.idempotency_key.clone())
    } else {
        let input = PortalUserMessageInput {
            patient_id: form.patient_id.clone(),
            staff_id: form.staff_id.clone(),
            subject: opt(&form.subject),
            body: form.body.clone(),
            idempotency_key: opt(&form.idempotency_key),
        };
        match send::start_as_portal_user(state.db(), s.principal(), s.ip.clone(), input).await {
            Ok(sent) => return Redirect::to(&format!("/portal/messages/{}", sent.conversation_id)).into_response(),
            Err(MessagingError::Invalid(f)) => {
                (send_errors(f), StatusCode::UNPROCESSABLE_ENTITY, form.idempotency_key.clone())
            }
            Err(MessagingError::Refused(r)) => refused_send(&r, &form.idempotency_key),
            Err(e) => return unreachable_or_problem(&state, e).await,
        }
    };
    // A patient id that names none of the user's patients shows the 404 page (in `build`).
    let page = match NewPage::build(&state, &s, &form.patient_id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut page = page.keep(NewForm { idempotency_key: key, ..form });
    page.errors = errors;
    render_status(status, &page)
}
