//! Secure messaging for staff (seed 001, "My Messages"; tag `messaging`): the inbox, threads,
//! sending (New Message from the chart, Compose from the inbox, replies), archive, the header's
//! unread count, the recipient lists of the New Message window and the instance setting that
//! says which staff portal users may write to.
//!
//! Every route translates: the rules (who may write to whom, who reads what) are the
//! portal-messaging use cases'. A conversation the caller does not take part in answers 404 like a
//! missing one, whatever their role: no permission, Super Admin included, opens someone else's.
//! The portal users' side is `api/portal_messaging.rs`; the shapes both share are in
//! `messaging/shapes.rs`.

pub(super) mod shapes;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use portal_core::FieldErrors;
use portal_core::messaging::{ConversationKind, PortalMessagingRecipients, parse_message};
use portal_messaging::send::{self, PortalMessageInput, ReplyInput, StaffMessageInput};
use portal_messaging::{Caller, MessagingError, compose, inbox, settings};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use self::shapes::{
    ArchivedRequest, IdempotencyKeyHeader, InboxPageDto, InboxParams, MessagePageDto, MessagePageParams, ReplyRequest,
    SentDto, StaffRecipientsDto, ThreadDto, UnreadCountDto,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiStaff, SignedInStaff};
use crate::state::AppState;

/// Where a staff member's conversation is read (the `Location` of a send).
const CONVERSATIONS: &str = "/api/v1/conversations";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations, start_conversation))
        .routes(routes!(open_conversation))
        .routes(routes!(reply, list_messages))
        .routes(routes!(set_archived))
        .routes(routes!(unread_count))
        .routes(routes!(new_message_options))
        .routes(routes!(staff_recipients))
        .routes(routes!(get_portal_messaging_setting, set_portal_messaging_setting))
}

fn caller(s: &SignedInStaff) -> ApiResult<Caller> {
    Ok(Caller::staff(&s.actor)?)
}

// ---------------------------------------------------------------------------------------------
// The inbox and threads
// ---------------------------------------------------------------------------------------------

