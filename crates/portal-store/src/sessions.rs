//! Server-side sessions (only the SHA-256 of each token is stored) and the per-account count of
//! consecutive failed sign-ins, kept in the database so that every replica sees it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, load_rows, on_backend};
use crate::schema::{sessions, sign_in_failures, staff_locations, staff_users};
use crate::staff::StaffRow;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SessionRow {
    pub token_hash: String,
    pub user_kind: String,
    pub user_id: String,
    pub created_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
    pub absolute_expires_at: PrimitiveDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn insert(conn: &mut DbConn, s: &SessionRow) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(sessions::table).values(s).execute(c).await)?;
    Ok(())
}

pub async fn find(conn: &mut DbConn, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(on_backend!(conn, |c| sessions::table
        .find(token_hash)
        .select(SessionRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// A session, and when it is a staff user's, their row and the ids of their locations.
pub type StaffSession = (SessionRow, Option<(StaffRow, Vec<String>)>);

/// The session of `token_hash` with its staff user and their locations, in one statement: every
/// signed-in staff request starts here, and on SQLite each statement is a hop to a blocking
/// thread (three lookups were a tenth of a small request's time).
pub async fn find_with_staff(conn: &mut DbConn, token_hash: &str) -> Result<Option<StaffSession>, StoreError> {
    // Every signed-in staff request: one hop on SQLite, rows built on its thread.
    let rows: Vec<(SessionRow, Option<StaffRow>, Option<String>)> = load_rows!(
        conn,
        sessions::table
            .left_join(
                staff_users::table.on(sessions::user_kind.eq("staff").and(staff_users::id.eq(sessions::user_id)))
            )
            .left_join(staff_locations::table.on(staff_locations::staff_id.eq(staff_users::id)))
            .filter(sessions::token_hash.eq(token_hash.to_owned()))
            .order(staff_locations::location_id.asc())
            .select((
                SessionRow::as_select(),
                Option::<StaffRow>::as_select(),
                staff_locations::location_id.nullable()
            ))
    )?;
    let mut rows = rows.into_iter();
    let Some((session, staff, first_location)) = rows.next() else { return Ok(None) };
    let staff = staff.map(|staff| {
        let locations = first_location.into_iter().chain(rows.filter_map(|(_, _, l)| l)).collect();
        (staff, locations)
    });
    Ok(Some((session, staff)))
}

pub async fn touch(conn: &mut DbConn, token_hash: &str, at: PrimitiveDateTime) -> Result<(), StoreError> {
    on_backend!(conn, |c| Cached(diesel::update(sessions::table.find(token_hash)).set(sessions::last_seen_at.eq(at)))
        .execute(c)
        .await)?;
    Ok(())
}

pub async fn delete(conn: &mut DbConn, token_hash: &str) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| diesel::delete(sessions::table.find(token_hash)).execute(c).await)?;
    Ok(n > 0)
}

/// Ends every session of a user except `keep` (the one making the change, if any).
pub async fn delete_for_user(
    conn: &mut DbConn,
    user_kind: &str,
    user_id: &str,
    keep: Option<&str>,
) -> Result<usize, StoreError> {
    let keep = keep.unwrap_or("").to_owned();
    Ok(on_backend!(conn, |c| diesel::delete(
        sessions::table
            .filter(sessions::user_kind.eq(user_kind))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::token_hash.ne(&keep))
    )
    .execute(c)
    .await)?)
}

pub async fn list_for_user(conn: &mut DbConn, user_kind: &str, user_id: &str) -> Result<Vec<SessionRow>, StoreError> {
    Ok(on_backend!(conn, |c| sessions::table
        .filter(sessions::user_kind.eq(user_kind))
        .filter(sessions::user_id.eq(user_id))
        .order(sessions::created_at.desc())
        .select(SessionRow::as_select())
        .load(c)
        .await)?)
}

/// Removes the sessions of one kind of user (staff and portal users have different idle
/// timeouts) past their absolute lifetime or idle since before `idle_before`.
pub async fn purge_expired(
    conn: &mut DbConn,
    user_kind: &str,
    now: PrimitiveDateTime,
    idle_before: PrimitiveDateTime,
) -> Result<usize, StoreError> {
    Ok(on_backend!(conn, |c| diesel::delete(
        sessions::table
            .filter(sessions::user_kind.eq(user_kind))
            .filter(sessions::absolute_expires_at.le(now).or(sessions::last_seen_at.lt(idle_before)))
    )
    .execute(c)
    .await)?)
}

/// Consecutive failures and the time of the last one, for an account key.
pub async fn failures(conn: &mut DbConn, account_key: &str) -> Result<Option<(i32, PrimitiveDateTime)>, StoreError> {
    Ok(on_backend!(conn, |c| sign_in_failures::table
        .find(account_key)
        .select((sign_in_failures::consecutive_failures, sign_in_failures::last_failure_at))
        .first(c)
        .await
        .optional())?)
}

/// Counts one more failure atomically (an upsert, so two replicas cannot lose a count).
pub async fn record_failure(conn: &mut DbConn, account_key: &str, at: PrimitiveDateTime) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(sign_in_failures::table)
        .values((
            sign_in_failures::account_key.eq(account_key),
            sign_in_failures::consecutive_failures.eq(1),
            sign_in_failures::last_failure_at.eq(at),
        ))
        .on_conflict(sign_in_failures::account_key)
        .do_update()
        .set((
            sign_in_failures::consecutive_failures.eq(sign_in_failures::consecutive_failures + 1),
            sign_in_failures::last_failure_at.eq(at),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

pub async fn clear_failures(conn: &mut DbConn, account_key: &str) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::delete(sign_in_failures::table.find(account_key)).execute(c).await)?;
    Ok(())
}
