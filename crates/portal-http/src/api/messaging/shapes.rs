//! The shapes of secure messaging shared by the staff routes (`api/messaging.rs`) and the portal
//! users' routes (`api/portal_messaging.rs`): the documented DTOs (never the store's rows), the
//! opaque inbox cursor, the `Idempotency-Key` header, and the listing and sending answers both
//! sides give alike.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_core::FieldErrors;
use portal_core::messaging::{IdempotencyKey, InboxFolder};
use portal_core::time_util::rfc3339;
use portal_messaging::inbox::{self, ConversationSummary, MessageView, ParticipantView, ThreadView};
use portal_messaging::send::{Sent, StaffRecipient};
use portal_messaging::{Caller, MessagingError};
use portal_store::Db;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::cursor::{decode_cursor, encode_cursor};
use crate::error::{ApiResult, Problem};

// ---------------------------------------------------------------------------------------------
// Conversations and messages
// ---------------------------------------------------------------------------------------------

/// Someone else in a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantDto {
    /// `staff` or `portal`.
    pub kind: String,
    /// A staff id or a portal account id.
    pub id: String,
    pub name: String,
}

impl From<ParticipantView> for ParticipantDto {
    fn from(p: ParticipantView) -> Self {
        Self { kind: p.kind.as_str().to_owned(), id: p.id, name: p.name }
    }
}

/// A conversation as the caller sees it (an inbox row, or the head of a thread).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDto {
    pub id: String,
    /// `portal` (one staff member and one portal user about a patient) or `staff`.
    pub kind: String,
    /// The patient it is about: the View Patient link for staff; for a portal user, which of
    /// their patients. `null` for a staff conversation about no patient.
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    pub subject: Option<String>,
    /// When the newest message the caller can see was sent.
    pub last_message_at: String,
    pub message_count: i32,
    /// In the caller's Archived section (archiving is the caller's own).
    pub archived: bool,
    /// Messages from others the caller has not read (the blue dot).
    pub unread_count: i32,
    /// Everyone else in the conversation.
    pub others: Vec<ParticipantDto>,
}

impl From<ConversationSummary> for ConversationDto {
    fn from(c: ConversationSummary) -> Self {
        Self {
            id: c.id,
            kind: c.kind.as_str().to_owned(),
            patient_id: c.patient_id,
            patient_name: c.patient_name,
            subject: c.subject,
            last_message_at: rfc3339(c.last_message_at),
            message_count: c.message_count,
            archived: c.archived,
            unread_count: c.unread_count,
            others: c.others.into_iter().map(Into::into).collect(),
        }
    }
}

/// One message: plain text, to be shown escaped with its line breaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDto {
    pub id: String,
    /// `staff` or `portal`.
    pub sender_kind: String,
    pub sender_id: String,
    pub sender_name: String,
    pub body: String,
    pub created_at: String,
    /// Sent by the caller.
    pub mine: bool,
    /// Was unread until this opening of the thread.
    pub unread: bool,
}

impl From<MessageView> for MessageDto {
    fn from(m: MessageView) -> Self {
        Self {
            id: m.id,
            sender_kind: m.sender_kind.as_str().to_owned(),
            sender_id: m.sender_id,
            sender_name: m.sender_name,
            body: m.body,
            created_at: rfc3339(m.created_at),
            mine: m.mine,
            unread: m.unread,
        }
    }
}

/// One page of the inbox, or the results of a search.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPageDto {
    /// Newest message first; 25 a page.
    pub conversations: Vec<ConversationDto>,
    /// Pass as `after` for the next page; `null` on the last page and for search results.
    pub next: Option<String>,
}

/// A thread as opened (opening marks it read for the caller).
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadDto {
    pub conversation: ConversationDto,
    /// The newest 200 messages, oldest first.
    pub messages: Vec<MessageDto>,
    /// Older messages exist than those shown.
    pub has_earlier: bool,
    /// Why the caller cannot reply now, in words (the thread is then read-only); `null` when a
    /// reply is possible.
    pub reply_refused: Option<String>,
}

impl From<ThreadView> for ThreadDto {
    fn from(t: ThreadView) -> Self {
        Self {
            conversation: t.conversation.into(),
            messages: t.messages.into_iter().map(Into::into).collect(),
            has_earlier: t.has_earlier,
            reply_refused: t.reply_refused.map(|r| crate::error::capitalise(&r) + "."),
        }
    }
}

/// A page of a thread's messages (`GET .../conversations/{id}/messages`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePageDto {
    /// Oldest first, at most 200.
    pub messages: Vec<MessageDto>,
    /// Older messages exist: ask again with `before` = the first message's id.
    pub has_earlier: bool,
}

