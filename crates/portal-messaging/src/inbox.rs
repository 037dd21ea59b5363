//! Reading: the inbox (Active and Archived, 25 a page, unread counts), a thread (oldest message
//! first; opening it marks it read), archive and unarchive, the header's unread count, and
//! search over one's own conversations.

use portal_core::audit::AuditAction;
use portal_core::ids::ConversationId;
use portal_core::messaging::{ConversationKind, InboxFolder, ParticipantKind, SearchTerm};
use portal_core::time_util::now_utc;
use portal_core::{AccessError, FieldErrors};
use portal_store::audit;
use portal_store::messaging::{
    self as store, ConversationRow, InboxConversation, InboxCursor, InboxMine, InboxQuery, InboxRow, MessageRow,
    ParticipantRow, Party, People,
};
use portal_store::{Db, DbConn};
use serde::Serialize;
use serde_json::json;
use time::PrimitiveDateTime;

use crate::{Caller, MessagingError};

/// Conversations on one inbox page (seed 001's inbox; the "25 a page").
pub const PAGE: i64 = 25;
/// The newest messages a thread shows at once, oldest first.
pub const THREAD_MESSAGES: i64 = 200;

/// Someone in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantView {
    pub kind: ParticipantKind,
    pub id: String,
    pub name: String,
}

/// One conversation as the caller sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    pub kind: ConversationKind,
    /// For staff, the View Patient link; for a portal user, which of their patients.
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    pub subject: Option<String>,
    pub last_message_at: PrimitiveDateTime,
    pub message_count: i32,
    /// In the caller's Archived section.
    pub archived: bool,
    /// Messages from others the caller has not read (the blue dot).
    pub unread_count: i32,
    /// Everyone else in the conversation.
    pub others: Vec<ParticipantView>,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageView {
    pub id: String,
    pub sender_kind: ParticipantKind,
    pub sender_id: String,
    pub sender_name: String,
    /// Plain text: shown escaped, line breaks kept.
    pub body: String,
    pub created_at: PrimitiveDateTime,
    /// Sent by the caller.
    pub mine: bool,
    /// Unread until this opening of the thread.
    pub unread: bool,
}

impl MessageView {
    pub(crate) fn of(m: MessageRow, me: &Party, unread: bool) -> MessageView {
        MessageView {
            mine: m.sender_kind == me.kind && m.sender_id == me.id,
            sender_kind: ParticipantKind::parse(&m.sender_kind).unwrap_or(ParticipantKind::Staff),
            id: m.id,
            sender_id: m.sender_id,
            sender_name: m.sender_name,
            body: m.body,
            created_at: m.created_at,
            unread,
        }
    }
}

/// A page of the inbox and where the next one starts.
#[derive(Debug, Clone, Serialize)]
pub struct InboxPage {
    pub conversations: Vec<ConversationSummary>,
    pub next: Option<InboxCursor>,
}

/// A thread as opened.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadView {
    pub conversation: ConversationSummary,
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// Older messages exist than those shown.
    pub has_earlier: bool,
    /// Why the caller cannot reply now (the thread is then read-only), in words.
    pub reply_refused: Option<String>,
}

