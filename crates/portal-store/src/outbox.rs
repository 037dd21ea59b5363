//! The events outbox. A use case records events with [`enqueue`] inside its write transaction;
//! a worker (on any replica) claims a batch with a time-limited lease, delivers, and marks each
//! event delivered or failed with a later retry time. Delivery is therefore at least once: a
//! worker killed mid-batch leaves leases that expire, and the events are claimed again.
//!
//! An event whose delivery failed too often becomes a dead letter ([`mark_dead`]): it is kept,
//! with its last error, for an operator to see, but it is no longer claimed nor pending.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::{Duration, PrimitiveDateTime};

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, on_backend};
use crate::ids::new_id;
use crate::schema::outbox_events;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = outbox_events)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OutboxEvent {
    pub id: String,
    pub kind: String,
    /// JSON. Holds ids and the minimum a delivery needs; never a message body.
    pub payload: String,
    pub created_at: PrimitiveDateTime,
    pub available_at: PrimitiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub claimed_until: Option<PrimitiveDateTime>,
    pub delivered_at: Option<PrimitiveDateTime>,
    /// When the worker gave up on it (a dead letter); never claimed again.
    pub dead_at: Option<PrimitiveDateTime>,
}

/// Records an event; call inside the use case's write transaction. Returns its id, which also
/// serves as the idempotency key of its delivery (for example an e-mail's Message-ID).
pub async fn enqueue(conn: &mut DbConn, kind: &str, payload: &serde_json::Value) -> Result<String, StoreError> {
    insert_event(conn, NewEvent::of(kind, payload)).await
}

async fn insert_event(conn: &mut DbConn, row: NewEvent) -> Result<String, StoreError> {
    let id = row.id.clone();
    on_backend!(conn, |c| diesel::insert_into(outbox_events::table).values(row.clone()).execute(c).await)?;
    Ok(id)
}

/// An event's row as [`enqueue`] inserts it (also sent along with a message's statements:
/// `messaging::add_message_recorded`).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox_events)]
pub(crate) struct NewEvent {
    pub(crate) id: String,
    kind: String,
    payload: String,
    created_at: PrimitiveDateTime,
    available_at: PrimitiveDateTime,
    attempts: i32,
}

impl NewEvent {
    pub(crate) fn of(kind: &str, payload: &serde_json::Value) -> Self {
        let now = portal_core::time_util::now_utc();
        NewEvent {
            id: new_id(),
            kind: kind.to_owned(),
            payload: payload.to_string(),
            created_at: now,
            available_at: now,
            attempts: 0,
        }
    }

