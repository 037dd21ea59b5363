//! One request (seed 002): its fields, status, timeline and the tasks its helper opened; the
//! reply form ("Send a Secure Message": notify by e-mail and associate with the request checked
//! by default, and what the reply does to the request); "Show past correspondence with this
//! patient"; and the helper button's next step.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portal_core::messaging::MessagingRefused;
use portal_core::requests::Disposition;
use portal_messaging::MessagingError;
use portal_queue::staff::{self, RequestDetail};
use portal_queue::{HelperOutcome, QueueError};
use serde::Deserialize;

use super::{ConversationItem, NO_SUCH_REQUEST, RequestLine, failure, sentence, well_formed};
use crate::extract::{PageStaff, SignedInStaff};
use crate::pages::forms::{FormErrors, SelectOption, opt, when, when_iso};
use crate::pages::{Chrome, PageForm, PageQuery, error_page, render_status};
use crate::queue_reply::{self, QueueReply, QueueReplyError};
use crate::state::AppState;

/// The reply form as typed. The checkboxes are absent when unticked.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ReplyForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    notify_by_email: Option<String>,
    #[serde(default)]
    link_to_request: Option<String>,
    #[serde(default)]
    disposition: String,
    #[serde(default)]
    idempotency_key: String,
}

/// What the form shows: the seed's defaults on a fresh form, what was typed after a refusal.
struct ReplyFields {
    body: String,
    subject: String,
    notify_by_email: bool,
    link_to_request: bool,
    dispositions: Vec<SelectOption>,
    idempotency_key: String,
}

impl ReplyFields {
    fn fresh() -> Self {
        Self {
            body: String::new(),
            subject: String::new(),
            notify_by_email: true,
            link_to_request: true,
            dispositions: dispositions(Disposition::LeaveOpen.as_str()),
            idempotency_key: portal_store::ids::new_id(),
        }
    }
}

fn dispositions(selected: &str) -> Vec<SelectOption> {
    Disposition::ALL.into_iter().map(|d| SelectOption::new(d.as_str(), d.label(), selected)).collect()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RequestNotice {
    /// A reply was sent (`1`), with the conversation it went to.
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    conversation: Option<String>,
    /// "Show past correspondence with this patient".
    #[serde(default)]
    past: Option<String>,
}

struct TimelineItem {
    label: &'static str,
    kind: &'static str,
    by: String,
    when: String,
    when_iso: String,
    reply: String,
    conversation_id: String,
}

struct TaskItem {
    id: String,
    title: String,
    kind_label: &'static str,
    done: bool,
    when: String,
}

#[derive(Template)]
#[template(path = "queue_request.html")]
struct RequestPage {
    chrome: Chrome,
    r: RequestLine,
    fields: Vec<(String, String)>,
    timeline: Vec<TimelineItem>,
    tasks: Vec<TaskItem>,
    form: ReplyFields,
    errors: FormErrors,
    /// Why the reply was not sent (a rule of messaging or of the queue), as a sentence.
    refused: String,
    /// The message went out but the request was not updated: the words, and the conversation.
    not_recorded: String,
    not_recorded_conversation: String,
    sent: bool,
    sent_conversation: String,
    /// "Show past correspondence with this patient" was asked for.
    show_past: bool,
    past: Vec<ConversationItem>,
    past_unavailable: bool,
}

impl RequestPage {
    fn of(state: &AppState, d: RequestDetail) -> Self {
        Self {
            chrome: Chrome::bare(),
            r: RequestLine::of(state, &d.request),
            fields: d.request.fields.iter().map(|f| (f.label.to_owned(), f.value.clone())).collect(),
            timeline: d
                .timeline
                .into_iter()
                .map(|t| TimelineItem {
                    label: t.label,
                    kind: t.kind.as_str(),
                    by: t.by,
                    when: when(t.at),
                    when_iso: when_iso(t.at),
                    reply: t.reply.unwrap_or_default(),
                    conversation_id: t.conversation_id.unwrap_or_default(),
                })
                .collect(),
            tasks: d
                .tasks
                .into_iter()
                .map(|t| TaskItem {
                    id: t.id,
                    title: t.title,
                    kind_label: t.kind_label,
                    done: t.done,
                    when: when(t.updated_at),
                })
                .collect(),
            form: ReplyFields::fresh(),
            errors: FormErrors::none(),
            refused: String::new(),
            not_recorded: String::new(),
            not_recorded_conversation: String::new(),
            sent: false,
            sent_conversation: String::new(),
            show_past: false,
            past: vec![],
            past_unavailable: false,
        }
    }
}

/// The request and its page, or the page to answer with (404 for another location's request).
async fn load(state: &AppState, s: &SignedInStaff, id: &str) -> Result<RequestPage, Response> {
    let Some(id) = well_formed(id) else { return Err(error_page(StatusCode::NOT_FOUND, NO_SUCH_REQUEST)) };
    match staff::view(state.db(), &s.actor, &id).await {
        Ok(d) => Ok(RequestPage::of(state, d)),
        Err(e) => Err(failure(e, NO_SUCH_REQUEST)),
    }
}

async fn finish(state: &AppState, s: &SignedInStaff, mut page: RequestPage, status: StatusCode) -> Response {
    page.chrome = Chrome::for_staff(state, s, "/queue").await;
    render_status(status, &page)
}

/// The staff member's own earlier conversations about the request's patient.
async fn past_correspondence(state: &AppState, s: &SignedInStaff, page: &mut RequestPage) {
    page.show_past = true;
    let Ok(caller) = portal_messaging::Caller::staff(&s.actor) else { return };
    match portal_messaging::inbox::about_patient(state.db(), &caller, &page.r.patient_id).await {
        Ok(found) => page.past = found.iter().map(ConversationItem::of).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading past correspondence failed");
            page.past_unavailable = true;
        }
    }
}

