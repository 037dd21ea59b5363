//! A patient's portal facts (access level, last invitation, last sign-in) and the auto-enable
//! setting of the instance and its locations.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portal_core::portal_access::PortalFacts;
use serde::Serialize;
use time::{Date, PrimitiveDateTime};

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, on_backend};
use crate::schema::{locations, organization, patients, portal_grants};

/// What portal use cases need of a patient: identity facts, location and portal columns.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = patients)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PatientPortalRow {
    pub id: String,
    pub record_number: String,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Date,
    pub email: Option<String>,
    pub zip: Option<String>,
    pub location_id: String,
    pub portal_access: bool,
    pub portal_last_invited_at: Option<PrimitiveDateTime>,
    pub portal_last_signed_in_at: Option<PrimitiveDateTime>,
}

impl PatientPortalRow {
    pub fn facts(&self) -> PortalFacts {
        PortalFacts {
            access_enabled: self.portal_access,
            has_email: self.email.as_deref().is_some_and(|e| !e.trim().is_empty()),
            has_zip: self.zip.as_deref().is_some_and(|z| !z.trim().is_empty()),
            invited: self.portal_last_invited_at.is_some(),
            signed_in: self.portal_last_signed_in_at.is_some(),
        }
    }

    /// Access enabled with an e-mail and a ZIP code on file: the patient is reachable through
    /// the portal (every status but red).
    pub fn portal_usable(&self) -> bool {
        let f = self.facts();
        f.access_enabled && f.has_email && f.has_zip
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

pub async fn patient(conn: &mut DbConn, id: &str) -> Result<PatientPortalRow, StoreError> {
    Ok(on_backend!(conn, |c| patients::table.find(id).select(PatientPortalRow::as_select()).first(c).await)?)
}

/// The patient, locked until the end of the transaction (PostgreSQL; SQLite's immediate
/// transaction already serialises writers), for read-modify-write of its portal columns.
pub async fn patient_for_update(conn: &mut DbConn, id: &str) -> Result<PatientPortalRow, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite | c | patients::table.find(id).select(PatientPortalRow::as_select()).first(c).await,
        pg | c | patients::table.find(id).select(PatientPortalRow::as_select()).for_update().first(c).await
    )?)
}

/// Several patients at once (a bulk chunk), in no particular order.
pub async fn patients(conn: &mut DbConn, ids: &[String]) -> Result<Vec<PatientPortalRow>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(on_backend!(conn, |c| patients::table
        .filter(patients::id.eq_any(ids))
        .select(PatientPortalRow::as_select())
        .load(c)
        .await)?)
}

/// Several patients, locked until the end of the transaction (PostgreSQL), so that a bulk chunk
/// and a single invitation of the same patient do not both create its account.
pub async fn patients_for_update(conn: &mut DbConn, ids: &[String]) -> Result<Vec<PatientPortalRow>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(on_backend!(
        conn,
        sqlite
            | c
            | patients::table.filter(patients::id.eq_any(ids)).select(PatientPortalRow::as_select()).load(c).await,
        pg | c
            | patients::table
                .filter(patients::id.eq_any(ids))
                .order(patients::id.asc())
                .select(PatientPortalRow::as_select())
                .for_update()
                .load(c)
                .await
    )?)
}

/// Patients whose facesheet e-mail is `email` (stored lowercase): the candidates of a
/// self-registration or forgot-password claim. Bounded, since a shared family address may
/// belong to several patients but never to hundreds.
pub async fn patients_by_email(conn: &mut DbConn, email: &str) -> Result<Vec<PatientPortalRow>, StoreError> {
    Ok(on_backend!(conn, |c| patients::table
        .filter(patients::email.eq(email))
        .select(PatientPortalRow::as_select())
        .order(patients::id.asc())
        .limit(50)
        .load(c)
        .await)?)
}

