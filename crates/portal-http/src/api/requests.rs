//! The Patient Portal Queue for staff (seed 002; tag `requests`): open requests of the caller's
//! locations, the searchable archive, one request with its timeline and tasks, dismissal as
//! completed or as will not be completed, un-archiving ("mark as un-reviewed"), the helper
//! button, a reply by secure message with its disposition, and the helpers' tasks.
//!
//! Every route translates: the rules are portal-queue's (View Patients and the request's
//! location to see and work a request, Edit Patients for the helpers' clinical tasks) and
//! portal-messaging's for the reply (Available for Portal Messages). A request of a location the
//! caller cannot access answers 404 like a missing one. The portal users' side is
//! `api/portal_requests.rs`; the shapes both share are here.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_core::FieldErrors;
use portal_core::requests::{Dismissal, Disposition, RequestDetails};
use portal_core::time_util::rfc3339;
use portal_queue::helpers::{self, TaskDetail};
use portal_queue::staff::{self as queue, QueuePage, RequestDetail};
use portal_queue::{HelperOutcome, RequestView, TaskView, TimelineEntry};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::messaging::shapes::{IdempotencyKeyHeader, MessageDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiStaff};
use crate::queue_reply::{self, QueueReply};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_queue))
        .routes(routes!(list_archive))
        .routes(routes!(get_request))
        .routes(routes!(dismiss))
        .routes(routes!(reopen))
        .routes(routes!(run_helper))
        .routes(routes!(reply))
        .routes(routes!(get_task, save_task))
}

// ---------------------------------------------------------------------------------------------
// Shapes shared with the portal users' routes
// ---------------------------------------------------------------------------------------------

/// A labelled field of a request ("Medication": "Lisinopril 10 mg").
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestFieldDto {
    pub label: String,
    pub value: String,
}

/// What a request asks for, field by field (each kind fills its own; the others are `null`).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RequestDetailsDto {
    pub medication: Option<String>,
    pub pharmacy: Option<String>,
    pub note: Option<String>,
    pub reason: Option<String>,
    pub preferred_times: Option<String>,
    pub location_id: Option<String>,
    pub preferred_provider_id: Option<String>,
    pub records: Option<String>,
    pub question: Option<String>,
}

impl From<&RequestDetails> for RequestDetailsDto {
    fn from(d: &RequestDetails) -> Self {
        match d {
            RequestDetails::Refill { medication, pharmacy, note } => Self {
                medication: Some(medication.as_str().to_owned()),
                pharmacy: pharmacy.as_ref().map(|p| p.as_str().to_owned()),
                note: note.as_ref().map(|n| n.as_str().to_owned()),
                ..Self::default()
            },
            RequestDetails::Appointment { reason, preferred_times, location_id, preferred_provider_id } => Self {
                reason: Some(reason.as_str().to_owned()),
                preferred_times: preferred_times.as_ref().map(|p| p.as_str().to_owned()),
                location_id: location_id.clone(),
                preferred_provider_id: preferred_provider_id.clone(),
                ..Self::default()
            },
            RequestDetails::Records { records, note } => Self {
                records: Some(records.as_str().to_owned()),
                note: note.as_ref().map(|n| n.as_str().to_owned()),
                ..Self::default()
            },
            RequestDetails::Billing { question } | RequestDetails::General { question } => {
                Self { question: Some(question.as_str().to_owned()), ..Self::default() }
            }
        }
    }
}

/// A request as staff and its portal users see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDto {
    pub id: String,
    /// `refill`, `appointment`, `records`, `billing` or `general`.
    pub kind: String,
    pub kind_label: String,
    /// `submitted`, `in_review` (open: in the queue), `completed` or `not_completed` (dismissed:
    /// in the archive).
    pub status: String,
    pub status_label: String,
    pub open: bool,
    pub patient_id: String,
    pub patient_name: String,
    pub location_id: String,
    /// The portal user who made it.
    pub requester_account_id: String,
    pub requester_name: String,
    /// The requester's relation to the patient: `self`, `guardian`, `guarantor` or `other`.
    pub relation: String,
    /// One line: what is asked.
    pub summary: String,
    /// The labelled fields, in order, as the pages show them.
    pub fields: Vec<RequestFieldDto>,
    pub details: RequestDetailsDto,
    pub created_at: String,
    pub updated_at: String,
    pub dismissed_at: Option<String>,
    pub dismissed_by_name: Option<String>,
}

