//! The Onboarding Tool's queries (seed 004): patients with their portal status, filtered by
//! status colour, location and name; and the bulk jobs that enable and invite many at once.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portal_core::portal_access::PortalAccessStatus;
use serde::Serialize;
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::db::{DbConn, on_backend};
use crate::portal_access::PatientPortalRow;
use crate::schema::{bulk_jobs, patients};

/// Which patients the tool lists.
#[derive(Debug, Clone, Default)]
pub struct OnboardingFilter {
    /// `None`: every location; otherwise only these (the actor's).
    pub locations: Option<Vec<String>>,
    pub location: Option<String>,
    pub status: Option<PortalAccessStatus>,
    /// Every word must appear in "last first" (lowercase).
    pub name_words: Vec<String>,
}

/// Lowercases and escapes a typed word for `LIKE` (see `patients::search`).
fn like_contains(word: &str) -> String {
    let mut s = String::from("%");
    for ch in word.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

// The status colours as SQL conditions on the patient's columns; they mirror
// `PortalAccessStatus::derive` (a test checks that both agree on every combination).
macro_rules! filtered {
    ($f:expr, $db:ty) => {{
        let f: &OnboardingFilter = $f;
        let mut q = patients::table.into_boxed::<$db>();
        if let Some(locs) = &f.locations {
            q = q.filter(patients::location_id.eq_any(locs.clone()));
        }
        if let Some(l) = &f.location {
            q = q.filter(patients::location_id.eq(l.clone()));
        }
        for w in &f.name_words {
            q = q.filter(patients::search_name.like(like_contains(w)).escape('\\'));
        }
        let usable =
            patients::portal_access.eq(true).and(patients::email.is_not_null()).and(patients::zip.is_not_null());
        match f.status {
            None => {}
            Some(PortalAccessStatus::NotEnabled) => {
                q = q
                    .filter(patients::portal_access.eq(false).or(patients::email.is_null()).or(patients::zip.is_null()))
            }
            Some(PortalAccessStatus::SignedIn) => {
                q = q.filter(usable).filter(patients::portal_last_signed_in_at.is_not_null())
            }
            Some(PortalAccessStatus::InvitedNotSignedIn) => {
                q = q
                    .filter(usable)
                    .filter(patients::portal_last_signed_in_at.is_null())
                    .filter(patients::portal_last_invited_at.is_not_null())
            }
            Some(PortalAccessStatus::EnabledNotInvited) => {
                q = q
                    .filter(usable)
                    .filter(patients::portal_last_signed_in_at.is_null())
                    .filter(patients::portal_last_invited_at.is_null())
            }
        }
        q
    }};
}

/// One page of the tool, by name, and the total matching.
pub async fn list(
    conn: &mut DbConn,
    f: &OnboardingFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<PatientPortalRow>, i64), StoreError> {
    let limit = limit.clamp(1, 500);
    let offset = offset.max(0);
    let rows = on_backend!(
        conn,
        sqlite
            | c
            | filtered!(f, diesel::sqlite::Sqlite)
                .order((patients::search_name.asc(), patients::id.asc()))
                .select(PatientPortalRow::as_select())
                .limit(limit)
                .offset(offset)
                .load(c)
                .await,
        pg | c
            | filtered!(f, diesel::pg::Pg)
                .order((patients::search_name.asc(), patients::id.asc()))
                .select(PatientPortalRow::as_select())
                .limit(limit)
                .offset(offset)
                .load(c)
                .await
    )?;
    let total = count(conn, f).await?;
    Ok((rows, total))
}

pub async fn count(conn: &mut DbConn, f: &OnboardingFilter) -> Result<i64, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite | c | filtered!(f, diesel::sqlite::Sqlite).count().get_result(c).await,
        pg | c | filtered!(f, diesel::pg::Pg).count().get_result(c).await
    )?)
}

/// The ids of every patient matching `f` (for "all that match the filter"), by name, at most
/// `max`.
pub async fn ids(conn: &mut DbConn, f: &OnboardingFilter, max: i64) -> Result<Vec<String>, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite
            | c
            | filtered!(f, diesel::sqlite::Sqlite)
                .order((patients::search_name.asc(), patients::id.asc()))
                .select(patients::id)
                .limit(max)
                .load(c)
                .await,
        pg | c
            | filtered!(f, diesel::pg::Pg)
                .order((patients::search_name.asc(), patients::id.asc()))
                .select(patients::id)
                .limit(max)
                .load(c)
                .await
    )?)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = bulk_jobs)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct BulkJobRow {
    pub id: String,
    pub kind: String,
    pub created_by: Option<String>,
    pub created_by_name: String,
    /// `running`, `finished` or `failed`.
    pub status: String,
    pub total: i32,
    pub processed: i32,
    pub enabled: i32,
    pub sent: i32,
    pub skipped: i32,
    /// JSON object: reason -> count.
    pub skipped_reasons: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub finished_at: Option<PrimitiveDateTime>,
}

pub async fn insert_job(conn: &mut DbConn, row: &BulkJobRow) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(bulk_jobs::table).values(row).execute(c).await)?;
    Ok(())
}

pub async fn find_job(conn: &mut DbConn, id: &str) -> Result<BulkJobRow, StoreError> {
    Ok(on_backend!(conn, |c| bulk_jobs::table.find(id).select(BulkJobRow::as_select()).first(c).await)?)
}

/// The counts after a chunk (absolute values, so a retried write cannot double them).
#[derive(Debug, Clone)]
pub struct JobProgress<'a> {
    pub status: &'a str,
    pub processed: i32,
    pub enabled: i32,
    pub sent: i32,
    pub skipped: i32,
    pub skipped_reasons: &'a str,
    pub finished_at: Option<PrimitiveDateTime>,
}

pub async fn update_job(conn: &mut DbConn, id: &str, p: &JobProgress<'_>) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| diesel::update(bulk_jobs::table.find(id))
        .set((
            bulk_jobs::status.eq(p.status),
            bulk_jobs::processed.eq(p.processed),
            bulk_jobs::enabled.eq(p.enabled),
            bulk_jobs::sent.eq(p.sent),
            bulk_jobs::skipped.eq(p.skipped),
            bulk_jobs::skipped_reasons.eq(p.skipped_reasons),
            bulk_jobs::updated_at.eq(now),
            bulk_jobs::finished_at.eq(p.finished_at),
        ))
        .execute(c)
        .await)?;
    Ok(())
}