/// The conversation and the caller's own row in it, or `NotFound`: for a missing id, a
/// conversation the caller is not in (whatever their role), and, for a portal user, one about a
/// patient they no longer hold a grant covering messages for.
pub(crate) async fn visible_conversation(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(ConversationRow, ParticipantRow), MessagingError> {
    let id = ConversationId::parse(id).map_err(|_| AccessError::NotFound)?;
    let conv = store::find_conversation(conn, id.as_str()).await?.ok_or(AccessError::NotFound)?;
    let mine = store::participant(conn, id.as_str(), &caller.party()).await?.ok_or(AccessError::NotFound)?;
    if !caller.may_reach(conv.patient_id.as_deref()) {
        return Err(AccessError::NotFound.into());
    }
    Ok((conv, mine))
}

/// [`visible_conversation`] with everyone in it (the caller's own row, also returned, among
/// them), read together: what a thread and a reply need.
pub(crate) async fn visible_with_participants(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(ConversationRow, ParticipantRow, Vec<ParticipantRow>), MessagingError> {
    let id = ConversationId::parse(id).map_err(|_| AccessError::NotFound)?;
    let (conv, parts) = store::conversation_with_participants(conn, id.as_str()).await?.ok_or(AccessError::NotFound)?;
    let me = caller.party();
    let mine = parts.iter().find(|p| p.participant_kind == me.kind && p.participant_id == me.id).cloned();
    match mine {
        Some(mine) if caller.may_reach(conv.patient_id.as_deref()) => Ok((conv, mine, parts)),
        _ => Err(AccessError::NotFound.into()),
    }
}

fn patient_name(r: &InboxRow) -> Option<String> {
    match (&r.patient_first_name, &r.patient_last_name) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        _ => None,
    }
}

/// Summaries of inbox rows, each naming everyone else in its conversation from the list its
/// row keeps (no other read).
fn summarize(me: &Party, rows: Vec<InboxRow>) -> Result<Vec<ConversationSummary>, MessagingError> {
    rows.into_iter().map(|r| summary(me, r)).collect()
}

fn summary(me: &Party, r: InboxRow) -> Result<ConversationSummary, MessagingError> {
    let others = People::parse(&r.conversation.participant_list)?
        .0
        .into_iter()
        .filter(|(kind, id, _)| !(kind == me.kind && *id == me.id))
        .map(|(kind, id, name)| ParticipantView {
            kind: ParticipantKind::parse(&kind).unwrap_or(ParticipantKind::Staff),
            id,
            name,
        })
        .collect();
    Ok(ConversationSummary {
        patient_name: patient_name(&r),
        others,
        id: r.conversation.id,
        kind: ConversationKind::parse(&r.conversation.kind).unwrap_or(ConversationKind::Staff),
        patient_id: r.conversation.patient_id,
        subject: r.conversation.subject,
        last_message_at: r.me.last_message_at,
        message_count: r.conversation.message_count,
        archived: r.me.archived,
        unread_count: r.me.unread_count,
    })
}

/// One page of the caller's Active or Archived conversations, newest message first, with unread
/// counts. `after` is the previous page's `next`. Audited (the page shows subjects and names).
pub async fn inbox(
    db: &Db,
    caller: &Caller,
    folder: InboxFolder,
    after: Option<InboxCursor>,
) -> Result<InboxPage, MessagingError> {
    let me = caller.party();
    let mut conn = db.read().await?;
    let mut rows = store::inbox(
        &mut conn,
        &InboxQuery {
            who: me.clone(),
            archived: Some(folder == InboxFolder::Archived),
            patients: caller.message_patients(),
            ids: None,
            after,
            limit: PAGE + 1,
        },
    )
    .await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next = if more {
        rows.last()
            .map(|r| InboxCursor { last_message_at: r.me.last_message_at, conversation_id: r.conversation.id.clone() })
    } else {
        None
    };
    let conversations = summarize(&me, rows)?;
    drop(conn);
    db.audit_read(
        caller
            .entry(AuditAction::InboxViewed)
            .detail(json!({ "folder": folder.as_str(), "count": conversations.len() })),
    )
    .await?;
    Ok(InboxPage { conversations, next })
}

/// Opens a thread: its newest messages, oldest first, the ones that were unread marked, and
/// whether the caller may reply (and why not). Marks the conversation read for the caller only.
pub async fn open_thread(db: &Db, caller: &Caller, conversation_id: &str) -> Result<ThreadView, MessagingError> {
    let me = caller.party();
    let mut conn = db.read().await?;
    let (conv, mine, parts) = visible_with_participants(&mut conn, caller, conversation_id).await?;
    let (unread_before, rows, has_earlier) = if mine.unread_count > 0 {
        drop(conn);
        let (id, who) = (conv.id.clone(), me.clone());
        // The count is read and reset under the row's lock, and the messages read after it in
        // the same transaction: a message arriving meanwhile is either shown here or counted
        // unread afterwards, never lost between the two.
        let out = db
            .write(move |tx| {
                Box::pin(async move {
                    let p = store::participant_for_update(tx, &id, &who).await?.ok_or(AccessError::NotFound)?;
                    store::mark_read(tx, &id, &who, now_utc()).await?;
                    let (rows, earlier) = store::thread(tx, &id, THREAD_MESSAGES).await?;
                    Ok::<_, MessagingError>((p.unread_count, rows, earlier))
                })
            })
            .await?;
        conn = db.read().await?;
        out
    } else {
        let (rows, earlier) = store::thread(&mut conn, &conv.id, THREAD_MESSAGES).await?;
        (0, rows, earlier)
    };
    let reply_refused = match crate::send::reply_check(&mut conn, caller, &conv, &parts).await {
        Ok(_) => None,
        Err(MessagingError::Refused(r)) => Some(r.to_string()),
        Err(MessagingError::Access(AccessError::NotFound)) => Some("you can no longer reply here".to_owned()),
        Err(MessagingError::Access(a)) => Some(a.to_string()),
        Err(e) => return Err(e),
    };
    // The newest `unread_before` messages from others are the unread ones: the same count as the
    // inbox's dot, whatever the clocks say.
    let mut left = unread_before.max(0) as usize;
    let mut messages: Vec<MessageView> = Vec::with_capacity(rows.len());
    for m in rows.into_iter().rev() {
        let from_other = !(m.sender_kind == me.kind && m.sender_id == me.id);
        let unread = from_other && left > 0;
        if unread {
            left -= 1;
        }
        messages.push(MessageView::of(m, &me, unread));
    }
    messages.reverse();
    let row = InboxRow {
        me: InboxMine { unread_count: 0, ..InboxMine::from(&mine) },
        patient_first_name: None,
        patient_last_name: None,
        conversation: InboxConversation::from(&conv),
    };
    let mut summary = summary(&me, row)?;
    if let Some(p) = &conv.patient_id {
        let patient = portal_store::portal_access::patient(&mut conn, p).await?;
        summary.patient_name = Some(patient.full_name());
    }
    drop(conn);
    let mut entry = caller.entry(AuditAction::ConversationViewed).target("conversation", &conv.id);
    if let Some(p) = &conv.patient_id {
        entry = entry.patient(p);
    }
    db.audit_read(entry.detail(json!({ "messages": messages.len() }))).await?;
    Ok(ThreadView { conversation: summary, messages, has_earlier, reply_refused })
}

/// A page of a thread's messages.
#[derive(Debug, Clone, Serialize)]
pub struct MessagePage {
    /// Oldest first; at most [`THREAD_MESSAGES`].
    pub messages: Vec<MessageView>,
    /// Older messages exist still.
    pub has_earlier: bool,
}

/// A page of messages of a conversation the caller takes part in (the same visibility as
/// [`open_thread`]): the newest [`THREAD_MESSAGES`], or with `before_message_id` those just
/// before that message ("Show earlier messages"; a message of another conversation is a 404).
/// Marks nothing read (opening the thread does) and is audited like opening the thread.
pub async fn messages(
    db: &Db,
    caller: &Caller,
    conversation_id: &str,
    before_message_id: Option<&str>,
) -> Result<MessagePage, MessagingError> {
    let me = caller.party();
    let before = match before_message_id {
        Some(b) => Some(portal_core::ids::MessageId::parse(b).map_err(|_| AccessError::NotFound)?),
        None => None,
    };
    let mut conn = db.read().await?;
    let (conv, _) = visible_conversation(&mut conn, caller, conversation_id).await?;
    let (rows, has_earlier) = match &before {
        Some(b) => store::thread_before(&mut conn, &conv.id, b.as_str(), THREAD_MESSAGES).await?,
        None => store::thread(&mut conn, &conv.id, THREAD_MESSAGES).await?,
    };
    drop(conn);
    let messages: Vec<MessageView> = rows.into_iter().map(|m| MessageView::of(m, &me, false)).collect();
    let mut entry = caller.entry(AuditAction::ConversationViewed).target("conversation", &conv.id);
    if let Some(p) = &conv.patient_id {
        entry = entry.patient(p);
    }
    db.audit_read(entry.detail(json!({ "messages": messages.len(), "earlier": before.is_some() }))).await?;
    Ok(MessagePage { messages, has_earlier })
}

async fn set_archived(db: &Db, caller: &Caller, conversation_id: &str, archived: bool) -> Result<(), MessagingError> {
    let mut conn = db.read().await?;
    let (conv, mine) = visible_conversation(&mut conn, caller, conversation_id).await?;
    drop(conn);
    if mine.archived == archived {
        return Ok(());
    }
    let who = caller.party();
    let action = if archived { AuditAction::ConversationArchived } else { AuditAction::ConversationUnarchived };
    let mut entry = caller.entry(action).target("conversation", &conv.id);
    if let Some(p) = &conv.patient_id {
        entry = entry.patient(p);
    }
    db.write(move |tx| {
        Box::pin(async move {
            if !store::set_archived(tx, &conv.id, &who, archived, now_utc()).await? {
                return Err(AccessError::NotFound.into());
            }
            audit::append(tx, &entry).await?;
            Ok::<_, MessagingError>(())
        })
    })
    .await
}

/// Moves the conversation to the caller's Archived section (nobody else's).
pub async fn archive(db: &Db, caller: &Caller, conversation_id: &str) -> Result<(), MessagingError> {
    set_archived(db, caller, conversation_id, true).await
}

/// Moves it back to the caller's Active section.
pub async fn unarchive(db: &Db, caller: &Caller, conversation_id: &str) -> Result<(), MessagingError> {
    set_archived(db, caller, conversation_id, false).await
}

/// The page header's count: unread messages across the caller's conversations (a number, not
/// audited; polled by the pages).
pub async fn unread_count(db: &Db, caller: &Caller) -> Result<i64, MessagingError> {
    let mut conn = db.read().await?;
    let patients = caller.message_patients();
    Ok(store::unread_total(&mut conn, &caller.party(), patients.as_deref()).await?)
}

/// Searches the caller's own conversations, Active and Archived, by name or keyword (at least 3
/// characters; every word must match a message, the subject or a participant's name). The
/// newest [`PAGE`] matches. Audited with the number of words and results, never the words.
pub async fn search(db: &Db, caller: &Caller, term: &str) -> Result<Vec<ConversationSummary>, MessagingError> {
    let term = SearchTerm::parse(term).map_err(|e| FieldErrors::single("q", e))?;
    let me = caller.party();
    let patients = caller.message_patients();
    // Staff see every match of theirs: the newest page is the answer. A portal user's matches
    // are then narrowed to the patients they may write about, so more candidates are read.
    let candidates = if patients.is_some() { store::SEARCH_CANDIDATES } else { PAGE };
    let mut conn = db.read().await?;
    let ids = store::search(&mut conn, &me, term.words(), candidates).await?;
    let rows = if ids.is_empty() {
        vec![]
    } else {
        store::inbox(
            &mut conn,
            &InboxQuery { who: me.clone(), archived: None, patients, ids: Some(ids), after: None, limit: PAGE },
        )
        .await?
    };
    let found = summarize(&me, rows)?;
    drop(conn);
    db.audit_read(
        caller
            .entry(AuditAction::MessagesSearched)
            .detail(json!({ "words": term.words().len(), "results": found.len() })),
    )
    .await?;
    Ok(found)
}

/// The caller's Active conversations with portal users that hold unread messages, newest first,
/// at most [`PAGE`] (the Patient Portal Queue's "Messages from the portal"; seed 002: the queue
/// shows requests and secure messages coming from the portal). Read among the newest 100
/// Active conversations: an older unread one is still in the inbox. Audited like the inbox.
pub async fn unread_portal(db: &Db, caller: &Caller) -> Result<Vec<ConversationSummary>, MessagingError> {
    let me = caller.party();
    let mut conn = db.read().await?;
    let mut rows = store::inbox(
        &mut conn,
        &InboxQuery {
            who: me.clone(),
            archived: Some(false),
            patients: caller.message_patients(),
            ids: None,
            after: None,
            limit: 100,
        },
    )
    .await?;
    rows.retain(|r| r.conversation.kind == ConversationKind::Portal.as_str() && r.me.unread_count > 0);
    rows.truncate(PAGE as usize);
    let found = summarize(&me, rows)?;
    drop(conn);
    if !found.is_empty() {
        db.audit_read(
            caller.entry(AuditAction::InboxViewed).detail(json!({ "folder": "unread_portal", "count": found.len() })),
        )
        .await?;
    }
    Ok(found)
}

/// The caller's own conversations about one patient, Active and Archived, newest first, at most
/// [`PAGE`] (seed 002: "Show past correspondence with this patient"). Only conversations the
/// caller takes part in, like everywhere else; a patient the caller may not reach gives none.
pub async fn about_patient(
    db: &Db,
    caller: &Caller,
    patient_id: &str,
) -> Result<Vec<ConversationSummary>, MessagingError> {
    if !caller.may_reach(Some(patient_id)) {
        return Ok(vec![]);
    }
    let me = caller.party();
    let mut conn = db.read().await?;
    let rows = store::inbox(
        &mut conn,
        &InboxQuery {
            who: me.clone(),
            archived: None,
            patients: Some(vec![patient_id.to_owned()]),
            ids: None,
            after: None,
            limit: PAGE,
        },
    )
    .await?;
    let found = summarize(&me, rows)?;
    drop(conn);
    db.audit_read(
        caller
            .entry(AuditAction::InboxViewed)
            .patient(patient_id)
            .detail(json!({ "folder": "about_patient", "count": found.len() })),
    )
    .await?;
    Ok(found)
}