impl From<RequestView> for RequestDto {
    fn from(r: RequestView) -> Self {
        Self {
            kind: r.kind.as_str().to_owned(),
            kind_label: r.kind_label.to_owned(),
            status: r.status.as_str().to_owned(),
            status_label: r.status_label.to_owned(),
            open: r.open,
            fields: r
                .fields
                .iter()
                .map(|f| RequestFieldDto { label: f.label.to_owned(), value: f.value.clone() })
                .collect(),
            details: (&r.details).into(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            dismissed_at: r.dismissed_at.map(rfc3339),
            dismissed_by_name: r.dismissed_by_name,
            id: r.id,
            patient_id: r.patient_id,
            patient_name: r.patient_name,
            location_id: r.location_id,
            requester_account_id: r.requester_account_id,
            requester_name: r.requester_name,
            relation: r.relation,
            summary: r.summary,
        }
    }
}

/// One entry of a request's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntryDto {
    /// `submitted`, `in_review`, `completed`, `not_completed`, `reopened` or `replied`.
    pub kind: String,
    pub label: String,
    pub at: String,
    /// The staff member or portal user who did it.
    pub by: String,
    /// A reply's text, for the staff member who sent it and the portal user it went to; `null`
    /// for everyone else (they read that a reply was sent).
    pub reply: Option<String>,
    pub conversation_id: Option<String>,
}

impl From<TimelineEntry> for TimelineEntryDto {
    fn from(e: TimelineEntry) -> Self {
        Self {
            kind: e.kind.as_str().to_owned(),
            label: e.label.to_owned(),
            at: rfc3339(e.at),
            by: e.by,
            reply: e.reply,
            conversation_id: e.conversation_id,
        }
    }
}

/// A task a helper opened (a draft encounter note, an appointment draft, a release task).
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskDto {
    pub id: String,
    pub request_id: String,
    pub patient_id: String,
    /// `refill_note`, `appointment_draft` or `records_release`.
    pub kind: String,
    pub kind_label: String,
    pub title: String,
    pub body: String,
    pub done: bool,
    pub created_by_name: String,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    pub completed_by_name: Option<String>,
}

impl From<TaskView> for TaskDto {
    fn from(t: TaskView) -> Self {
        Self {
            kind: t.kind.as_str().to_owned(),
            kind_label: t.kind_label.to_owned(),
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
            completed_at: t.completed_at.map(rfc3339),
            id: t.id,
            request_id: t.request_id,
            patient_id: t.patient_id,
            title: t.title,
            body: t.body,
            done: t.done,
            created_by_name: t.created_by_name,
            completed_by_name: t.completed_by_name,
        }
    }
}

/// The `before` of a page: the position (a decimal number) a previous page gave out as
/// `next_before`. Anything else is a 422 naming `before`.
pub fn parse_before(raw: Option<&str>, errors: &mut FieldErrors) -> Option<i64> {
    let raw = raw.map(str::trim).filter(|b| !b.is_empty())?;
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            errors.push("before", "is not a position this server gave out (pass `next_before` as given)");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The queue and the archive
// ---------------------------------------------------------------------------------------------

/// One page of the queue or of the archive.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuePageDto {
    /// Newest request first; 25 a page.
    pub requests: Vec<RequestDto>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<String>,
    /// Open requests at the caller's locations.
    pub open_count: i64,
}

