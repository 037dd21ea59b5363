//! Secure messaging for portal users (seed 001; tag `portal`): their inbox, threads, a new
//! message to an eligible staff member about one of their patients, replies, archive and the
//! header's unread count.
//!
//! Portal sessions only (a staff token answers 401). A portal user sees only conversations they
//! take part in, about patients for whom they hold a grant in force covering messages: anything
//! else answers 404 like a missing one. The shapes are those of the staff side
//! (`messaging/shapes.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use portal_messaging::Caller;
use portal_messaging::inbox;
use portal_messaging::send::{self, PortalUserMessageInput, ReplyInput};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::messaging::shapes::{
    self, ArchivedRequest, IdempotencyKeyHeader, InboxPageDto, InboxParams, MessagePageDto, MessagePageParams,
    ReplyRequest, SentDto, StaffRecipientsDto, ThreadDto, UnreadCountDto,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiPortal, ApiQuery, SignedInPortal};
use crate::state::AppState;

/// Where a portal user's conversation is read (the `Location` of a send).
const CONVERSATIONS: &str = "/api/v1/portal/conversations";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations, start_conversation))
        .routes(routes!(open_conversation))
        .routes(routes!(reply, list_messages))
        .routes(routes!(set_archived))
        .routes(routes!(unread_count))
        .routes(routes!(staff_recipients))
}

fn caller(s: &SignedInPortal) -> Caller {
    Caller::portal(s.principal().clone(), s.ip.clone())
}

/// The portal user's inbox: one page of Active (default) or Archived conversations, newest
/// message first, with unread counts; with `q`, the search results over both. Audited.
#[utoipa::path(get, path = "/api/v1/portal/conversations", operation_id = "listPortalConversations", tag = "portal",
    security(("session" = [])), params(InboxParams),
    responses((status = 200, body = InboxPageDto),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown folder, a cursor this server did not give out, `q` shorter than 3 characters", body = Problem, content_type = "application/problem+json")))]
async fn list_conversations(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> ApiResult<Json<InboxPageDto>> {
    shapes::inbox_page(state.db(), &caller(&s), p).await
}

/// A portal user's new message to a staff member about one of their patients.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalNewConversationRequest {
    /// One of the caller's patients (a grant in force covering messages).
    pub patient_id: String,
    /// One of `GET /api/v1/portal/patients/{id}/message-recipients`.
    pub staff_id: String,
    /// Optional; one line of at most 200 characters.
    #[serde(default)]
    pub subject: Option<String>,
    /// Plain text, 1 to 10,000 characters after trimming (no attachments).
    pub body: String,
}

/// Starts a conversation with a staff member the caller may write to about the patient (by the
/// clinic's setting: staff available for portal messages, or the patient's care team). A staff
/// member who is not offered is refused (409) without saying why. With an `Idempotency-Key`, a
/// retried request answers 200 with the message the first one sent.
#[utoipa::path(post, path = "/api/v1/portal/conversations", operation_id = "startPortalConversation", tag = "portal",
    security(("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1-200 visible ASCII characters, unique per sender: a retry with the same key sends nothing twice")),
    request_body = PortalNewConversationRequest,
    responses((status = 201, description = "Sent; `Location` is the conversation", body = SentDto,
            headers(("location" = String, description = "The conversation"))),
        (status = 200, description = "A replay of an earlier request with the same Idempotency-Key", body = SentDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Choose a password of your own first, or the grant does not cover messages", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the caller's patients", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This recipient is not available for messages (or another rule; `detail` says which)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn start_conversation(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    ApiJson(req): ApiJson<PortalNewConversationRequest>,
) -> ApiResult<Response> {
    let input = PortalUserMessageInput {
        patient_id: req.patient_id,
        staff_id: req.staff_id,
        subject: req.subject,
        body: req.body,
        idempotency_key: key,
    };
    let sent = send::start_as_portal_user(state.db(), s.principal(), s.ip.clone(), input).await?;
    shapes::sent_response(sent, CONVERSATIONS)
}

/// Opens a thread (oldest message first; marks it read for the caller; `reply_refused` says why
/// a reply is not possible now). 404 for a conversation the caller is not in or whose patient
/// they no longer reach. Audited.
#[utoipa::path(get, path = "/api/v1/portal/conversations/{id}", operation_id = "getPortalConversation", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ThreadDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn open_conversation(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ThreadDto>> {
    Ok(Json(inbox::open_thread(state.db(), &caller(&s), &id).await?.into()))
}

/// A page of a thread's messages, oldest first: the newest 200, or with `before` the 200 just
/// before that message. Marks nothing read. 404 for a conversation the caller is not in or whose
/// patient they no longer reach, or a `before` that is not one of its messages. Audited.
#[utoipa::path(get, path = "/api/v1/portal/conversations/{id}/messages", operation_id = "listPortalConversationMessages", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "Conversation id"), MessagePageParams),
    responses((status = 200, body = MessagePageDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list_messages(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<MessagePageParams>,
) -> ApiResult<Json<MessagePageDto>> {
    Ok(Json(inbox::messages(state.db(), &caller(&s), &id, p.before.as_deref()).await?.into()))
}

/// Replies. Eligibility is checked again: when the staff member can no longer take part (left
/// the care team, lost the permission or the location...), 409 says why.
#[utoipa::path(post, path = "/api/v1/portal/conversations/{id}/messages", operation_id = "replyInPortalConversation", tag = "portal",
    security(("session" = [])),
    params(("id" = String, Path, description = "Conversation id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1-200 visible ASCII characters, unique per sender: a retry with the same key sends nothing twice")),
    request_body = ReplyRequest,
    responses((status = 201, description = "Sent", body = SentDto, headers(("location" = String, description = "The conversation"))),
        (status = 200, description = "A replay of an earlier request with the same Idempotency-Key", body = SentDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A reply is not possible now; `detail` says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn reply(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    ApiJson(req): ApiJson<ReplyRequest>,
) -> ApiResult<Response> {
    let input = ReplyInput { body: req.body, idempotency_key: key };
    let sent = send::reply(state.db(), &caller(&s), &id, input).await?;
    shapes::sent_response(sent, CONVERSATIONS)
}

/// Archives (`true`) or unarchives (`false`) the conversation for the caller only.
#[utoipa::path(put, path = "/api/v1/portal/conversations/{id}/archived", operation_id = "setPortalConversationArchived", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "Conversation id")), request_body = ArchivedRequest,
    responses((status = 204, description = "Done"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_archived(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ArchivedRequest>,
) -> ApiResult<StatusCode> {
    shapes::set_archived(state.db(), &caller(&s), &id, req.archived).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The portal header's count: unread messages across the conversations the caller may reach.
#[utoipa::path(get, path = "/api/v1/portal/messages/unread-count", operation_id = "getPortalUnreadCount", tag = "portal",
    security(("session" = [])),
    responses((status = 200, body = UnreadCountDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn unread_count(State(state): State<AppState>, ApiPortal(s): ApiPortal) -> ApiResult<Json<UnreadCountDto>> {
    Ok(Json(UnreadCountDto { unread: inbox::unread_count(state.db(), &caller(&s)).await? }))
}

/// The staff the caller may write to about one of their patients, sorted by name (empty while
/// the portal is off). 404 for a patient without a grant covering messages.
#[utoipa::path(get, path = "/api/v1/portal/patients/{id}/message-recipients", operation_id = "listPortalMessageRecipients", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = StaffRecipientsDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn staff_recipients(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<StaffRecipientsDto>> {
    Ok(Json(StaffRecipientsDto::of(send::staff_for_portal_user(state.db(), s.principal(), &id).await?)))
}
