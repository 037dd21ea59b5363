//! Notification rules and the notifications they deliver to staff (seed 000, "Set up
//! Notifications"). Rules are read per location and event at delivery; a notification is one row
//! per person, rule and event (a unique index makes a retried or concurrent delivery write it
//! once), with its toast and read state.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::{Date, PrimitiveDateTime};

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, on_backend};
use crate::schema::{notification_rules, staff_notifications};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = notification_rules, treat_none_as_null = true)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct RuleRow {
    pub id: String,
    pub location_id: String,
    pub event: String,
    pub name: String,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    pub severity: String,
    /// Staff ids, comma-separated.
    pub recipient_users: String,
    pub recipient_care_team: bool,
    /// Role names, comma-separated.
    pub recipient_roles: String,
    pub title: String,
    pub message: String,
    pub toast: bool,
    pub email: bool,
    pub deleted_at: Option<PrimitiveDateTime>,
    pub created_by_name: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = staff_notifications, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct NotificationRow {
    pub id: String,
    pub staff_id: String,
    pub rule_id: Option<String>,
    pub event_id: Option<String>,
    pub patient_id: Option<String>,
    pub location_id: String,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub toast: bool,
    pub email: bool,
    pub created_at: PrimitiveDateTime,
    pub toasted_at: Option<PrimitiveDateTime>,
    pub read_at: Option<PrimitiveDateTime>,
}

pub async fn insert_rule(conn: &mut DbConn, r: &RuleRow) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(notification_rules::table).values(r.clone()).execute(c).await)?;
    Ok(())
}

/// Replaces a live rule's fields (not its id, creator or creation time).
pub async fn update_rule(conn: &mut DbConn, r: &RuleRow) -> Result<(), StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(notification_rules::table.find(&r.id).filter(notification_rules::deleted_at.is_null())).set((
            notification_rules::location_id.eq(&r.location_id),
            notification_rules::event.eq(&r.event),
            notification_rules::name.eq(&r.name),
            notification_rules::starts_on.eq(r.starts_on),
            notification_rules::ends_on.eq(r.ends_on),
            notification_rules::severity.eq(&r.severity),
            notification_rules::recipient_users.eq(&r.recipient_users),
            notification_rules::recipient_care_team.eq(r.recipient_care_team),
            notification_rules::recipient_roles.eq(&r.recipient_roles),
            notification_rules::title.eq(&r.title),
            notification_rules::message.eq(&r.message),
            notification_rules::toast.eq(r.toast),
            notification_rules::email.eq(r.email),
            notification_rules::updated_at.eq(r.updated_at),
        ))
    )
    .execute(c)
    .await)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Stops a rule; its row stays for the notifications it delivered.
pub async fn delete_rule(conn: &mut DbConn, id: &str, at: PrimitiveDateTime) -> Result<(), StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(notification_rules::table.find(id).filter(notification_rules::deleted_at.is_null()))
            .set((notification_rules::deleted_at.eq(Some(at)), notification_rules::updated_at.eq(at)))
    )
    .execute(c)
    .await)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A live rule.