impl From<QueuePage> for QueuePageDto {
    fn from(p: QueuePage) -> Self {
        Self {
            requests: p.requests.into_iter().map(Into::into).collect(),
            next_before: p.next_before.map(|n| n.to_string()),
            open_count: p.open_count,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// The previous page's `next_before`, as given.
    pub before: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveParams {
    /// Search the patient's name, the request's type and text: at least 3 characters, every word
    /// must match. Blank means no search.
    pub q: Option<String>,
    /// The previous page's `next_before`, as given.
    pub before: Option<String>,
}

/// The Patient Portal Queue: open requests (Submitted, In review) of the caller's locations,
/// newest first, 25 a page. View Patients. Audited.
#[utoipa::path(get, path = "/api/v1/requests", operation_id = "listRequestQueue", tag = "requests",
    security(("session" = [])), params(QueueParams),
    responses((status = 200, body = QueuePageDto),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A `before` this server did not give out", body = Problem, content_type = "application/problem+json")))]
async fn list_queue(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<QueueParams>,
) -> ApiResult<Json<QueuePageDto>> {
    let mut errors = FieldErrors::new();
    let before = parse_before(p.before.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    Ok(Json(queue::queue(state.db(), &s.actor, before, queue::PAGE).await?.into()))
}

/// The Patient Portal Archive: dismissed requests of the caller's locations, newest first, 25 a
/// page; with `q`, those matching the search. View Patients. Audited (without the words).
#[utoipa::path(get, path = "/api/v1/requests/archive", operation_id = "listRequestArchive", tag = "requests",
    security(("session" = [])), params(ArchiveParams),
    responses((status = 200, body = QueuePageDto),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`q` shorter than 3 characters, or a `before` this server did not give out", body = Problem, content_type = "application/problem+json")))]
async fn list_archive(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<ArchiveParams>,
) -> ApiResult<Json<QueuePageDto>> {
    let mut errors = FieldErrors::new();
    let before = parse_before(p.before.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    Ok(Json(queue::archive(state.db(), &s.actor, p.q.as_deref(), before, queue::PAGE).await?.into()))
}

// ---------------------------------------------------------------------------------------------
// One request
// ---------------------------------------------------------------------------------------------

/// One request as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDetailDto {
    pub request: RequestDto,
    /// Oldest first.
    pub timeline: Vec<TimelineEntryDto>,
    /// The tasks helpers opened for it.
    pub tasks: Vec<TaskDto>,
    /// The helper button's words for this request's type.
    pub helper_label: String,
}

fn detail_dto(state: &AppState, d: RequestDetail) -> RequestDetailDto {
    RequestDetailDto {
        helper_label: state.app().request_helpers.label(d.request.kind).to_owned(),
        request: d.request.into(),
        timeline: d.timeline.into_iter().map(Into::into).collect(),
        tasks: d.tasks.into_iter().map(Into::into).collect(),
    }
}

/// One request with its timeline and tasks. View Patients and the request's location (another
/// location's answers 404, like a missing one). Audited.
#[utoipa::path(get, path = "/api/v1/requests/{id}", operation_id = "getRequest", tag = "requests",
    security(("session" = [])), params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = RequestDetailDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or one of a location the caller cannot access", body = Problem, content_type = "application/problem+json")))]
async fn get_request(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RequestDetailDto>> {
    let d = queue::view(state.db(), &s.actor, &id).await?;
    Ok(Json(detail_dto(&state, d)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissalRequest {
    /// `completed` or `not_completed` (will not be completed).
    pub how: String,
}

/// Dismisses an open request as completed or as will not be completed: it moves to the archive.
/// View Patients and the request's location. 409 for a request already dismissed.
#[utoipa::path(post, path = "/api/v1/requests/{id}/dismissal", operation_id = "dismissRequest", tag = "requests",
    security(("session" = [])), params(("id" = String, Path, description = "Request id")), request_body = DismissalRequest,
    responses((status = 200, description = "Dismissed", body = RequestDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already dismissed; un-archive it first", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn dismiss(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<DismissalRequest>,
) -> ApiResult<Json<RequestDto>> {
    let how = Dismissal::parse(&req.how).map_err(|e| Problem::invalid(FieldErrors::single("how", e)))?;
    Ok(Json(queue::dismiss(state.db(), &s.actor, &id, how).await?.into()))
}

/// "Mark as un-reviewed": a dismissed request goes back to the active queue as Submitted.
/// View Patients and the request's location. 409 for a request still open. Audited.
#[utoipa::path(post, path = "/api/v1/requests/{id}/reopen", operation_id = "reopenRequest", tag = "requests",
    security(("session" = [])), params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Back in the queue", body = RequestDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Still open in the queue", body = Problem, content_type = "application/problem+json")))]
async fn reopen(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RequestDto>> {
    Ok(Json(queue::reopen(state.db(), &s.actor, &id).await?.into()))
}

/// What the helper did.
#[derive(Debug, Serialize, ToSchema)]
pub struct HelperOutcomeDto {
    /// `task`: a task to complete (`task`, opened now or before); `reply`: nothing to prepare,
    /// answer the request with a reply.
    pub next: String,
    pub task: Option<TaskDto>,
}

/// The helper button: the next step for the request's type (a refill opens a draft encounter
/// note, an appointment request an appointment draft, a records request a release task; a
/// question opens a reply). Puts a Submitted request In review. View Patients and the request's
/// location; Edit Patients for the tasks. 409 for a dismissed request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/helper", operation_id = "runRequestHelper", tag = "requests",
    security(("session" = [])), params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = HelperOutcomeDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already dismissed; un-archive it first", body = Problem, content_type = "application/problem+json")))]
async fn run_helper(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<HelperOutcomeDto>> {
    let outcome = state.app().request_helpers.run(state.db(), &s.actor, &id).await?;
    Ok(Json(match outcome {
        HelperOutcome::Task { task } => HelperOutcomeDto { next: "task".into(), task: Some((*task).into()) },
        HelperOutcome::Reply => HelperOutcomeDto { next: "reply".into(), task: None },
    }))
}

fn yes() -> bool {
    true
}

/// A reply to the request's portal user by secure message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestReplyRequest {
    /// Plain text, 1 to 10,000 characters after trimming.
    pub body: String,
    /// Optional; blank: "Re: <the request's type>".
    #[serde(default)]
    pub subject: Option<String>,
    /// E-mail the portal user that a message waits (default `true`).
    #[serde(default = "yes")]
    pub notify_by_email: bool,
    /// Show the message in the request's timeline (default `true`).
    #[serde(default = "yes")]
    pub link_to_request: bool,
    /// `leave_open` (default), `completed` or `not_completed`: what sending does to the request.
    #[serde(default)]
    pub disposition: Option<String>,
}

/// A reply sent, or, for a retried request (same `Idempotency-Key`), the one the first sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestReplyDto {
    pub conversation_id: String,
    pub message: MessageDto,
    pub replayed: bool,
    /// The request after the reply's disposition.
    pub request: RequestDto,
}

/// Replies to the portal user who made the request, by secure message about its patient, and
/// applies the disposition (leave open: In review; or dismiss). Needs the request's location and
/// Available for Portal Messages (409 says why otherwise). A dismissed request is un-archived
/// first (409). With an `Idempotency-Key`, a retry answers 200 and sends nothing twice.
#[utoipa::path(post, path = "/api/v1/requests/{id}/reply", operation_id = "replyToRequest", tag = "requests",
    security(("session" = [])),
    params(("id" = String, Path, description = "Request id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1-200 visible ASCII characters, unique per sender: a retry with the same key sends nothing twice")),
    request_body = RequestReplyRequest,
    responses((status = 201, description = "Sent; `Location` is the conversation", body = RequestReplyDto,
            headers(("location" = String, description = "The conversation"))),
        (status = 200, description = "A replay of an earlier request with the same Idempotency-Key", body = RequestReplyDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A rule refuses it; `detail` says why (no Available for Portal Messages, a dismissed request, a message sent but the request changed meanwhile...)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn reply(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    ApiJson(req): ApiJson<RequestReplyRequest>,
) -> ApiResult<Response> {
    let disposition = match req.disposition.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => Disposition::LeaveOpen,
        Some(d) => Disposition::parse(d).map_err(|e| Problem::invalid(FieldErrors::single("disposition", e)))?,
    };
    let input = QueueReply {
        body: req.body,
        subject: req.subject,
        notify_by_email: req.notify_by_email,
        link_to_request: req.link_to_request,
        disposition,
        idempotency_key: key,
    };
    let (sent, request) = queue_reply::reply(state.db(), &s.actor, &id, input).await?;
    let status = if sent.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let location = HeaderValue::from_str(&format!("/api/v1/conversations/{}", sent.conversation_id))
        .map_err(|e| Problem::internal(&e))?;
    let body = RequestReplyDto {
        conversation_id: sent.conversation_id,
        message: sent.message.into(),
        replayed: sent.replayed,
        request: request.into(),
    };
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

/// A task with the request it serves.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskDetailDto {
    pub task: TaskDto,
    pub request: RequestDto,
}

impl From<TaskDetail> for TaskDetailDto {
    fn from(d: TaskDetail) -> Self {
        Self { task: d.task.into(), request: d.request.into() }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdateRequest {
    /// The task's text (up to 20,000 characters).
    pub body: String,
    /// Mark the task done (a done task stays done when corrected).
    #[serde(default)]
    pub done: bool,
}

/// One task a helper opened, with its request. View Patients and the request's location.
/// Audited.
#[utoipa::path(get, path = "/api/v1/request-tasks/{id}", operation_id = "getRequestTask", tag = "requests",
    security(("session" = [])), params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = TaskDetailDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_task(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TaskDetailDto>> {
    Ok(Json(helpers::task(state.db(), &s.actor, &id).await?.into()))
}

/// Saves a task's text, and marks it done when asked. Edit Patients and the request's location.
#[utoipa::path(put, path = "/api/v1/request-tasks/{id}", operation_id = "saveRequestTask", tag = "requests",
    security(("session" = [])), params(("id" = String, Path, description = "Task id")), request_body = TaskUpdateRequest,
    responses((status = 200, body = TaskDetailDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn save_task(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<TaskUpdateRequest>,
) -> ApiResult<Json<TaskDetailDto>> {
    Ok(Json(helpers::save_task(state.db(), &s.actor, &id, &req.body, req.done).await?.into()))
}