pub async fn set_portal_access(conn: &mut DbConn, id: &str, on: bool) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    let n = on_backend!(conn, |c| Cached(
        diesel::update(patients::table.find(id)).set((patients::portal_access.eq(on), patients::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Enables access of many patients in one statement (a bulk chunk).
pub async fn enable_many(conn: &mut DbConn, ids: &[String]) -> Result<usize, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let now = portal_core::time_util::now_utc();
    Ok(on_backend!(conn, |c| Cached(
        diesel::update(patients::table.filter(patients::id.eq_any(ids)))
            .set((patients::portal_access.eq(true), patients::updated_at.eq(now)))
    )
    .execute(c)
    .await)?)
}

/// Records that an invitation concerning these patients was sent at `at`.
pub async fn mark_invited(conn: &mut DbConn, ids: &[String], at: PrimitiveDateTime) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    on_backend!(conn, |c| Cached(
        diesel::update(patients::table.filter(patients::id.eq_any(ids))).set(patients::portal_last_invited_at.eq(at))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Records a sign-in of `account_id` on every patient it holds a live grant for: the status of
/// those patients turns green, and the Onboarding Tool shows the time.
pub async fn mark_signed_in(
    conn: &mut DbConn,
    account_id: &str,
    at: PrimitiveDateTime,
    today: Date,
) -> Result<(), StoreError> {
    let granted = portal_grants::table
        .filter(portal_grants::account_id.eq(account_id))
        .filter(portal_grants::revoked_at.is_null())
        .filter(portal_grants::ends_on.is_null().or(portal_grants::ends_on.ge(today)))
        .select(portal_grants::patient_id);
    on_backend!(conn, |c| Cached(
        diesel::update(patients::table.filter(patients::id.eq_any(granted)))
            .set(patients::portal_last_signed_in_at.eq(at))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Records a sign-in on the given patients directly (a data migration from another portal, and
/// tests that need every combination of facts).
pub async fn set_last_signed_in(conn: &mut DbConn, ids: &[String], at: PrimitiveDateTime) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    on_backend!(conn, |c| Cached(
        diesel::update(patients::table.filter(patients::id.eq_any(ids))).set(patients::portal_last_signed_in_at.eq(at))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Sets the facesheet e-mail (a portal user's confirmed change of address, seed 000).
pub async fn set_facesheet_email(conn: &mut DbConn, id: &str, email: &str) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(
        diesel::update(patients::table.find(id)).set((patients::email.eq(email), patients::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// The instance's auto-enable value.
pub async fn instance_auto_enable(conn: &mut DbConn) -> Result<bool, StoreError> {
    crate::org::organization(conn).await?;
    Ok(on_backend!(conn, |c| organization::table.find(1).select(organization::auto_enable_portal).first(c).await)?)
}

pub async fn set_instance_auto_enable(conn: &mut DbConn, on: bool) -> Result<(), StoreError> {
    crate::org::organization(conn).await?;
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(
        diesel::update(organization::table.find(1))
            .set((organization::auto_enable_portal.eq(on), organization::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Every location's override: (id, name, override), by name.
pub async fn location_overrides(conn: &mut DbConn) -> Result<Vec<(String, String, Option<bool>)>, StoreError> {
    Ok(on_backend!(conn, |c| locations::table
        .order((locations::name.asc(), locations::id.asc()))
        .select((locations::id, locations::name, locations::auto_enable_portal))
        .load(c)
        .await)?)
}

pub async fn location_override(conn: &mut DbConn, location_id: &str) -> Result<Option<bool>, StoreError> {
    Ok(on_backend!(conn, |c| locations::table.find(location_id).select(locations::auto_enable_portal).first(c).await)?)
}

pub async fn set_location_override(
    conn: &mut DbConn,
    location_id: &str,
    value: Option<bool>,
) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    let n = on_backend!(conn, |c| Cached(
        diesel::update(locations::table.find(location_id))
            .set((locations::auto_enable_portal.eq(value), locations::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// The auto-enable value that applies at `location_id`.
pub async fn auto_enable_at(conn: &mut DbConn, location_id: &str) -> Result<bool, StoreError> {
    let instance = instance_auto_enable(conn).await?;
    let over = location_override(conn, location_id).await?;
    Ok(portal_core::portal_access::effective_auto_enable(instance, over))
}
