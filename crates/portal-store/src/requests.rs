//! Patient requests from the portal, their timeline and the helpers' tasks (seed 002's Patient
//! Portal Queue).
//!
//! Layout, designed for 100,000 requests:
//! - The active queue is a range of `portal_requests_queue` (`archived`, `seq`) or, for staff
//!   limited to some locations, of `portal_requests_by_location`; `seq` numbers requests as they
//!   are made, so newest first is descending `seq` and pages are keyset (`before_seq`).
//! - The archive's search: on SQLite a contentless FTS5 table whose `place` and `state` token
//!   columns make "my locations, archived, these words" one intersection inside FTS5, read in
//!   descending rowid (= `seq`) order so the first page stops early; on PostgreSQL a generated
//!   `tsvector` with a GIN index, and the postings of each lexeme (`portal_request_terms`) read
//!   newest first when the longest word starts exactly one lexeme (docs/architecture.md).

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, PgConn, on_backend};
use crate::schema::{messages, portal_request_events, portal_request_tasks, portal_requests};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName, Serialize)]
#[diesel(table_name = portal_requests)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct RequestRow {
    pub seq: i64,
    pub id: String,
    pub patient_id: String,
    pub location_id: String,
    pub patient_name: String,
    pub account_id: String,
    pub requester_name: String,
    pub relation: String,
    pub kind: String,
    pub details: String,
    pub summary: String,
    pub status: String,
    pub archived: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub dismissed_at: Option<PrimitiveDateTime>,
    pub dismissed_by_name: Option<String>,
}

/// The columns of [`RequestRow`], for the hand-written queries. Not the search text nor the
/// idempotency key: nothing shown reads them, and a page of the queue decoded both for every row.
const COLUMNS: &str = "r.seq, r.id, r.patient_id, r.location_id, r.patient_name, r.account_id, \
    r.requester_name, r.relation, r.kind, r.details, r.summary, r.status, r.archived, \
    r.created_at, r.updated_at, r.dismissed_at, r.dismissed_by_name";

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = portal_request_events)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub request_id: String,
    pub kind: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_name: String,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = portal_request_tasks)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct TaskRow {
    pub id: String,
    pub request_id: String,
    pub patient_id: String,
    pub location_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub status: String,
    pub created_by_id: String,
    pub created_by_name: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub completed_at: Option<PrimitiveDateTime>,
    pub completed_by_name: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = portal_requests)]
pub struct NewRequest<'a> {
    pub id: &'a str,
    pub patient_id: &'a str,
    pub location_id: &'a str,
    pub patient_name: &'a str,
    pub account_id: &'a str,
    pub requester_name: &'a str,
    pub relation: &'a str,
    pub kind: &'a str,
    pub details: &'a str,
    pub summary: &'a str,
    pub search_text: &'a str,
    pub status: &'a str,
    pub archived: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub idempotency_key: Option<&'a str>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = portal_request_events)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub request_id: &'a str,
    pub kind: &'a str,
    pub actor_kind: &'a str,
    pub actor_id: &'a str,
    pub actor_name: &'a str,
    pub conversation_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = portal_request_tasks)]
pub struct NewTask<'a> {
    pub id: &'a str,
    pub request_id: &'a str,
    pub patient_id: &'a str,
    pub location_id: &'a str,
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub status: &'a str,
    pub created_by_id: &'a str,
    pub created_by_name: &'a str,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// Records a request (and nothing else: the caller adds its first timeline entry). Call inside
/// [`crate::Db::write`].
pub async fn insert_request(conn: &mut DbConn, r: &NewRequest<'_>) -> Result<RequestRow, StoreError> {
    on_backend!(conn, |c| diesel::insert_into(portal_requests::table).values(r.clone()).execute(c).await)?;
    find(conn, r.id).await?.ok_or(StoreError::NotFound)
}

pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<RequestRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_requests::table
        .find(id)
        .select(RequestRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The request, locked until the transaction ends on PostgreSQL (SQLite's write transaction
/// already excludes every other writer), so that two staff changing it at once are ordered.
pub async fn find_for_update(conn: &mut DbConn, id: &str) -> Result<Option<RequestRow>, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite | c | portal_requests::table.find(id).select(RequestRow::as_select()).first(c).await.optional(),
        pg | c | portal_requests::table.find(id).select(RequestRow::as_select()).for_update().first(c).await.optional()
    )?)
}