impl From<inbox::MessagePage> for MessagePageDto {
    fn from(p: inbox::MessagePage) -> Self {
        Self { messages: p.messages.into_iter().map(Into::into).collect(), has_earlier: p.has_earlier }
    }
}

/// Which page of a thread's messages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagePageParams {
    /// A message of this conversation: the page ends just before it. Without it, the newest.
    pub before: Option<String>,
}

/// A message sent, or, for a retried request (same `Idempotency-Key`), the one the first
/// request sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentDto {
    pub conversation_id: String,
    pub message: MessageDto,
    /// True when an earlier request with the same `Idempotency-Key` had already sent it.
    pub replayed: bool,
}

/// The page header's count.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCountDto {
    /// Unread messages across the caller's conversations.
    pub unread: i64,
}

/// A staff member one may write to.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffRecipientDto {
    pub staff_id: String,
    pub name: String,
}

/// Staff one may write to, sorted by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffRecipientsDto {
    pub staff: Vec<StaffRecipientDto>,
}

impl StaffRecipientsDto {
    pub fn of(list: Vec<StaffRecipient>) -> Self {
        Self { staff: list.into_iter().map(|s| StaffRecipientDto { staff_id: s.staff_id, name: s.name }).collect() }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// Plain text, 1 to 10,000 characters after trimming.
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchivedRequest {
    /// `true`: to the caller's Archived section; `false`: back to Active.
    pub archived: bool,
}

// ---------------------------------------------------------------------------------------------
// The inbox: folder, cursor, search
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// `active` (the default) or `archived`. Ignored with `q`.
    pub folder: Option<String>,
    /// The previous page's `next`, as given (an opaque string).
    pub after: Option<String>,
    /// Search by name or keyword, at least 3 characters, over Active and Archived: one page of the
    /// newest 25 matches. Blank means no search.
    pub q: Option<String>,
}

/// The inbox page or the search the query asks for. Every malformed parameter is reported at
/// once (422, naming it).
pub async fn inbox_page(db: &Db, caller: &Caller, p: InboxParams) -> ApiResult<Json<InboxPageDto>> {
    let mut errors = FieldErrors::new();
    let folder = errors.check("folder", InboxFolder::parse(p.folder.as_deref().unwrap_or("")));
    let q = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let after = match p.after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(_) if q.is_some() => {
            errors.push("after", "cannot be combined with q: a search answers one page");
            None
        }
        Some(a) => errors.check("after", decode_cursor(a).ok_or("is not a cursor this server gave out")),
    };
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    if let Some(q) = q {
        let found = inbox::search(db, caller, q).await?;
        return Ok(Json(InboxPageDto { conversations: found.into_iter().map(Into::into).collect(), next: None }));
    }
    let page = inbox::inbox(db, caller, folder.unwrap_or_default(), after).await?;
    Ok(Json(InboxPageDto {
        conversations: page.conversations.into_iter().map(Into::into).collect(),
        next: page.next.as_ref().map(encode_cursor),
    }))
}

/// Archive or unarchive, for the caller only.
pub async fn set_archived(db: &Db, caller: &Caller, id: &str, archived: bool) -> Result<(), MessagingError> {
    if archived { inbox::archive(db, caller, id).await } else { inbox::unarchive(db, caller, id).await }
}

// ---------------------------------------------------------------------------------------------
// Sending: the Idempotency-Key header and the answer
// ---------------------------------------------------------------------------------------------

/// The header's name, as problems name it.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The optional `Idempotency-Key` header of a send, checked by the domain's `IdempotencyKey`
/// (1-200 visible ASCII characters). A malformed one is a 422 naming the header, before the body
/// is read: a client must not believe its retry is safe when it is not.
pub struct IdempotencyKeyHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let refuse = |why: &dyn std::fmt::Display| Problem::invalid(FieldErrors::single(IDEMPOTENCY_KEY, why));
        let mut values = parts.headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else { return Ok(Self(None)) };
        if values.next().is_some() {
            return Err(refuse(&"must be sent once"));
        }
        let text = value.to_str().map_err(|_| refuse(&"must be visible ASCII characters"))?;
        if text.trim().is_empty() {
            return Err(refuse(&"must not be empty (leave the header out to send without one)"));
        }
        let key = IdempotencyKey::parse(text).map_err(|e| refuse(&e))?;
        Ok(Self(Some(key.as_str().to_owned())))
    }
}

/// 201 with `Location` (the conversation) for a new message; 200 with the same body for a
/// replayed request.
pub fn sent_response(sent: Sent, conversation_url: &str) -> ApiResult<Response> {
    let status = if sent.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let location = HeaderValue::from_str(&format!("{conversation_url}/{}", sent.conversation_id))
        .map_err(|e| Problem::internal(&e))?;
    let body = SentDto { conversation_id: sent.conversation_id, message: sent.message.into(), replayed: sent.replayed };
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}