/// The caller's inbox: one page of Active (default) or Archived conversations, newest message
/// first, with unread counts; with `q`, the search results over both. Audited.
#[utoipa::path(get, path = "/api/v1/conversations", operation_id = "listConversations", tag = "messaging",
    security(("session" = [])), params(InboxParams),
    responses((status = 200, body = InboxPageDto),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown folder, a cursor this server did not give out, `q` shorter than 3 characters", body = Problem, content_type = "application/problem+json")))]
async fn list_conversations(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> ApiResult<Json<InboxPageDto>> {
    shapes::inbox_page(state.db(), &caller(&s)?, p).await
}

/// Opens a thread: its newest 200 messages, oldest first, the unread ones marked; marks it read
/// for the caller; says why the caller cannot reply, if so. 404 for a conversation the caller
/// is not in, whatever their role. Audited.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", operation_id = "getConversation", tag = "messaging",
    security(("session" = [])), params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ThreadDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, or the caller is not in it", body = Problem, content_type = "application/problem+json")))]
async fn open_conversation(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ThreadDto>> {
    Ok(Json(inbox::open_thread(state.db(), &caller(&s)?, &id).await?.into()))
}

/// A page of a thread's messages, oldest first: the newest 200, or with `before` the 200 just
/// before that message ("Show earlier messages" when the thread said `has_earlier`). Marks
/// nothing read (opening the thread does). 404 for a conversation the caller is not in, or a
/// `before` that is not one of its messages. Audited.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", operation_id = "listConversationMessages", tag = "messaging",
    security(("session" = [])), params(("id" = String, Path, description = "Conversation id"), MessagePageParams),
    responses((status = 200, body = MessagePageDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation, the caller is not in it, or `before` is not one of its messages", body = Problem, content_type = "application/problem+json")))]
async fn list_messages(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<MessagePageParams>,
) -> ApiResult<Json<MessagePageDto>> {
    Ok(Json(inbox::messages(state.db(), &caller(&s)?, &id, p.before.as_deref()).await?.into()))
}

/// Moves the conversation to the caller's Archived section (`true`) or back to Active
/// (`false`), for the caller only. The same state again changes nothing.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/archived", operation_id = "setConversationArchived", tag = "messaging",
    security(("session" = [])), params(("id" = String, Path, description = "Conversation id")), request_body = ArchivedRequest,
    responses((status = 204, description = "Done"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_archived(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ArchivedRequest>,
) -> ApiResult<StatusCode> {
    shapes::set_archived(state.db(), &caller(&s)?, &id, req.archived).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The header's count: unread messages across the caller's conversations. Polled by the pages;
/// not audited (a number).
#[utoipa::path(get, path = "/api/v1/messages/unread-count", operation_id = "getUnreadCount", tag = "messaging",
    security(("session" = [])),
    responses((status = 200, body = UnreadCountDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn unread_count(State(state): State<AppState>, ApiStaff(s): ApiStaff) -> ApiResult<Json<UnreadCountDto>> {
    Ok(Json(UnreadCountDto { unread: inbox::unread_count(state.db(), &caller(&s)?).await? }))
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// New Message from the patient chart (`portal` or `staff`) or Compose from the inbox (`staff`
/// without a patient).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversationRequest {
    /// `portal` (to one portal user about a patient; needs Available for Portal Messages) or
    /// `staff` (to one or more staff members, about a patient or not).
    pub kind: String,
    /// Required for `portal`; optional for `staff` (then every recipient must be allowed to see
    /// the patient, and the conversation carries the View Patient link).
    #[serde(default)]
    pub patient_id: Option<String>,
    /// `portal` only: one of `portal_recipients` of `GET /api/v1/patients/{id}/message-recipients`.
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    /// `staff` only: 1 to 50 staff ids from `GET /api/v1/message-recipients`.
    #[serde(default)]
    pub recipient_staff_ids: Option<Vec<String>>,
    /// Optional; one line of at most 200 characters.
    #[serde(default)]
    pub subject: Option<String>,
    /// Plain text, 1 to 10,000 characters after trimming (no attachments).
    pub body: String,
}

enum NewConversation {
    Portal(PortalMessageInput),
    Staff(StaffMessageInput),
}

impl NewConversationRequest {
    /// Which send this is, with the fields its kind needs; every problem at once, the text's
    /// included.
    fn into_input(self, key: Option<String>) -> Result<NewConversation, FieldErrors> {
        let mut errors = FieldErrors::new();
        let kind = errors.check("kind", ConversationKind::parse(&self.kind));
        let mut required = |field: &str, v: Option<String>, what: &str| match v {
            Some(v) => v,
            None => {
                errors.push(field, format!("is required for {what}"));
                String::new()
            }
        };
        let out = match kind {
            Some(ConversationKind::Portal) => {
                let patient_id = required("patient_id", self.patient_id, "a portal message");
                let recipient_account_id =
                    required("recipient_account_id", self.recipient_account_id, "a portal message");
                if self.recipient_staff_ids.is_some() {
                    errors.push("recipient_staff_ids", "is for staff messages only");
                }
                Some(NewConversation::Portal(PortalMessageInput {
                    patient_id,
                    recipient_account_id,
                    subject: self.subject.clone(),
                    body: self.body.clone(),
                    idempotency_key: key,
                    skip_email_notice: false,
                }))
            }
            Some(ConversationKind::Staff) => {
                if self.recipient_account_id.is_some() {
                    errors.push("recipient_account_id", "is for portal messages only");
                }
                if self.recipient_staff_ids.is_none() {
                    errors.push("recipient_staff_ids", "is required for a staff message");
                }
                Some(NewConversation::Staff(StaffMessageInput {
                    recipient_staff_ids: self.recipient_staff_ids.unwrap_or_default(),
                    patient_id: self.patient_id,
                    subject: self.subject.clone(),
                    body: self.body.clone(),
                    idempotency_key: key,
                }))
            }
            None => None,
        };
        match out {
            Some(input) if errors.is_empty() => Ok(input),
            _ => {
                // The domain checks the text too; here it is reported with the other fields.
                if let Err(text) = parse_message(self.subject.as_deref(), &self.body) {
                    errors.0.extend(text.0);
                }
                Err(errors)
            }
        }
    }
}

/// Starts a conversation with its first message. `portal`: one eligible portal user of the
/// patient (the pair rule; the recipient gets an e-mail that a message is waiting, never what
/// it says). `staff`: one or more staff members. With an `Idempotency-Key`, a retried request
/// answers 200 with the message the first one sent.
#[utoipa::path(post, path = "/api/v1/conversations", operation_id = "startConversation", tag = "messaging",
    security(("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1-200 visible ASCII characters, unique per sender: a retry with the same key sends nothing twice")),
    request_body = NewConversationRequest,
    responses((status = 201, description = "Sent; `Location` is the conversation", body = SentDto,
            headers(("location" = String, description = "The conversation"))),
        (status = 200, description = "A replay of an earlier request with the same Idempotency-Key: the message it sent", body = SentDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient, or one the caller cannot see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A rule refuses it; `detail` says why (no Available for Portal Messages, a recipient who cannot see the patient, a pair no longer eligible...)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad fields, a malformed Idempotency-Key, or a key already used for another message", body = Problem, content_type = "application/problem+json")))]
async fn start_conversation(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    ApiJson(req): ApiJson<NewConversationRequest>,
) -> ApiResult<Response> {
    let sent = match req.into_input(key)? {
        NewConversation::Portal(input) => send::start_portal_conversation(state.db(), &s.actor, input).await?,
        NewConversation::Staff(input) => send::start_staff_conversation(state.db(), &s.actor, input).await?,
    };
    shapes::sent_response(sent, CONVERSATIONS)
}

/// Replies in a conversation the caller is in. Eligibility is checked again (a changed portal
/// connection, location access, permission or care team refuses it: 409 saying why). Replying
/// to an archived conversation moves it back to the caller's Active section.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", operation_id = "replyInConversation", tag = "messaging",
    security(("session" = [])),
    params(("id" = String, Path, description = "Conversation id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1-200 visible ASCII characters, unique per sender: a retry with the same key sends nothing twice")),
    request_body = ReplyRequest,
    responses((status = 201, description = "Sent", body = SentDto, headers(("location" = String, description = "The conversation"))),
        (status = 200, description = "A replay of an earlier request with the same Idempotency-Key", body = SentDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The caller can no longer reply here; `detail` says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn reply(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    ApiJson(req): ApiJson<ReplyRequest>,
) -> ApiResult<Response> {
    let input = ReplyInput { body: req.body, idempotency_key: key };
    let sent = send::reply(state.db(), &caller(&s)?, &id, input).await?;
    shapes::sent_response(sent, CONVERSATIONS)
}

// ---------------------------------------------------------------------------------------------
// The New Message window's choices
// ---------------------------------------------------------------------------------------------

/// A portal user a portal message may go to.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalRecipientDto {
    pub account_id: String,
    pub name: String,
    /// `self`, `guardian`, `guarantor` or `other`.
    pub relation: String,
}

/// What the New Message window offers about a patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageRecipientsDto {
    /// `["portal", "staff"]` with Available for Portal Messages; `["staff"]` otherwise (no
    /// type choice).
    pub types: Vec<String>,
    /// Portal users with an active account (invitation accepted, password set) and a grant to
    /// the patient covering messages.
    pub portal_recipients: Vec<PortalRecipientDto>,
    /// Why no portal message can be sent about this patient now, in words; `null` when
    /// `portal_recipients` is not empty.
    pub portal_refused: Option<String>,
}

/// The New Message window of a patient's chart: the message types offered, the portal users a
/// portal message may go to, and why there are none, if so. View Patients and the patient's
/// location (a patient the caller cannot see answers 404).
#[utoipa::path(get, path = "/api/v1/patients/{id}/message-recipients", operation_id = "getPatientMessageRecipients", tag = "messaging",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = MessageRecipientsDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn new_message_options(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MessageRecipientsDto>> {
    let o = compose::new_message_options(state.db(), &s.actor, &id).await?;
    Ok(Json(MessageRecipientsDto {
        types: o.types.iter().map(|k| k.as_str().to_owned()).collect(),
        portal_recipients: o
            .portal_recipients
            .into_iter()
            .map(|r| PortalRecipientDto {
                account_id: r.account_id,
                name: r.name,
                relation: r.relation.as_str().to_owned(),
            })
            .collect(),
        portal_refused: o.portal_refused.map(|r| crate::error::capitalise(&r.to_string()) + "."),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffRecipientsParams {
    /// With a patient: only staff who may see that patient (a staff message about them).
    pub patient_id: Option<String>,
}

/// The staff a staff member may write to: every other active staff member, or, with
/// `patient_id`, those of them who may see the patient (which the caller must see: 404
/// otherwise).
#[utoipa::path(get, path = "/api/v1/message-recipients", operation_id = "listStaffMessageRecipients", tag = "messaging",
    security(("session" = [])), params(StaffRecipientsParams),
    responses((status = 200, body = StaffRecipientsDto),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient, or one the caller cannot see", body = Problem, content_type = "application/problem+json")))]
async fn staff_recipients(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<StaffRecipientsParams>,
) -> ApiResult<Json<StaffRecipientsDto>> {
    let patient = p.patient_id.as_deref().map(str::trim).filter(|p| !p.is_empty());
    Ok(Json(StaffRecipientsDto::of(send::staff_recipients(state.db(), &s.actor, patient).await?)))
}

// ---------------------------------------------------------------------------------------------
// The instance setting
// ---------------------------------------------------------------------------------------------

/// One value of the setting.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalMessagingChoiceDto {
    pub value: String,
    pub label: String,
}

/// Which staff portal users may write to (seed 001's FAQ: "depending on how the system has been
/// configured").
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalMessagingSettingDto {
    /// `available_for_portal_messages`: every staff member with Available for Portal Messages
    /// who can see the patient; `care_team`: only those of them on the patient's care team.
    pub recipients: String,
    pub label: String,
    /// Every value, for a form.
    pub choices: Vec<PortalMessagingChoiceDto>,
}

impl From<PortalMessagingRecipients> for PortalMessagingSettingDto {
    fn from(v: PortalMessagingRecipients) -> Self {
        Self {
            recipients: v.as_str().to_owned(),
            label: v.label().to_owned(),
            choices: PortalMessagingRecipients::ALL
                .iter()
                .map(|c| PortalMessagingChoiceDto { value: c.as_str().to_owned(), label: c.label().to_owned() })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalMessagingSettingRequest {
    /// `available_for_portal_messages` or `care_team`.
    pub recipients: String,
}

/// Which staff portal users may write to. Any staff member may read it.
#[utoipa::path(get, path = "/api/v1/settings/portal-messaging", operation_id = "getPortalMessagingSetting", tag = "messaging",
    security(("session" = [])),
    responses((status = 200, body = PortalMessagingSettingDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn get_portal_messaging_setting(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
) -> ApiResult<Json<PortalMessagingSettingDto>> {
    Ok(Json(settings::portal_messaging_recipients(state.db(), &s.actor).await?.into()))
}

/// Changes it (Manage Portal Settings); kept in the settings history and audited. The same
/// value again records nothing. It applies from the next send or reply on, replies in existing
/// conversations included.
#[utoipa::path(put, path = "/api/v1/settings/portal-messaging", operation_id = "setPortalMessagingSetting", tag = "messaging",
    security(("session" = [])), request_body = PortalMessagingSettingRequest,
    responses((status = 200, body = PortalMessagingSettingDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_portal_messaging_setting(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<PortalMessagingSettingRequest>,
) -> ApiResult<Json<PortalMessagingSettingDto>> {
    let db = state.db();
    settings::set_portal_messaging_recipients(db, &s.actor, &req.recipients).await.map_err(|e| match e {
        // The domain names the setting; this body calls it `recipients`.
        MessagingError::Invalid(FieldErrors(mut errors)) => {
            errors.iter_mut().for_each(|f| f.field = "recipients".to_owned());
            MessagingError::Invalid(FieldErrors(errors))
        }
        other => other,
    })?;
    Ok(Json(settings::portal_messaging_recipients(db, &s.actor).await?.into()))
}
