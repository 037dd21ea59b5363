//! The shapes of secure messaging shared by the staff routes (`api/messaging.rs`) and the portal
//! users' routes (`api/portal_messaging.rs`): the documented DTOs (never the store's rows), the
//! opaque inbox cursor, the `Idempotency-Key` header, and the listing and sending answers both
//! sides give alike.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portal_core::FieldErrors;
use portal_core::ids::ConversationId;
use portal_core::messaging::{IdempotencyKey, InboxFolder};
use portal_core::time_util::rfc3339;
use portal_messaging::inbox::{self, ConversationSummary, MessageView, ParticipantView, ThreadView};
use portal_messaging::send::{Sent, StaffRecipient};
use portal_messaging::{Caller, MessagingError};
use portal_store::Db;
use portal_store::messaging::InboxCursor;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use utoipa::{IntoParams, ToSchema};

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

/// The cursor's text: base64url of `UNIX_NANOS~CONVERSATION_ID`. Opaque to clients (they pass
/// `next` back as given); encoded so that nobody builds one by hand and relies on its layout.
pub fn encode_cursor(c: &InboxCursor) -> String {
    let nanos = c.last_message_at.assume_utc().unix_timestamp_nanos();
    URL_SAFE_NO_PAD.encode(format!("{nanos}~{}", c.conversation_id))
}

/// The cursor a `next` stands for, or `None` for anything this server did not give out.
pub fn decode_cursor(raw: &str) -> Option<InboxCursor> {
    // A cursor of ours is about 70 characters; longer text is not worth decoding.
    if raw.len() > 200 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (nanos, id) = text.split_once('~')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?.to_offset(UtcOffset::UTC);
    let id = ConversationId::parse(id).ok()?;
    Some(InboxCursor { last_message_at: PrimitiveDateTime::new(at.date(), at.time()), conversation_id: id.to_string() })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_nanosecond() {
        let at = PrimitiveDateTime::new(
            time::Date::from_calendar_date(2026, time::Month::November, 21).unwrap(),
            time::Time::from_hms_micro(23, 58, 19, 808_261).unwrap(),
        );
        let c = InboxCursor { last_message_at: at, conversation_id: "3f2504e0-4f89-41d3-9a0c-0305e82c3301".into() };
        let text = encode_cursor(&c);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
        let back = decode_cursor(&text).expect("decodes");
        assert_eq!((back.last_message_at, back.conversation_id), (c.last_message_at, c.conversation_id));
    }

    #[test]
    fn malformed_cursors_decode_to_nothing() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            "".to_owned(),
            "!!!".to_owned(),
            "a".repeat(500),
            enc("no separator"),
            enc("12~not-an-id"),
            enc("x~3f2504e0-4f89-41d3-9a0c-0305e82c3301"),
            enc("999999999999999999999999999999999~3f2504e0-4f89-41d3-9a0c-0305e82c3301"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, b'~']),
        ] {
            assert!(decode_cursor(&bad).is_none(), "{bad}");
        }
    }
}