pub(super) async fn request_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(notice): PageQuery<RequestNotice>,
) -> Response {
    let mut page = match load(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.sent = notice.sent.is_some();
    page.sent_conversation = notice.conversation.as_deref().and_then(well_formed).unwrap_or_default();
    if notice.past.is_some() {
        past_correspondence(&state, &s, &mut page).await;
    }
    finish(&state, &s, page, StatusCode::OK).await
}

pub(super) async fn reply(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<ReplyForm>,
) -> Response {
    let Some(id) = well_formed(&id) else { return error_page(StatusCode::NOT_FOUND, NO_SUCH_REQUEST) };
    let notify = form.notify_by_email.as_deref().is_some_and(|v| !v.is_empty());
    let link = form.link_to_request.as_deref().is_some_and(|v| !v.is_empty());
    let mut errors = FormErrors::none();
    let disposition = match Disposition::parse(&form.disposition) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.add("disposition", e);
            None
        }
    };
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    let mut refused = String::new();
    let mut not_recorded = (String::new(), String::new());
    let mut key_reused = false;
    if let Some(disposition) = disposition {
        let input = QueueReply {
            body: form.body.clone(),
            subject: opt(&form.subject),
            notify_by_email: notify,
            link_to_request: link,
            disposition,
            idempotency_key: opt(&form.idempotency_key),
        };
        match queue_reply::reply(state.db(), &s.actor, &id, input).await {
            // A repeated submission of the same form lands here too, on the message already sent.
            Ok((sent, view)) => {
                let to = if view.open {
                    format!("/queue/{}?sent=1&conversation={}#reply", view.id, sent.conversation_id)
                } else {
                    format!("/queue?dismissed={}&how={}", view.id, view.status.as_str())
                };
                return Redirect::to(&to).into_response();
            }
            Err(QueueReplyError::Messaging(MessagingError::Invalid(f))) => errors = FormErrors::from_fields(f),
            Err(QueueReplyError::Messaging(MessagingError::Refused(r @ MessagingRefused::IdempotencyKeyReused))) => {
                status = StatusCode::CONFLICT;
                refused = sentence(&r);
                key_reused = true;
            }
            Err(QueueReplyError::Messaging(MessagingError::Refused(r))) => {
                status = StatusCode::CONFLICT;
                refused = sentence(&r);
            }
            Err(QueueReplyError::Messaging(MessagingError::Access(a)))
                if !matches!(a, portal_core::AccessError::NotFound) =>
            {
                status = StatusCode::FORBIDDEN;
                refused = sentence(&a);
            }
            Err(QueueReplyError::Queue(QueueError::Refused(r))) => {
                status = StatusCode::CONFLICT;
                refused = sentence(&r);
            }
            Err(QueueReplyError::Queue(QueueError::Invalid(f))) => errors = FormErrors::from_fields(f),
            Err(QueueReplyError::Queue(e)) => return failure(e, NO_SUCH_REQUEST),
            Err(e @ QueueReplyError::NotRecorded { .. }) => {
                status = StatusCode::CONFLICT;
                let conversation = match &e {
                    QueueReplyError::NotRecorded { sent, .. } => sent.conversation_id.clone(),
                    _ => String::new(),
                };
                not_recorded = (sentence(&e), conversation);
            }
            Err(QueueReplyError::Messaging(e)) => {
                return crate::pages::problem_page(crate::error::Problem::from(e));
            }
        }
    }
    let mut page = match load(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // The same key again for a corrected text is fine (nothing was sent under it), except after
    // it was refused as used, or when the message went out already.
    let key = if key_reused || !not_recorded.0.is_empty() || form.idempotency_key.trim().is_empty() {
        portal_store::ids::new_id()
    } else {
        form.idempotency_key.clone()
    };
    let sent_anyway = !not_recorded.0.is_empty();
    page.form = ReplyFields {
        body: if sent_anyway { String::new() } else { form.body },
        subject: if sent_anyway { String::new() } else { form.subject },
        notify_by_email: notify,
        link_to_request: link,
        dispositions: dispositions(disposition.map(|d| d.as_str()).unwrap_or(Disposition::LeaveOpen.as_str())),
        idempotency_key: key,
    };
    page.errors = errors;
    page.refused = refused;
    page.not_recorded = not_recorded.0;
    page.not_recorded_conversation = not_recorded.1;
    finish(&state, &s, page, status).await
}

/// The helper button: a task page for a refill, appointment or records request; the reply form
/// for a question. A refusal (no Edit Patients for a clinical task; a dismissed request) is a
/// page that says why.
pub(super) async fn helper(State(state): State<AppState>, PageStaff(s): PageStaff, Path(id): Path<String>) -> Response {
    let Some(id) = well_formed(&id) else { return error_page(StatusCode::NOT_FOUND, NO_SUCH_REQUEST) };
    match state.request_helpers().run(state.db(), &s.actor, &id).await {
        Ok(HelperOutcome::Task { task }) => Redirect::to(&format!("/queue/tasks/{}", task.id)).into_response(),
        Ok(HelperOutcome::Reply) => Redirect::to(&format!("/queue/{id}#reply")).into_response(),
        Err(e) => failure(e, NO_SUCH_REQUEST),
    }
}