pub async fn find_rule(conn: &mut DbConn, id: &str) -> Result<Option<RuleRow>, StoreError> {
    Ok(on_backend!(conn, |c| notification_rules::table
        .find(id)
        .filter(notification_rules::deleted_at.is_null())
        .select(RuleRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The live rules of a location (all events), by event then name; `None`: every location.
pub async fn rules(conn: &mut DbConn, location_id: Option<&str>) -> Result<Vec<RuleRow>, StoreError> {
    macro_rules! q {
        ($db:ty) => {{
            let mut b = notification_rules::table.filter(notification_rules::deleted_at.is_null()).into_boxed::<$db>();
            if let Some(l) = location_id {
                b = b.filter(notification_rules::location_id.eq(l.to_owned()));
            }
            b.order((notification_rules::event.asc(), notification_rules::name.asc())).select(RuleRow::as_select())
        }};
    }
    Ok(on_backend!(
        conn,
        sqlite | c | q!(diesel::sqlite::Sqlite).load(c).await,
        pg | c | q!(diesel::pg::Pg).load(c).await
    )?)
}

/// The live rules for one event at one location (delivery checks their dates).
pub async fn rules_for(conn: &mut DbConn, location_id: &str, event: &str) -> Result<Vec<RuleRow>, StoreError> {
    Ok(on_backend!(conn, |c| notification_rules::table
        .filter(notification_rules::deleted_at.is_null())
        .filter(notification_rules::location_id.eq(location_id))
        .filter(notification_rules::event.eq(event))
        .select(RuleRow::as_select())
        .load(c)
        .await)?)
}

/// Writes notifications; one already written for the same person, rule and event is left as
/// it is. Returns the rows written now (a retried delivery writes none).
pub async fn insert_notifications(
    conn: &mut DbConn,
    rows: &[NotificationRow],
) -> Result<Vec<NotificationRow>, StoreError> {
    let mut written = Vec::new();
    for r in rows {
        let n = on_backend!(conn, |c| diesel::insert_into(staff_notifications::table)
            .values(r.clone())
            .on_conflict_do_nothing()
            .execute(c)
            .await)?;
        if n > 0 {
            written.push(r.clone());
        }
    }
    Ok(written)
}

pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<NotificationRow>, StoreError> {
    Ok(on_backend!(conn, |c| staff_notifications::table
        .find(id)
        .select(NotificationRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// A person's notifications, newest first.
pub async fn of_staff(
    conn: &mut DbConn,
    staff_id: &str,
    before: Option<PrimitiveDateTime>,
    limit: i64,
) -> Result<Vec<NotificationRow>, StoreError> {
    let before = before.unwrap_or(time::macros::datetime!(9999-12-31 0:00));
    Ok(on_backend!(conn, |c| staff_notifications::table
        .filter(staff_notifications::staff_id.eq(staff_id))
        .filter(staff_notifications::created_at.lt(before))
        .order((staff_notifications::created_at.desc(), staff_notifications::id.desc()))
        .select(NotificationRow::as_select())
        .limit(limit.clamp(1, 200))
        .load(c)
        .await)?)
}

pub async fn unread_count(conn: &mut DbConn, staff_id: &str) -> Result<i64, StoreError> {
    Ok(on_backend!(conn, |c| staff_notifications::table
        .filter(staff_notifications::staff_id.eq(staff_id))
        .filter(staff_notifications::read_at.is_null())
        .count()
        .get_result(c)
        .await)?)
}

/// Marks one of the person's notifications read (`Some(id)`) or all of them (`None`); the number
/// changed.
pub async fn mark_read(
    conn: &mut DbConn,
    staff_id: &str,
    id: Option<&str>,
    at: PrimitiveDateTime,
) -> Result<usize, StoreError> {
    Ok(match id {
        Some(id) => on_backend!(conn, |c| Cached(
            diesel::update(
                staff_notifications::table
                    .filter(staff_notifications::staff_id.eq(staff_id))
                    .filter(staff_notifications::id.eq(id))
                    .filter(staff_notifications::read_at.is_null())
            )
            .set(staff_notifications::read_at.eq(Some(at)))
        )
        .execute(c)
        .await)?,
        None => on_backend!(conn, |c| Cached(
            diesel::update(
                staff_notifications::table
                    .filter(staff_notifications::staff_id.eq(staff_id))
                    .filter(staff_notifications::read_at.is_null())
            )
            .set(staff_notifications::read_at.eq(Some(at)))
        )
        .execute(c)
        .await)?,
    })
}

/// The person's toasts not shown yet (they were signed out, or no tab was open), oldest first.
pub async fn pending_toasts(conn: &mut DbConn, staff_id: &str) -> Result<Vec<NotificationRow>, StoreError> {
    Ok(on_backend!(conn, |c| staff_notifications::table
        .filter(staff_notifications::staff_id.eq(staff_id))
        // The column itself, not `= true` (a bound value): SQLite plans without bound values
        // (`SQLITE_ENABLE_QPSG`), and only this proves the partial index `..._to_toast` applies.
        .filter(staff_notifications::toast)
        .filter(staff_notifications::toasted_at.is_null())
        .order(staff_notifications::created_at.asc())
        .select(NotificationRow::as_select())
        .limit(100)
        .load(c)
        .await)?)
}

/// Records that toasts were shown; returns those this call marked (so that of two replicas
/// only one counts a toast as its own).
pub async fn mark_toasted(conn: &mut DbConn, ids: &[String], at: PrimitiveDateTime) -> Result<usize, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(on_backend!(conn, |c| Cached(
        diesel::update(
            staff_notifications::table
                .filter(staff_notifications::id.eq_any(ids))
                .filter(staff_notifications::toasted_at.is_null())
        )
        .set(staff_notifications::toasted_at.eq(Some(at)))
    )
    .execute(c)
    .await)?)
}

/// `NOTIFY channel, payload` for each payload, inside the caller's transaction, so that the
/// listeners hear it on commit (and never for a rolled-back write). PostgreSQL only: SQLite has no
/// other process to tell, and this does nothing there.
pub async fn pg_notify(conn: &mut DbConn, channel: &str, payloads: &[String]) -> Result<(), StoreError> {
    let DbConn::Pg(c) = conn else { return Ok(()) };
    for p in payloads {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(channel)
            .bind::<diesel::sql_types::Text, _>(p)
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

/// The staff a rule could name for one event: those whose id is in `ids` (the users the rules
/// name, the patient's care team) and the holders of a role in `roles`, in the order of
/// [`crate::staff::list`], each with whether their location list holds `location_id`.
///
/// Delivery used to read every staff member and every location link for each event and match
/// them in memory: with 1,000 staff that was a million comparisons per event, most of the
/// worker's time. These two indexed reads touch only the people concerned.
pub async fn recipient_staff(
    conn: &mut DbConn,
    location_id: &str,
    ids: &[String],
    roles: &[String],
) -> Result<Vec<(crate::staff::StaffRow, bool)>, StoreError> {
    use crate::schema::{staff_locations, staff_users};
    if ids.is_empty() && roles.is_empty() {
        return Ok(vec![]);
    }
    let staff: Vec<crate::staff::StaffRow> = on_backend!(conn, |c| staff_users::table
        .filter(staff_users::id.eq_any(ids).or(staff_users::role.eq_any(roles)))
        .order((staff_users::name.asc(), staff_users::id.asc()))
        .select(crate::staff::StaffRow::as_select())
        .load(c)
        .await)?;
    let staff_ids: Vec<&str> = staff.iter().map(|s| s.id.as_str()).collect();
    let linked: Vec<String> = on_backend!(conn, |c| staff_locations::table
        .filter(staff_locations::location_id.eq(location_id))
        .filter(staff_locations::staff_id.eq_any(&staff_ids))
        .select(staff_locations::staff_id)
        .load(c)
        .await)?;
    let linked: std::collections::HashSet<String> = linked.into_iter().collect();
    Ok(staff
        .into_iter()
        .map(|s| {
            let at = linked.contains(&s.id);
            (s, at)
        })
        .collect())
}