    pub(crate) fn of_event(event: &portal_core::events::DomainEvent) -> Result<Self, StoreError> {
        let payload = serde_json::to_value(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(NewEvent::of(event.kind(), &payload))
    }
}

/// Claims up to `limit` due events for `lease`: no other worker claims them until the lease
/// ends. On PostgreSQL rows locked by another worker are skipped (`FOR UPDATE SKIP LOCKED`), so
/// replicas share the work; on SQLite the caller's immediate transaction serialises claims.
/// Call inside [`crate::Db::write`].
pub async fn claim(
    conn: &mut DbConn,
    now: PrimitiveDateTime,
    lease: Duration,
    limit: i64,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let due = outbox_events::delivered_at
        .is_null()
        .and(outbox_events::dead_at.is_null())
        .and(outbox_events::available_at.le(now))
        .and(outbox_events::claimed_until.is_null().or(outbox_events::claimed_until.le(now)));
    let ids: Vec<String> = on_backend!(
        conn,
        sqlite
            | c
            | outbox_events::table
                .filter(due)
                .order((outbox_events::available_at.asc(), outbox_events::created_at.asc()))
                .select(outbox_events::id)
                .limit(limit)
                .load(c)
                .await,
        pg | c
            | outbox_events::table
                .filter(due)
                .order((outbox_events::available_at.asc(), outbox_events::created_at.asc()))
                .select(outbox_events::id)
                .limit(limit)
                .for_update()
                .skip_locked()
                .load(c)
                .await
    )?;
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let until = now + lease;
    on_backend!(conn, |c| Cached(
        diesel::update(outbox_events::table.filter(outbox_events::id.eq_any(&ids)))
            .set((outbox_events::claimed_until.eq(until), outbox_events::attempts.eq(outbox_events::attempts + 1)))
    )
    .execute(c)
    .await)?;
    Ok(on_backend!(conn, |c| outbox_events::table
        .filter(outbox_events::id.eq_any(&ids))
        .order((outbox_events::available_at.asc(), outbox_events::created_at.asc()))
        .select(OutboxEvent::as_select())
        .load(c)
        .await)?)
}

/// Records a domain event (see [`portal_core::events::DomainEvent`]).
pub async fn enqueue_event(conn: &mut DbConn, event: &portal_core::events::DomainEvent) -> Result<String, StoreError> {
    insert_event(conn, NewEvent::of_event(event)?).await
}

/// Replaces a delivered event's payload, so that a one-time secret it carried is gone.
pub async fn replace_payload(conn: &mut DbConn, id: &str, payload: &serde_json::Value) -> Result<(), StoreError> {
    let payload = payload.to_string();
    on_backend!(conn, |c| Cached(
        diesel::update(outbox_events::table.find(id)).set(outbox_events::payload.eq(&payload))
    )
    .execute(c)
    .await)?;
    Ok(())
}

pub async fn mark_delivered(conn: &mut DbConn, id: &str, at: PrimitiveDateTime) -> Result<(), StoreError> {
    on_backend!(conn, |c| Cached(
        diesel::update(outbox_events::table.find(id))
            .set((outbox_events::delivered_at.eq(at), outbox_events::claimed_until.eq(None::<PrimitiveDateTime>)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Releases a failed event for another attempt at `retry_at`, keeping a short error text
/// (never PHI: the worker writes what failed, not what was sent).
pub async fn mark_failed(
    conn: &mut DbConn,
    id: &str,
    retry_at: PrimitiveDateTime,
    error: &str,
) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
    on_backend!(conn, |c| Cached(diesel::update(outbox_events::table.find(id)).set((
        outbox_events::available_at.eq(retry_at),
        outbox_events::claimed_until.eq(None::<PrimitiveDateTime>),
        outbox_events::last_error.eq(&error),
    )))
    .execute(c)
    .await)?;
    Ok(())
}

/// Gives up on an event: it stays, with its last error (never PHI, as for [`mark_failed`]),
/// but is never claimed again and no longer counts as pending.
pub async fn mark_dead(conn: &mut DbConn, id: &str, at: PrimitiveDateTime, error: &str) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
    on_backend!(conn, |c| Cached(diesel::update(outbox_events::table.find(id)).set((
        outbox_events::dead_at.eq(at),
        outbox_events::claimed_until.eq(None::<PrimitiveDateTime>),
        outbox_events::last_error.eq(&error),
    )))
    .execute(c)
    .await)?;
    Ok(())
}

/// Hands claimed events back without an attempt (a worker stopping with part of its batch
/// untouched): they are due again at once, and the claim that did not lead to an attempt is not
/// counted. `leased_until` is the `claimed_until` of this worker's claim: a row whose lease ran
/// out and that another worker claimed since is left alone.
pub async fn release(conn: &mut DbConn, ids: &[String], leased_until: PrimitiveDateTime) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    on_backend!(conn, |c| Cached(
        diesel::update(
            outbox_events::table.filter(
                outbox_events::id
                    .eq_any(ids)
                    .and(outbox_events::delivered_at.is_null())
                    .and(outbox_events::claimed_until.eq(leased_until))
            )
        )
        .set((
            outbox_events::claimed_until.eq(None::<PrimitiveDateTime>),
            outbox_events::attempts.eq(outbox_events::attempts - 1),
        ))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Hands back an event whose attempt could not reach the transport (the mail relay was down):
/// due again at once, the attempt the claim counted taken back ([`release`]), the reason kept in
/// `last_error` for operators. Only while this claim's lease holds. Call inside
/// [`crate::Db::write`].
pub async fn mark_not_attempted(
    conn: &mut DbConn,
    id: &str,
    leased_until: PrimitiveDateTime,
    error: &str,
) -> Result<(), StoreError> {
    let error: String = error.chars().take(500).collect();
    let leased = outbox_events::id.eq(id).and(outbox_events::claimed_until.eq(leased_until));
    on_backend!(conn, |c| Cached(
        diesel::update(outbox_events::table.filter(leased)).set(outbox_events::last_error.eq(&error))
    )
    .execute(c)
    .await)?;
    release(conn, &[id.to_owned()], leased_until).await
}

/// One event, whatever its state (operators' tools and tests).
pub async fn find(conn: &mut DbConn, id: &str) -> Result<OutboxEvent, StoreError> {
    Ok(on_backend!(conn, |c| outbox_events::table.find(id).select(OutboxEvent::as_select()).first(c).await)?)
}

/// Events not yet delivered nor given up: the `portal_outbox_pending` gauge.
pub async fn pending_count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(on_backend!(conn, |c| outbox_events::table
        .filter(outbox_events::delivered_at.is_null().and(outbox_events::dead_at.is_null()))
        .count()
        .get_result(c)
        .await)?)
}

/// Dead letters: the `portal_outbox_dead` gauge (anything above zero wants an operator).
pub async fn dead_count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(on_backend!(conn, |c| outbox_events::table
        .filter(outbox_events::dead_at.is_not_null())
        .count()
        .get_result(c)
        .await)?)
}