/// The request a portal user made earlier with this idempotency key.
pub async fn by_idempotency_key(
    conn: &mut DbConn,
    account_id: &str,
    key: &str,
) -> Result<Option<RequestRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_requests::table
        .filter(portal_requests::account_id.eq(account_id))
        .filter(portal_requests::idempotency_key.eq(key))
        .select(RequestRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// A new status (and the archive flag that follows from it). `dismissed_by` is the name of the
/// staff member who dismissed it, `None` when it is open again.
pub async fn set_status(
    conn: &mut DbConn,
    id: &str,
    status: &str,
    archived: bool,
    at: PrimitiveDateTime,
    dismissed_by: Option<&str>,
) -> Result<(), StoreError> {
    let dismissed_at = dismissed_by.map(|_| at);
    let n = on_backend!(conn, |c| Cached(diesel::update(portal_requests::table.find(id)).set((
        portal_requests::status.eq(status),
        portal_requests::archived.eq(archived),
        portal_requests::updated_at.eq(at),
        portal_requests::dismissed_at.eq(dismissed_at),
        portal_requests::dismissed_by_name.eq(dismissed_by),
    )))
    .execute(c)
    .await)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn add_event(conn: &mut DbConn, e: &NewEvent<'_>) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(portal_request_events::table).values(e.clone()).execute(c).await)?;
    Ok(())
}

/// Has this message already been recorded as a reply to the request? (A retried reply.)
pub async fn reply_recorded(conn: &mut DbConn, request_id: &str, message_id: &str) -> Result<bool, StoreError> {
    let n: i64 = on_backend!(conn, |c| portal_request_events::table
        .filter(portal_request_events::request_id.eq(request_id))
        .filter(portal_request_events::message_id.eq(message_id))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// Did this staff member already reply to the request with a message sent under this
/// idempotency key? (A retried reply whose first attempt dismissed the request.)
pub async fn replied_with_key(
    conn: &mut DbConn,
    request_id: &str,
    staff_id: &str,
    key: &str,
) -> Result<bool, StoreError> {
    let n: i64 = on_backend!(conn, |c| portal_request_events::table
        .inner_join(messages::table.on(messages::id.nullable().eq(portal_request_events::message_id)))
        .filter(portal_request_events::request_id.eq(request_id))
        .filter(messages::sender_kind.eq("staff"))
        .filter(messages::sender_id.eq(staff_id))
        .filter(messages::idempotency_key.eq(key))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// One timeline entry with the text of its reply (for linked replies).
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    pub event: EventRow,
    pub reply_body: Option<String>,
}

/// A request's timeline, oldest first.
pub async fn timeline(conn: &mut DbConn, request_id: &str) -> Result<Vec<TimelineRow>, StoreError> {
    let rows: Vec<(EventRow, Option<String>)> = on_backend!(conn, |c| portal_request_events::table
        .left_join(messages::table.on(messages::id.nullable().eq(portal_request_events::message_id)))
        .filter(portal_request_events::request_id.eq(request_id))
        .order(portal_request_events::seq.asc())
        .select((EventRow::as_select(), messages::body.nullable()))
        .load(c)
        .await)?;
    Ok(rows.into_iter().map(|(event, reply_body)| TimelineRow { event, reply_body }).collect())
}

/// Which requests a list reads.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// `false`: the active queue; `true`: the archive.
    pub archived: bool,
    /// Only requests made at these locations; `None`: every location.
    pub locations: Option<Vec<String>>,
    /// Lowercase words of letters and digits, each to match (as a prefix) the request's patient
    /// name, kind or text; empty: no search.
    pub words: Vec<String>,
    /// Only requests made before this one (the next page).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// The queue or the archive without a search on SQLite: a range of `portal_requests_queue` or
/// `portal_requests_by_location` (PostgreSQL's is [`pg_unsearched`]).
macro_rules! unsearched {
    ($q:expr) => {{
        let mut b = portal_requests::table
            .filter(portal_requests::archived.eq($q.archived))
            .into_boxed::<diesel::sqlite::Sqlite>();
        if let Some(l) = &$q.locations {
            b = b.filter(portal_requests::location_id.eq_any(l.clone()));
        }
        if let Some(s) = $q.before_seq {
            b = b.filter(portal_requests::seq.lt(s));
        }
        b.order(portal_requests::seq.desc()).select(RequestRow::as_select()).limit($q.limit)
    }};
}

/// The open count of each of these locations (`None`: of every location), typed for `$db`.
macro_rules! open_counts {
    ($db:ty, $locations:expr) => {{
        use crate::schema::portal_request_counts as counts;
        let mut b = counts::table.select(counts::open_count).into_boxed::<$db>();
        if let Some(l) = &$locations {
            b = b.filter(counts::location_id.eq_any(l.clone()));
        }
        b
    }};
}

/// A page of the queue or of the archive, newest request first, and the number of open requests
/// at the same locations (the queue's count), in one round trip: one hop to SQLite's blocking
/// thread, or the two statements pipelined on one PostgreSQL connection (a round trip was a
/// tenth of a queue page's CPU on each side, measured).
pub async fn page(conn: &mut DbConn, q: &ListQuery) -> Result<(Vec<RequestRow>, i64), StoreError> {
    if let Some(l) = &q.locations
        && l.is_empty()
    {
        return Ok((vec![], 0));
    }
    let q = ListQuery { limit: q.limit.clamp(1, 200), ..q.clone() };
    let (rows, per_location): (Vec<RequestRow>, Vec<i64>) = on_backend!(
        conn,
        sqlite
            | c
            | c.spawn_blocking(move |sc| {
                let rows = if q.words.is_empty() {
                    diesel::RunQueryDsl::load(Cached(unsearched!(q)), sc)?
                } else {
                    diesel::RunQueryDsl::load(sqlite_search(&q), sc)?
                };
                let counts = diesel::RunQueryDsl::load(Cached(open_counts!(diesel::sqlite::Sqlite, q.locations)), sc)?;
                Ok((rows, counts))
            })
            .await,
        pg | c | {
            // Two futures on a shared connection: diesel-async sends both statements before
            // reading either answer.
            let c: &PgConn = c;
            let (mut first, mut second) = (c, c);
            let rows = async {
                if q.words.is_empty() {
                    return pg_unsearched(&q).load::<RequestRow>(&mut first).await;
                }
                if let Some(postings) = pg_postings_search(&q) {
                    let rows = postings.load::<RequestRow>(&mut first).await?;
                    // Empty: the word is the prefix of several lexemes or of none, or nothing
                    // matched; the plain query answers all three.
                    if !rows.is_empty() {
                        return Ok(rows);
                    }
                }
                pg_search(&q).load::<RequestRow>(&mut first).await
            };
            let counts = Cached(open_counts!(diesel::pg::Pg, q.locations)).load::<i64>(&mut second);
            futures_util::future::try_join(rows, counts).await
        }
    )?;
    // One row per location: summed here (SQL's SUM of a BIGINT is a NUMERIC on PostgreSQL).
    Ok((rows, per_location.into_iter().sum()))
}

/// The archive's search on SQLite: the words, the state and the locations as one FTS5 match,
/// read in descending rowid (= `seq`) order.
fn sqlite_search(q: &ListQuery) -> Cached<BoxedSqlQuery<'static, diesel::sqlite::Sqlite, SqlQuery>> {
    let mut expr = format!("state : {}", if q.archived { "archived" } else { "open" });
    if let Some(l) = &q.locations {
        let places: Vec<String> = l.iter().map(|id| format!("place : \"{}\"", place_token(id))).collect();
        expr.push_str(&format!(" AND ({})", places.join(" OR ")));
    }
    for w in &q.words {
        // A quoted FTS5 string and `*`: a prefix query on the text column, no operator.
        expr.push_str(&format!(" AND search_text : \"{}\"*", w.replace('"', "\"\"")));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM portal_requests_fts f JOIN portal_requests r ON r.seq = f.rowid \
         WHERE portal_requests_fts MATCH ? AND f.rowid < ? ORDER BY f.rowid DESC LIMIT ?"
    );
    Cached(
        diesel::sql_query(sql)
            .into_boxed()
            .bind::<Text, _>(expr)
            .bind::<BigInt, _>(q.before_seq.unwrap_or(i64::MAX))
            .bind::<BigInt, _>(q.limit),
    )
}

/// The archive's search on PostgreSQL along one lexeme's postings (`portal_request_terms`),
/// newest first: when the longest word is the prefix of exactly one lexeme, that lexeme's rows
/// from the newest down, each request checked for the whole search, the state and the
/// locations, stopping at the page (the function `portal_request_archive_search`, whose
/// migration says why it is a function). Answers nothing when the word starts several lexemes
/// or none. `None` for a word of other than ASCII letters and digits, whose lexeme the
/// text-search parser might cut differently from our words.
fn pg_postings_search(q: &ListQuery) -> Option<Cached<BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery>>> {
    let driver = q.words.iter().rev().max_by_key(|w| w.len())?;
    if !driver.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    // The first string after every string that starts with `driver`, in byte order: its last
    // character (ASCII, below DEL) plus one.
    let mut end = driver.clone().into_bytes();
    *end.last_mut()? += 1;
    let end = String::from_utf8(end).ok()?;
    let sql = format!("SELECT {COLUMNS} FROM portal_request_archive_search($1, $2, $3, $4, $5, $6, $7) r");
    let query = diesel::sql_query(sql)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<diesel::sql_types::Bool, _>(q.archived)
        .bind::<Text, _>(pg_tsquery(&q.words))
        .bind::<BigInt, _>(q.before_seq.unwrap_or(i64::MAX))
        .bind::<BigInt, _>(q.limit)
        .bind::<Text, _>(driver.clone())
        .bind::<Text, _>(end)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Array<Text>>, _>(q.locations.clone());
    Some(Cached(query))
}

/// The queue or the archive without a search on PostgreSQL: [`unsearched!`] with the page size
/// written into the statement. With `LIMIT $n` PostgreSQL's generic plan assumes a tenth of the
/// rows and never looks cheaper than a custom one, so the prepared statement was planned again
/// on every page (0.06 ms, more than running it: 0.03 ms on 100,000 requests); with the number
/// written in, the generic plan is kept after five runs when it costs what the custom ones did,
/// and a caller whose locations hold few requests keeps custom plans (`portal_requests_by_location`).
/// One statement per page size: the pages ask for one or two.
fn pg_unsearched(q: &ListQuery) -> Cached<BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery>> {
    let mut sql = format!("SELECT {COLUMNS} FROM portal_requests r WHERE r.archived = $1 AND r.seq < $2");
    if q.locations.is_some() {
        sql.push_str(" AND r.location_id = ANY($3)");
    }
    sql.push_str(&format!(" ORDER BY r.seq DESC LIMIT {}", q.limit.clamp(1, 200)));
    let mut query = diesel::sql_query(sql)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<diesel::sql_types::Bool, _>(q.archived)
        .bind::<BigInt, _>(q.before_seq.unwrap_or(i64::MAX));
    if let Some(l) = &q.locations {
        query = query.bind::<diesel::sql_types::Array<Text>, _>(l.clone());
    }
    Cached(query)
}

/// Every word as a prefix (`word:*`), all to match.
fn pg_tsquery(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("{}:*", w.chars().filter(|c| c.is_alphanumeric()).collect::<String>()))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// The archive's search on PostgreSQL: the `tsvector` matched row by row along the newest-first
/// walk of `portal_requests_queue` (for the first page of a common word cheaper than the GIN
/// index's bitmap of every match, measured; the planner chooses). Unlike [`pg_unsearched`] its
/// limit stays a parameter, so that PostgreSQL keeps planning each search for its words: the
/// better walk depends on how common they are.
fn pg_search(q: &ListQuery) -> Cached<BoxedSqlQuery<'static, diesel::pg::Pg, SqlQuery>> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM portal_requests r WHERE r.archived = $1 \
         AND r.search_vector @@ to_tsquery('simple', $2) AND r.seq < $3"
    );
    if q.locations.is_some() {
        sql.push_str(" AND r.location_id = ANY($5)");
    }
    sql.push_str(" ORDER BY r.seq DESC LIMIT $4");
    let mut query = diesel::sql_query(sql)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<diesel::sql_types::Bool, _>(q.archived)
        .bind::<Text, _>(pg_tsquery(&q.words))
        .bind::<BigInt, _>(q.before_seq.unwrap_or(i64::MAX))
        .bind::<BigInt, _>(q.limit);
    if let Some(l) = &q.locations {
        query = query.bind::<diesel::sql_types::Array<Text>, _>(l.clone());
    }
    Cached(query)
}

/// The token that stands for a location in the `place` column of SQLite's `portal_requests_fts`
/// (the same expression as the migration's triggers).
fn place_token(location_id: &str) -> String {
    format!("l{}", location_id.replace('-', "")).replace('"', "\"\"")
}

/// The number of open requests at these locations (`None`: all), for the home page's block and
/// the queue: a sum over `portal_request_counts`, which triggers keep (see the migration).
pub async fn open_count(conn: &mut DbConn, locations: Option<&[String]>) -> Result<i64, StoreError> {
    if locations.is_some_and(<[String]>::is_empty) {
        return Ok(0);
    }
    let locations = locations.map(<[String]>::to_vec);
    // One row per location: summed here (SQL's SUM of a BIGINT is a NUMERIC on PostgreSQL).
    let per_location: Vec<i64> = on_backend!(
        conn,
        sqlite | c | Cached(open_counts!(diesel::sqlite::Sqlite, locations)).load(c).await,
        pg | c | Cached(open_counts!(diesel::pg::Pg, locations)).load(c).await
    )?;
    Ok(per_location.into_iter().sum())
}

/// The requests about these patients (a portal user's), newest first.
pub async fn of_patients(
    conn: &mut DbConn,
    patients: &[String],
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<RequestRow>, StoreError> {
    if patients.is_empty() {
        return Ok(vec![]);
    }
    let before = before_seq.unwrap_or(i64::MAX);
    Ok(on_backend!(conn, |c| Cached(
        portal_requests::table
            .filter(portal_requests::patient_id.eq_any(patients))
            .filter(portal_requests::seq.lt(before))
            .order(portal_requests::seq.desc())
            .select(RequestRow::as_select())
            .limit(limit.clamp(1, 200))
    )
    .load(c)
    .await)?)
}

pub async fn insert_task(conn: &mut DbConn, t: &NewTask<'_>) -> Result<TaskRow, StoreError> {
    on_backend!(conn, |c| diesel::insert_into(portal_request_tasks::table).values(t.clone()).execute(c).await)?;
    find_task(conn, t.id).await?.ok_or(StoreError::NotFound)
}

pub async fn find_task(conn: &mut DbConn, id: &str) -> Result<Option<TaskRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_request_tasks::table
        .find(id)
        .select(TaskRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The task of this kind a helper already opened for the request.
pub async fn task_of(conn: &mut DbConn, request_id: &str, kind: &str) -> Result<Option<TaskRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_request_tasks::table
        .filter(portal_request_tasks::request_id.eq(request_id))
        .filter(portal_request_tasks::kind.eq(kind))
        .select(TaskRow::as_select())
        .first(c)
        .await
        .optional())?)
}

pub async fn tasks_of_request(conn: &mut DbConn, request_id: &str) -> Result<Vec<TaskRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_request_tasks::table
        .filter(portal_request_tasks::request_id.eq(request_id))
        .order(portal_request_tasks::created_at.asc())
        .select(TaskRow::as_select())
        .load(c)
        .await)?)
}

/// Saves a task's draft text; `done_by` marks it done (with the time), `None` keeps it a draft.
pub async fn update_task(
    conn: &mut DbConn,
    id: &str,
    body: &str,
    at: PrimitiveDateTime,
    done_by: Option<&str>,
) -> Result<(), StoreError> {
    let status = if done_by.is_some() { "done" } else { "draft" };
    let n = on_backend!(conn, |c| Cached(diesel::update(portal_request_tasks::table.find(id)).set((
        portal_request_tasks::body.eq(body),
        portal_request_tasks::status.eq(status),
        portal_request_tasks::updated_at.eq(at),
        portal_request_tasks::completed_at.eq(done_by.map(|_| at)),
        portal_request_tasks::completed_by_name.eq(done_by),
    )))
    .execute(c)
    .await)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
