//! Secure messaging: conversations, participants, messages, the inbox and full-text search.
//!
//! Layout, designed for a million messages:
//! - `conversation_participants` holds one row per person and conversation with that person's
//!   archive flag, unread count and a copy of the conversation's last message time, so the inbox
//!   (a participant's Active or Archived conversations, newest first, 25 a page) is one range of
//!   the index `conversation_participants_inbox`, and the header's unread count reads only the
//!   rows of the partial index `conversation_participants_unread`.
//! - A send writes one message row, updates the conversation and each participant row (the
//!   others' unread counts go up and their archive flag goes; the sender's unread count goes to
//!   zero), all inside the caller's transaction.
//! - Search is restricted to the caller's participant rows first; each word must match, as a
//!   prefix, a message of the conversation or its subject or participant names (on SQLite an FTS5
//!   table of one row per conversation kept by triggers, on PostgreSQL generated `tsvector`
//!   columns with GIN indexes).

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, insert_many, load_rows, load_sqlite, on_backend};
use crate::schema::{care_team_members, conversation_participants, conversations, messages, organization, patients};

/// The participant rows of one conversation (`$id`, an owned `String`): staff first,
/// then portal users, each by name (the order of [`People`]).
macro_rules! participants_query {
    ($id:expr) => {
        Cached(
            conversation_participants::table
                .filter(conversation_participants::conversation_id.eq($id))
                .order((
                    conversation_participants::participant_kind.desc(),
                    conversation_participants::display_name.asc(),
                ))
                .select(ParticipantRow::as_select()),
        )
    };
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = conversations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ConversationRow {
    pub id: String,
    pub kind: String,
    pub patient_id: Option<String>,
    pub subject: Option<String>,
    pub participant_names: String,
    pub started_by_kind: String,
    pub started_by_id: String,
    pub created_at: PrimitiveDateTime,
    pub last_message_at: PrimitiveDateTime,
    pub message_count: i32,
    /// Everyone in it, as JSON (see [`People`]).
    pub participant_list: String,
}

/// Everyone in a conversation as its row keeps them (`conversations.participant_list`): a JSON
/// array of `[kind, id, display name]`, staff before portal users, each by name, written once
/// when the conversation starts (nobody joins or leaves later). An inbox line names the others
/// from it instead of reading the page's participant rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct People(pub Vec<(String, String, String)>);

impl People {
    /// The list of `participants` (`(party, display name)`), in the stored order.
    pub fn of(participants: &[(Party, String)]) -> People {
        let mut list: Vec<_> =
            participants.iter().map(|(p, name)| (p.kind.to_owned(), p.id.clone(), name.clone())).collect();
        // Kind descending ("staff" before "portal"), then the name bytewise: the order
        // `participants_of` reads rows in, and the migration's (`COLLATE "C"`).
        list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
        People(list)
    }

    /// Parses a stored list. A list that does not parse (written by hand, or by a newer version
    /// in another shape) is an error rather than a conversation shown without its people.
    pub fn parse(stored: &str) -> Result<People, StoreError> {
        serde_json::from_str(stored)
            .map(People)
            .map_err(|e| StoreError::Corrupt(format!("a conversation's participant list: {e}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_owned())
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = conversation_participants)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ParticipantRow {
    pub conversation_id: String,
    pub participant_kind: String,
    pub participant_id: String,
    pub display_name: String,
    pub archived: bool,
    pub archived_at: Option<PrimitiveDateTime>,
    pub last_message_at: PrimitiveDateTime,
    pub unread_count: i32,
    pub last_read_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct MessageRow {
    pub id: String,
    pub conversation_id: String,
    pub sender_kind: String,
    pub sender_id: String,
    pub sender_name: String,
    pub body: String,
    pub created_at: PrimitiveDateTime,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// A person in a conversation, as the store knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// `staff` or `portal`.
    pub kind: &'static str,
    pub id: String,
}

pub struct NewConversation<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub patient_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub started_by: &'a Party,
    pub at: PrimitiveDateTime,
}

// `None` written as NULL: several rows go in one statement (`insert_many!`).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = conversation_participants, treat_none_as_default_value = false)]
struct NewParticipantRow {
    conversation_id: String,
    participant_kind: String,
    participant_id: String,
    display_name: String,
    archived: bool,
    archived_at: Option<PrimitiveDateTime>,
    last_message_at: PrimitiveDateTime,
    unread_count: i32,
    last_read_at: Option<PrimitiveDateTime>,
}

/// Starts a conversation with its participants (`(party, display name)`, the starter among
/// them). No message yet: add the first with [`add_message`]. Call inside [`crate::Db::write`].
pub async fn insert_conversation(
    conn: &mut DbConn,
    c: &NewConversation<'_>,
    participants: &[(Party, String)],
) -> Result<(), StoreError> {
    let names = participants.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(" ");
    let list = People::of(participants).to_json();
    on_backend!(conn, |x| diesel::insert_into(conversations::table)
        .values((
            conversations::id.eq(c.id),
            conversations::participant_list.eq(&list),
            conversations::kind.eq(c.kind),
            conversations::patient_id.eq(c.patient_id),
            conversations::subject.eq(c.subject),
            conversations::participant_names.eq(&names),
            conversations::started_by_kind.eq(c.started_by.kind),
            conversations::started_by_id.eq(&c.started_by.id),
            conversations::created_at.eq(c.at),
            conversations::last_message_at.eq(c.at),
            conversations::message_count.eq(0),
        ))
        .execute(x)
        .await)?;
    let rows: Vec<NewParticipantRow> = participants
        .iter()
        .map(|(p, name)| NewParticipantRow {
            conversation_id: c.id.to_owned(),
            participant_kind: p.kind.to_owned(),
            participant_id: p.id.clone(),
            display_name: name.clone(),
            archived: false,
            archived_at: None,
            last_message_at: c.at,
            unread_count: 0,
            last_read_at: None,
        })
        .collect();
    insert_many!(conn, conversation_participants::table, rows)?;
    Ok(())
}

pub struct NewMessage<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    pub sender: &'a Party,
    pub sender_name: &'a str,
    pub body: &'a str,
    pub at: PrimitiveDateTime,
    pub idempotency_key: Option<&'a str>,
}

/// Adds a message: the row, the conversation's last message time and count, and every
/// participant's row (the others: one more unread and back to Active; the sender: nothing
/// unread and back to Active). Call inside [`crate::Db::write`]. A second message with the same
/// sender and idempotency key is refused by the unique index (`StoreError::Conflict`); callers
/// look the first one up with [`by_idempotency_key`].
pub async fn add_message(conn: &mut DbConn, m: &NewMessage<'_>) -> Result<MessageRow, StoreError> {
    add_message_with(conn, m, None).await
}

/// [`add_message`] with what a send records beside its message: the outbox event it raises,
/// if any, and its audit row (as [`crate::outbox::enqueue_event`] and [`crate::audit::append`]
/// write them). On PostgreSQL the five statements go out together, one round trip where there
/// had been three. Call inside [`crate::Db::write`].
pub async fn add_message_recorded(
    conn: &mut DbConn,
    m: &NewMessage<'_>,
    event: Option<&portal_core::events::DomainEvent>,
    audit: &crate::audit::AuditEntry,
) -> Result<MessageRow, StoreError> {
    if let DbConn::Sqlite(_) = conn {
        let row = add_message(conn, m).await?;
        if let Some(event) = event {
            crate::outbox::enqueue_event(conn, event).await?;
        }
        crate::audit::append(conn, audit).await?;
        return Ok(row);
    }
    let event = event.map(crate::outbox::NewEvent::of_event).transpose()?;
    let pending = crate::audit::NewPendingRow::of(audit, portal_core::time_util::now_utc());
    let row = add_message_with(conn, m, Some((event, pending))).await?;
    crate::audit::left_unchained();
    Ok(row)
}

/// An outbox event and an audit row sent along with a message's statements (PostgreSQL).
type Riders = (Option<crate::outbox::NewEvent>, crate::audit::NewPendingRow);

async fn add_message_with(
    conn: &mut DbConn,
    m: &NewMessage<'_>,
    riders: Option<Riders>,
) -> Result<MessageRow, StoreError> {
    use conversation_participants as cp;
    use diesel::dsl::case_when;
    // Three statements written once for both backends: the message (returned as stored), the
    // conversation, and every participant's row in one update (the sender's by CASE).
    macro_rules! statements {
        ($m:expr) => {{
            let m = $m;
            let is_sender =
                cp::participant_kind.eq(m.sender_kind.clone()).and(cp::participant_id.eq(m.sender_id.clone()));
            (
                diesel::insert_into(messages::table)
                    .values((
                        messages::id.eq(m.id.clone()),
                        messages::conversation_id.eq(m.conversation_id.clone()),
                        messages::sender_kind.eq(m.sender_kind.clone()),
                        messages::sender_id.eq(m.sender_id.clone()),
                        messages::sender_name.eq(m.sender_name.clone()),
                        messages::body.eq(m.body.clone()),
                        messages::created_at.eq(m.at),
                        messages::idempotency_key.eq(m.idempotency_key.clone()),
                    ))
                    .returning(MessageRow::as_returning()),
                Cached(diesel::update(conversations::table.find(m.conversation_id.clone())).set((
                    conversations::last_message_at.eq(m.at),
                    conversations::message_count.eq(conversations::message_count + 1),
                ))),
                Cached(
                    diesel::update(cp::table.filter(cp::conversation_id.eq(m.conversation_id.clone()))).set((
                        cp::unread_count.eq(case_when::<_, _, diesel::sql_types::Integer>(is_sender.clone(), 0)
                            .otherwise(cp::unread_count + 1)),
                        cp::last_read_at.eq(
                            case_when::<_, _, diesel::sql_types::Nullable<diesel::sql_types::Timestamp>>(
                                is_sender,
                                Some(m.at),
                            )
                            .otherwise(cp::last_read_at),
                        ),
                        cp::archived.eq(false),
                        cp::archived_at.eq(None::<PrimitiveDateTime>),
                        cp::last_message_at.eq(m.at),
                    )),
                ),
            )
        }};
    }
    let owned = OwnedMessage {
        id: m.id.to_owned(),
        conversation_id: m.conversation_id.to_owned(),
        sender_kind: m.sender.kind.to_owned(),
        sender_id: m.sender.id.clone(),
        sender_name: m.sender_name.to_owned(),
        body: m.body.to_owned(),
        at: m.at,
        idempotency_key: m.idempotency_key.map(str::to_owned),
    };
    let (row, conversations_updated) = on_backend!(
        conn,
        // One hop to SQLite's thread for the three.
        sqlite | c | {
            debug_assert!(riders.is_none(), "SQLite's riders are written by add_message_recorded");
            c.spawn_blocking(move |sc| {
                let (insert, conversation, participants) = statements!(&owned);
                let row: MessageRow = diesel::RunQueryDsl::get_result(insert, sc)?;
                let n = diesel::RunQueryDsl::execute(conversation, sc)?;
                diesel::RunQueryDsl::execute(participants, sc)?;
                Ok((row, n))
            })
            .await
        },
        // Futures on a shared connection: diesel-async sends every statement before reading
        // an answer (one round trip instead of one each). They run in order; when the insert
        // fails (a repeated idempotency key) the others fail after it, and its answer, read
        // first, is the error returned.
        pg | c | {
            let (insert, conversation, participants) = statements!(&owned);
            let c: &crate::db::PgConn = c;
            let (mut first, mut second, mut third, mut fourth, mut fifth) = (c, c, c, c, c);
            let (event, pending) = match riders {
                Some((event, pending)) => (event, Some(pending)),
                None => (None, None),
            };
            let event = async {
                match event {
                    Some(e) => diesel::insert_into(crate::schema::outbox_events::table)
                        .values(e)
                        .execute(&mut fourth)
                        .await
                        .map(drop),
                    None => Ok(()),
                }
            };
            let pending = async {
                match pending {
                    Some(p) => diesel::insert_into(crate::schema::audit_pending::table)
                        .values(p)
                        .execute(&mut fifth)
                        .await
                        .map(drop),
                    None => Ok(()),
                }
            };
            let (row, n, _, (), ()) = futures_util::try_join!(
                insert.get_result::<MessageRow>(&mut first),
                conversation.execute(&mut second),
                participants.execute(&mut third),
                event,
                pending,
            )?;
            Ok::<_, diesel::result::Error>((row, n))
        }
    )?;
    if conversations_updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(row)
}

/// [`NewMessage`] with owned values, for statements that run on SQLite's blocking thread.
struct OwnedMessage {
    id: String,
    conversation_id: String,
    sender_kind: String,
    sender_id: String,
    sender_name: String,
    body: String,
    at: PrimitiveDateTime,
    idempotency_key: Option<String>,
}

pub async fn find_message(conn: &mut DbConn, id: &str) -> Result<MessageRow, StoreError> {
    Ok(on_backend!(conn, |c| messages::table.find(id).select(MessageRow::as_select()).first(c).await)?)
}

/// The message `sender` sent with `key`, if any: what a retried send returns.
pub async fn by_idempotency_key(
    conn: &mut DbConn,
    sender: &Party,
    key: &str,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(on_backend!(conn, |c| messages::table
        .filter(messages::sender_kind.eq(sender.kind))
        .filter(messages::sender_id.eq(&sender.id))
        .filter(messages::idempotency_key.eq(key))
        .select(MessageRow::as_select())
        .first(c)
        .await
        .optional())?)
}

pub async fn find_conversation(conn: &mut DbConn, id: &str) -> Result<Option<ConversationRow>, StoreError> {
    Ok(on_backend!(conn, |c| conversations::table
        .find(id)
        .select(ConversationRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// A conversation with everyone in it (as [`participants_of`] reads them), or `None`. On
/// PostgreSQL the two statements go out together and are answered in one round trip.
pub async fn conversation_with_participants(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<(ConversationRow, Vec<ParticipantRow>)>, StoreError> {
    let (conversation, participants) = match conn {
        DbConn::Sqlite(_) => {
            let Some(conversation) = find_conversation(conn, id).await? else { return Ok(None) };
            return Ok(Some((conversation, participants_of(conn, id).await?)));
        }
        DbConn::Pg(c) => {
            let c: &crate::db::PgConn = c;
            let (mut c1, mut c2) = (c, c);
            futures_util::try_join!(
                async {
                    conversations::table.find(id).select(ConversationRow::as_select()).first(&mut c1).await.optional()
                },
                participants_query!(id.to_owned()).load::<ParticipantRow>(&mut c2),
            )?
        }
    };
    Ok(conversation.map(|c| (c, participants)))
}

/// One participant's row, or `None` when `who` is not in the conversation.
pub async fn participant(
    conn: &mut DbConn,
    conversation_id: &str,
    who: &Party,
) -> Result<Option<ParticipantRow>, StoreError> {
    Ok(on_backend!(conn, |c| conversation_participants::table
        .find((conversation_id, who.kind, &who.id))
        .select(ParticipantRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The same, locked until the end of the transaction on PostgreSQL (SQLite's immediate
/// transaction already excludes other writers): opening a thread reads the unread count and
/// resets it without losing a message that arrives in between.
pub async fn participant_for_update(
    conn: &mut DbConn,
    conversation_id: &str,
    who: &Party,
) -> Result<Option<ParticipantRow>, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite
            | c
            | conversation_participants::table
                .find((conversation_id, who.kind, &who.id))
                .select(ParticipantRow::as_select())
                .first(c)
                .await
                .optional(),
        pg | c
            | conversation_participants::table
                .find((conversation_id, who.kind, &who.id))
                .select(ParticipantRow::as_select())
                .for_update()
                .first(c)
                .await
                .optional()
    )?)
}

/// Everyone in the conversation `id`: staff before portal users, each by name.
pub async fn participants_of(conn: &mut DbConn, id: &str) -> Result<Vec<ParticipantRow>, StoreError> {
    Ok(load_rows!(conn, participants_query!(id.to_owned()))?)
}

/// Sets `who`'s unread count to zero. Call inside [`crate::Db::write`].
pub async fn mark_read(
    conn: &mut DbConn,
    conversation_id: &str,
    who: &Party,
    at: PrimitiveDateTime,
) -> Result<(), StoreError> {
    on_backend!(conn, |c| Cached(
        diesel::update(conversation_participants::table.find((conversation_id, who.kind, &who.id)))
            .set((conversation_participants::unread_count.eq(0), conversation_participants::last_read_at.eq(Some(at))))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Archives or unarchives the conversation for `who` only. `false` when `who` is not in it.
pub async fn set_archived(
    conn: &mut DbConn,
    conversation_id: &str,
    who: &Party,
    archived: bool,
    at: PrimitiveDateTime,
) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(conversation_participants::table.find((conversation_id, who.kind, &who.id))).set((
            conversation_participants::archived.eq(archived),
            conversation_participants::archived_at.eq(archived.then_some(at))
        ))
    )
    .execute(c)
    .await)?;
    Ok(n > 0)
}

/// The newest `limit` messages of a conversation, oldest first, and whether older ones exist.
pub async fn thread(
    conn: &mut DbConn,
    conversation_id: &str,
    limit: i64,
) -> Result<(Vec<MessageRow>, bool), StoreError> {
    messages_before(conn, conversation_id, i64::MAX, limit).await
}

/// The `limit` messages of a conversation just before `before_message_id` (a message of the same
/// conversation), oldest first, and whether there are older ones still: "Show earlier messages"
/// in a thread longer than one screen. `NotFound` when the message is not in this conversation.
pub async fn thread_before(
    conn: &mut DbConn,
    conversation_id: &str,
    before_message_id: &str,
    limit: i64,
) -> Result<(Vec<MessageRow>, bool), StoreError> {
    let before: i64 = on_backend!(conn, |c| messages::table
        .filter(messages::id.eq(before_message_id))
        .filter(messages::conversation_id.eq(conversation_id))
        .select(messages::seq)
        .first(c)
        .await
        .optional())?
    .ok_or(StoreError::NotFound)?;
    messages_before(conn, conversation_id, before, limit).await
}

/// The `limit` messages of a conversation with a sequence number below `before_seq`, oldest
/// first, and whether older ones remain: one query for the newest page and for earlier ones.
async fn messages_before(
    conn: &mut DbConn,
    conversation_id: &str,
    before_seq: i64,
    limit: i64,
) -> Result<(Vec<MessageRow>, bool), StoreError> {
    let mut rows: Vec<MessageRow> = load_rows!(
        conn,
        messages::table
            .filter(messages::conversation_id.eq(conversation_id.to_owned()))
            .filter(messages::seq.lt(before_seq))
            .order(messages::seq.desc())
            .select(MessageRow::as_select())
            .limit(limit + 1)
    )?;
    let has_earlier = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    rows.reverse();
    Ok((rows, has_earlier))
}

/// One line of an inbox or of search results: what the line shows of the caller's own
/// participant row and of the conversation, and the patient's name when it is about one. Only
/// the columns a line shows: whole rows cost four more timestamps parsed a line (text on SQLite).
#[derive(Debug, Clone, Serialize)]
pub struct InboxRow {
    pub me: InboxMine,
    pub conversation: InboxConversation,
    pub patient_first_name: Option<String>,
    pub patient_last_name: Option<String>,
}

/// The caller's side of an inbox line.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = conversation_participants)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct InboxMine {
    pub archived: bool,
    pub last_message_at: PrimitiveDateTime,
    pub unread_count: i32,
}

impl From<&ParticipantRow> for InboxMine {
    fn from(p: &ParticipantRow) -> Self {
        InboxMine { archived: p.archived, last_message_at: p.last_message_at, unread_count: p.unread_count }
    }
}

/// The conversation's side of an inbox line.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = conversations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct InboxConversation {
    pub id: String,
    pub kind: String,
    pub patient_id: Option<String>,
    pub subject: Option<String>,
    pub message_count: i32,
    /// Everyone in it, as JSON ([`People::parse`]).
    pub participant_list: String,
}

impl From<&ConversationRow> for InboxConversation {
    fn from(c: &ConversationRow) -> Self {
        InboxConversation {
            id: c.id.clone(),
            kind: c.kind.clone(),
            patient_id: c.patient_id.clone(),
            subject: c.subject.clone(),
            message_count: c.message_count,
            participant_list: c.participant_list.clone(),
        }
    }
}

/// Where the next page of an inbox starts: after the last row of this one (keyset pagination,
/// so page 400 costs what page 1 does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InboxCursor {
    pub last_message_at: PrimitiveDateTime,
    pub conversation_id: String,
}

/// What an inbox query reads.
#[derive(Debug, Clone)]
pub struct InboxQuery {
    pub who: Party,
    /// `Some(archived)`: one section; `None`: both (search results).
    pub archived: Option<bool>,
    /// Only conversations about these patients (a portal user's grants in force covering
    /// messages); `None`: no such limit.
    pub patients: Option<Vec<String>>,
    /// Only these conversations (search results); `None`: no such limit.
    pub ids: Option<Vec<String>>,
    pub after: Option<InboxCursor>,
    pub limit: i64,
}

/// The caller's conversations, newest message first.
pub async fn inbox(conn: &mut DbConn, q: &InboxQuery) -> Result<Vec<InboxRow>, StoreError> {
    use conversation_participants as cp;
    macro_rules! filtered {
        ($db:ty) => {{
            let mut b = cp::table
                .inner_join(conversations::table.left_join(patients::table))
                .filter(cp::participant_kind.eq(q.who.kind))
                .filter(cp::participant_id.eq(q.who.id.clone()))
                .into_boxed::<$db>();
            if let Some(a) = q.archived {
                b = b.filter(cp::archived.eq(a));
            }
            if let Some(p) = &q.patients {
                b = b.filter(conversations::patient_id.eq_any(p.clone()));
            }
            if let Some(ids) = &q.ids {
                b = b.filter(cp::conversation_id.eq_any(ids.clone()));
            }
            if let Some(cur) = &q.after {
                b = b.filter(
                    cp::last_message_at.lt(cur.last_message_at).or(cp::last_message_at
                        .eq(cur.last_message_at)
                        .and(cp::conversation_id.lt(cur.conversation_id.clone()))),
                );
            }
            b.order((cp::last_message_at.desc(), cp::conversation_id.desc()))
                .select((
                    InboxMine::as_select(),
                    InboxConversation::as_select(),
                    patients::first_name.nullable(),
                    patients::last_name.nullable(),
                ))
                .limit(q.limit.clamp(1, 100))
        }};
    }
    type Raw = (InboxMine, InboxConversation, Option<String>, Option<String>);
    let rows: Vec<Raw> = on_backend!(
        conn,
        // A list of search results (up to SEARCH_CANDIDATES ids) is not cached: one statement per
        // length of the list would stay in each connection's cache.
        sqlite
            | c
            | if q.ids.is_some() {
                load_sqlite(c, filtered!(diesel::sqlite::Sqlite)).await
            } else {
                load_sqlite(c, Cached(filtered!(diesel::sqlite::Sqlite))).await
            },
        pg | c | Cached(filtered!(diesel::pg::Pg)).load(c).await
    )?;
    Ok(rows
        .into_iter()
        .map(|(me, conversation, f, l)| InboxRow { me, conversation, patient_first_name: f, patient_last_name: l })
        .collect())
}

/// `unread_count > 0` with the 0 written into the statement, not bound: SQLite is built with
/// `SQLITE_ENABLE_QPSG` (plans that do not depend on bound values; docs/architecture.md), so
/// only a literal proves that the partial index `conversation_participants_unread` applies.
/// With `> ?` the count read every conversation row of the caller (1,000 for the benchmark's
/// staff member, more pages than a connection's cache holds) instead of the unread ones:
/// 1,400 counts a second against 16,900 with the literal (wrk, 32 connections, the benchmark's
/// SQLite data).
macro_rules! unread_of {
    ($who:expr) => {
        conversation_participants::table
            .filter(conversation_participants::participant_kind.eq($who.kind))
            .filter(conversation_participants::participant_id.eq(&$who.id))
            .filter(conversation_participants::unread_count.gt(diesel::dsl::sql::<diesel::sql_types::Integer>("0")))
    };
}

/// The number of unread messages across the caller's conversations (the page header's count),
/// limited to conversations about `patients` when given.
pub async fn unread_total(conn: &mut DbConn, who: &Party, patients: Option<&[String]>) -> Result<i64, StoreError> {
    use conversation_participants as cp;
    // `Cached`: diesel keeps no statement with a literal fragment in it.
    let total: Option<i64> = match patients {
        None => on_backend!(conn, |c| Cached(unread_of!(who).select(diesel::dsl::sum(cp::unread_count)))
            .get_result(c)
            .await)?,
        Some(p) => on_backend!(conn, |c| Cached(
            unread_of!(who)
                .inner_join(conversations::table)
                .filter(conversations::patient_id.eq_any(p))
                .select(diesel::dsl::sum(cp::unread_count))
        )
        .get_result(c)
        .await)?,
    };
    Ok(total.unwrap_or(0))
}

/// The SQL of [`unread_total`]'s count on SQLite, with its bound values listed after it (for a
/// test that asks SQLite for its plan).
#[doc(hidden)]
pub fn unread_total_sqlite_sql(who: &Party) -> String {
    use conversation_participants as cp;
    diesel::debug_query::<diesel::sqlite::Sqlite, _>(&unread_of!(who).select(diesel::dsl::sum(cp::unread_count)))
        .to_string()
}

/// The token that stands for `who` in the `owners` column of SQLite's `conversations_fts` (see
/// its migrations): the kind and the id without hyphens, one token for the unicode61 tokenizer.
fn owner_token(who: &Party) -> String {
    let id: String = who.id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{}{}", who.kind, id.to_lowercase())
}

#[derive(QueryableByName)]
struct MatchRow {
    #[diesel(sql_type = Text)]
    conversation_id: String,
}

/// The most conversations one search looks at (newest first); the caller shows a page of them.
pub const SEARCH_CANDIDATES: i64 = 500;

/// The ids of `who`'s conversations in which every word of `words` (lowercase letters and
/// digits only: see `portal_core::messaging::SearchTerm`) matches, as a prefix, a message, the
/// subject or a participant's name; newest first, at most `limit` (clamped to 1 to
/// [`SEARCH_CANDIDATES`]). No other conversation is ever considered: on PostgreSQL the caller's
/// participant rows are the outer query, on SQLite the caller's owner token is part of the match.
pub async fn search(conn: &mut DbConn, who: &Party, words: &[String], limit: i64) -> Result<Vec<String>, StoreError> {
    if words.is_empty() {
        return Ok(vec![]);
    }
    let limit_n = limit.clamp(1, SEARCH_CANDIDATES);
    let limit = limit_n.to_string();
    let order = format!(" ORDER BY p.last_message_at DESC, p.conversation_id DESC LIMIT {limit}");
    let rows: Vec<MatchRow> = on_backend!(
        conn,
        // One full-text row per conversation (subject, participant names, every message; see
        // the migration `conversation_search_documents`): every word and the caller's owner
        // token in one FTS5 match, so that other people's conversations are never read. The
        // matches are ordered by the conversation's last message (each participant row holds a
        // copy of it, which the inbox orders by): looking up each match's conversation is all
        // that is left. Walking the caller's participant rows instead and testing each against
        // the matches took 1.5-2x as long ("refill", the caller in 1,000 conversations, 410 of
        // them matching). Only ids come out; the caller's own rows are then read for them
        // (`inbox` with `ids`), so a conversation is shown only to its participants whatever
        // the index holds.
        sqlite | c | {
            let sql = format!(
                "SELECT cv.id AS conversation_id FROM conversations_fts g \
                 JOIN conversations cv ON cv.seq = g.rowid WHERE conversations_fts MATCH ? \
                 ORDER BY cv.last_message_at DESC, cv.id DESC LIMIT {limit}"
            );
            // Quoted FTS5 strings, each word followed by `*` (a prefix query), restricted to the
            // text columns so that it never matches an owner token: no operator in it.
            let mut expr = format!("owners : \"{}\"", owner_token(who));
            for w in words {
                expr.push_str(&format!(
                    " AND {{subject participant_names messages}} : \"{}\"*",
                    w.replace('"', "\"\"")
                ));
            }
            Cached(diesel::sql_query(sql).bind::<Text, _>(expr)).load(c).await
        },
        // Correlated per conversation of the caller, through `messages_by_conversation`: the
        // work grows with the caller's own messages, not with everyone's. Measured with 1,000,000
        // messages (a caller in 1,000 conversations): 14-30 ms for any word, where `IN (GIN
        // matches)` took 12 s for a word in every message (an OR of IN lists is not a semi-join).
        //
        // Active and Archived are two walks of the inbox index (kind, id, archived, newest first)
        // merged by PostgreSQL's Merge Append, each stopping at the limit: one walk over both
        // would test every conversation of the caller before sorting (a staff member's 1,000
        // conversations: 18.5 ms for "refill", against 1.3 ms in the two walks).
        pg | c | {
            // One word (most searches): the function `portal_message_search`, the same walks
            // with one plan per connection and the tsquery computed once (its migration says
            // what that is worth).
            if let [word] = words {
                return Ok(Cached(
                    diesel::sql_query("SELECT conversation_id FROM portal_message_search($1, $2, $3, $4)")
                        .bind::<Text, _>(who.kind.to_owned())
                        .bind::<Text, _>(who.id.clone())
                        .bind::<Text, _>(pg_prefix_query(word))
                        .bind::<diesel::sql_types::Integer, _>(limit_n as i32),
                )
                .load::<MatchRow>(c)
                .await?
                .into_iter()
                .map(|r| r.conversation_id)
                .collect());
            }
            let mut matches = String::new();
            for i in 0..words.len() {
                let n = i + 3;
                matches.push_str(&format!(
                    " AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = p.conversation_id \
                     AND m.search_vector @@ to_tsquery('simple', ${n})) \
                     OR EXISTS (SELECT 1 FROM conversations cv WHERE cv.id = p.conversation_id \
                     AND cv.search_vector @@ to_tsquery('simple', ${n})))"
                ));
            }
            let walk = |archived: bool| {
                format!(
                    "SELECT p.conversation_id, p.last_message_at FROM conversation_participants p \
                     WHERE p.participant_kind = $1 AND p.participant_id = $2 AND p.archived = {archived}\
                     {matches}{order}"
                )
            };
            let sql = format!(
                "SELECT u.conversation_id AS conversation_id FROM (({}) UNION ALL ({})) u \
                 ORDER BY u.last_message_at DESC, u.conversation_id DESC LIMIT {limit}",
                walk(false),
                walk(true)
            );
            let mut q = diesel::sql_query(sql)
                .into_boxed::<diesel::pg::Pg>()
                .bind::<Text, _>(who.kind.to_owned())
                .bind::<Text, _>(who.id.clone());
            for w in words {
                q = q.bind::<Text, _>(pg_prefix_query(w));
            }
            // Not `Cached`: a prepared statement turns to PostgreSQL's generic plan after five
            // runs, which evaluates `to_tsquery` again for every message tested: slower than
            // planning each search for its words (127 against 182 searches a second, measured).
            q.load(c).await
        }
    )?;
    Ok(rows.into_iter().map(|r| r.conversation_id).collect())
}

/// A search word as a PostgreSQL prefix tsquery: letters and digits only, so that it is exactly
/// one prefix term.
fn pg_prefix_query(word: &str) -> String {
    let term: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
    format!("{term}:*")
}

/// Whether the portal is on and which staff portal users may write to (the instance setting's
/// stored value), in one read: every portal message checks both, inside its transaction.
pub async fn portal_messaging_settings(conn: &mut DbConn) -> Result<(bool, String), StoreError> {
    let query =
        || organization::table.find(1).select((organization::use_portal, organization::portal_messaging_recipients));
    if let Some(found) = on_backend!(conn, |c| query().first(c).await.optional())? {
        return Ok(found);
    }
    // The first read of a new installation creates the organisation row.
    crate::org::organization(conn).await?;
    Ok(on_backend!(conn, |c| query().first(c).await)?)
}

/// Which staff portal users may write to (the instance setting's stored value).
pub async fn portal_messaging_recipients(conn: &mut DbConn) -> Result<String, StoreError> {
    Ok(portal_messaging_settings(conn).await?.1)
}

pub async fn set_portal_messaging_recipients(conn: &mut DbConn, value: &str) -> Result<(), StoreError> {
    crate::org::organization(conn).await?;
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(
        diesel::update(organization::table.find(1))
            .set((organization::portal_messaging_recipients.eq(value), organization::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// The staff ids on a patient's care team.
pub async fn care_team_ids(conn: &mut DbConn, patient_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(on_backend!(conn, |c| care_team_members::table
        .filter(care_team_members::patient_id.eq(patient_id))
        .select(care_team_members::staff_id)
        .load(c)
        .await)?)
}

/// Everything a portal conversation's pair is checked against when one of them replies
/// ([`portal_pair`]), as stored now.
#[derive(Debug, Clone)]
pub struct PortalPairRows {
    /// `None`: the patient is gone (the conversation is then corrupt).
    pub patient: Option<crate::portal_access::PatientPortalRow>,
    /// The portal switch and the recipients setting ([`portal_messaging_settings`]).
    pub settings: (bool, String),
    /// The patient's care team's staff ids.
    pub care_team: Vec<String>,
    /// The portal participant's account, `None` when it is gone.
    pub account: Option<crate::portal_accounts::AccountRow>,
    /// Its grant to the patient that is not revoked, if any
    /// ([`crate::portal_accounts::live_grant`]).
    pub grant: Option<crate::portal_accounts::GrantRow>,
    /// The staff participant's row and locations, when asked for (a portal user replies: the
    /// staff side is then not the caller's session) and the row is there.
    pub staff: Option<(crate::staff::StaffRow, Vec<String>)>,
}

/// Reads [`PortalPairRows`] for `patient_id`, the portal account `account_id` and, when given,
/// the staff member `staff_id`: the reads every reply in a portal conversation makes inside its
/// transaction. On PostgreSQL they are sent together and their answers read in one round trip
/// (five to seven statements that waited for each other in turn had made a reply's
/// transaction, and the conversation's row lock it holds, as long as the rest of the send);
/// on SQLite each is a read of the connection's own file anyway.
pub async fn portal_pair(
    conn: &mut DbConn,
    patient_id: &str,
    account_id: &str,
    staff_id: Option<&str>,
) -> Result<PortalPairRows, StoreError> {
    use crate::portal_access::PatientPortalRow;
    use crate::portal_accounts::{self as accounts, AccountRow, GrantRow};
    use crate::schema::{portal_accounts, portal_grants, staff_locations, staff_users};
    use crate::staff::{self as staff_store, StaffRow};
    let rows = match conn {
        DbConn::Sqlite(_) => {
            let patient = match crate::portal_access::patient(conn, patient_id).await {
                Ok(p) => Some(p),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            };
            let settings = portal_messaging_settings(conn).await?;
            let care_team = care_team_ids(conn, patient_id).await?;
            let account = accounts::find_account(conn, account_id).await?;
            let grant = accounts::live_grant(conn, account_id, patient_id).await?;
            let staff = match staff_id {
                Some(id) => match staff_store::find(conn, id).await {
                    Ok(row) => Some((row, staff_store::locations_of(conn, id).await?)),
                    Err(StoreError::NotFound) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            return Ok(PortalPairRows { patient, settings, care_team, account, grant, staff });
        }
        DbConn::Pg(c) => {
            // The same statements as `portal_access::patient`, `portal_messaging_settings`,
            // `care_team_ids`, `find_account`, `live_grant`, `staff::find` and `locations_of`,
            // each a future on the one connection: diesel-async writes each statement when its
            // future is first polled and tokio-postgres reads the answers in order.
            let c: &crate::db::PgConn = c;
            let (mut c1, mut c2, mut c3, mut c4, mut c5, mut c6, mut c7) = (c, c, c, c, c, c, c);
            let patient = async {
                patients::table.find(patient_id).select(PatientPortalRow::as_select()).first(&mut c1).await.optional()
            };
            let settings = async {
                organization::table
                    .find(1)
                    .select((organization::use_portal, organization::portal_messaging_recipients))
                    .first::<(bool, String)>(&mut c2)
                    .await
                    .optional()
            };
            let team = care_team_members::table
                .filter(care_team_members::patient_id.eq(patient_id))
                .select(care_team_members::staff_id)
                .load::<String>(&mut c3);
            let account = async {
                portal_accounts::table.find(account_id).select(AccountRow::as_select()).first(&mut c4).await.optional()
            };
            let grant = async {
                portal_grants::table
                    .filter(portal_grants::account_id.eq(account_id))
                    .filter(portal_grants::patient_id.eq(patient_id))
                    .filter(portal_grants::revoked_at.is_null())
                    .select(GrantRow::as_select())
                    .first(&mut c5)
                    .await
                    .optional()
            };
            let staff = async {
                let Some(id) = staff_id else { return Ok(None) };
                let (row, locations) = futures_util::future::try_join(
                    async { staff_users::table.find(id).select(StaffRow::as_select()).first(&mut c6).await.optional() },
                    staff_locations::table
                        .filter(staff_locations::staff_id.eq(id))
                        .select(staff_locations::location_id)
                        .order(staff_locations::location_id.asc())
                        .load::<String>(&mut c7),
                )
                .await?;
                Ok::<_, diesel::result::Error>(row.map(|r| (r, locations)))
            };
            let (patient, settings, care_team, account, grant, staff) =
                futures_util::try_join!(patient, settings, team, account, grant, staff)?;
            (patient, settings, care_team, account, grant, staff)
        }
    };
    let (patient, settings, care_team, account, grant, staff) = rows;
    // A new installation's first read creates the organisation row.
    let settings = match settings {
        Some(s) => s,
        None => portal_messaging_settings(conn).await?,
    };
    Ok(PortalPairRows { patient, settings, care_team, account, grant, staff })
}

#[cfg(test)]
mod tests {
    use super::{Party, People};

    #[test]
    fn a_participant_list_is_staff_then_portal_users_each_by_name_and_reads_back() {
        let staff = |id: &str| Party { kind: "staff", id: id.to_owned() };
        let list = People::of(&[
            (staff("s1"), "Dr Zed".to_owned()),
            (Party { kind: "portal", id: "p1".to_owned() }, "Ann \"Annie\" Lee".to_owned()),
            (staff("s2"), "Al Able".to_owned()),
        ]);
        let names: Vec<_> = list.0.iter().map(|(k, _, n)| (k.as_str(), n.as_str())).collect();
        assert_eq!(names, [("staff", "Al Able"), ("staff", "Dr Zed"), ("portal", "Ann \"Annie\" Lee")]);
        assert_eq!(People::parse(&list.to_json()).unwrap(), list);
        assert!(People::parse("[[\"staff\", \"s1\"]]").is_err(), "a list in another shape is an error");
        assert!(People::parse("").is_err());
    }
}
