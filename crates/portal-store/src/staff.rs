//! Staff accounts, their locations and portal permissions.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, on_backend};
use crate::schema::{staff_locations, staff_users};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = staff_users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct StaffRow {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub active: bool,
    pub perm_allow_document_share: bool,
    pub perm_available_for_portal_messages: bool,
    pub perm_manage_portal_packages: bool,
    pub perm_manage_portal_settings: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl StaffRow {
    pub fn portal_permissions(&self) -> portal_core::staff::PortalPermissions {
        portal_core::staff::PortalPermissions {
            allow_document_share: self.perm_allow_document_share,
            available_for_portal_messages: self.perm_available_for_portal_messages,
            manage_portal_packages: self.perm_manage_portal_packages,
            manage_portal_settings: self.perm_manage_portal_settings,
        }
    }
}

pub struct NewStaff<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub portal: portal_core::staff::PortalPermissions,
}

pub async fn insert(conn: &mut DbConn, s: &NewStaff<'_>) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| diesel::insert_into(staff_users::table)
        .values((
            staff_users::id.eq(s.id),
            staff_users::email.eq(s.email),
            staff_users::name.eq(s.name),
            staff_users::password_hash.eq(s.password_hash),
            staff_users::role.eq(s.role),
            staff_users::active.eq(true),
            staff_users::perm_allow_document_share.eq(s.portal.allow_document_share),
            staff_users::perm_available_for_portal_messages.eq(s.portal.available_for_portal_messages),
            staff_users::perm_manage_portal_packages.eq(s.portal.manage_portal_packages),
            staff_users::perm_manage_portal_settings.eq(s.portal.manage_portal_settings),
            staff_users::created_at.eq(now),
            staff_users::updated_at.eq(now),
        ))
        .execute(c)
        .await)
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::Conflict { what: "a staff user with this e-mail".into() },
        other => other,
    })?;
    Ok(())
}

pub async fn find(conn: &mut DbConn, id: &str) -> Result<StaffRow, StoreError> {
    Ok(on_backend!(conn, |c| staff_users::table.find(id).select(StaffRow::as_select()).first(c).await)?)
}

/// Reads a staff row for a read-modify-write: locked until the transaction ends on PostgreSQL
/// (at the default isolation a plain read there loses concurrent updates); SQLite's immediate
/// transaction already serialises writers. Call inside [`crate::Db::write`].
pub async fn find_for_update(conn: &mut DbConn, id: &str) -> Result<StaffRow, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite | c | staff_users::table.find(id).select(StaffRow::as_select()).first(c).await,
        pg | c | staff_users::table.find(id).select(StaffRow::as_select()).for_update().first(c).await
    )?)
}

pub async fn find_by_email(conn: &mut DbConn, email: &str) -> Result<Option<StaffRow>, StoreError> {
    Ok(on_backend!(conn, |c| staff_users::table
        .filter(staff_users::email.eq(email))
        .select(StaffRow::as_select())
        .first(c)
        .await
        .optional())?)
}

pub async fn list(conn: &mut DbConn) -> Result<Vec<StaffRow>, StoreError> {
    Ok(on_backend!(conn, |c| staff_users::table
        .order((staff_users::name.asc(), staff_users::id.asc()))
        .select(StaffRow::as_select())
        .load(c)
        .await)?)
}

pub async fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(on_backend!(conn, |c| staff_users::table.count().get_result(c).await)?)
}

/// Location ids of one staff user.
pub async fn locations_of(conn: &mut DbConn, staff_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(on_backend!(conn, |c| staff_locations::table
        .filter(staff_locations::staff_id.eq(staff_id))
        .select(staff_locations::location_id)
        .order(staff_locations::location_id.asc())
        .load(c)
        .await)?)
}

/// (staff id, location id) pairs of everyone, for list pages.
pub async fn all_location_links(conn: &mut DbConn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(on_backend!(conn, |c| staff_locations::table
        .select((staff_locations::staff_id, staff_locations::location_id))
        .load(c)
        .await)?)
}

pub async fn set_locations(conn: &mut DbConn, staff_id: &str, location_ids: &[String]) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::delete(staff_locations::table.filter(staff_locations::staff_id.eq(staff_id)))
        .execute(c)
        .await)?;
    for l in location_ids {
        on_backend!(conn, |c| diesel::insert_into(staff_locations::table)
            .values((staff_locations::staff_id.eq(staff_id), staff_locations::location_id.eq(l)))
            .execute(c)
            .await)?;
    }
    Ok(())
}

#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = staff_users)]
pub struct StaffProfile {
    pub name: String,
    pub email: String,
    pub role: String,
    pub active: bool,
}

pub async fn update_profile(conn: &mut DbConn, id: &str, p: &StaffProfile) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    let n = on_backend!(conn, |c| Cached(
        diesel::update(staff_users::table.find(id)).set((p, staff_users::updated_at.eq(now)))
    )
    .execute(c)
    .await)
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::Conflict { what: "a staff user with this e-mail".into() },
        other => other,
    })?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub async fn set_portal_permissions(
    conn: &mut DbConn,
    id: &str,
    p: portal_core::staff::PortalPermissions,
) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(diesel::update(staff_users::table.find(id)).set((
        staff_users::perm_allow_document_share.eq(p.allow_document_share),
        staff_users::perm_available_for_portal_messages.eq(p.available_for_portal_messages),
        staff_users::perm_manage_portal_packages.eq(p.manage_portal_packages),
        staff_users::perm_manage_portal_settings.eq(p.manage_portal_settings),
        staff_users::updated_at.eq(now),
    )))
    .execute(c)
    .await)?;
    Ok(())
}

pub async fn set_password_hash(conn: &mut DbConn, id: &str, hash: &str) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(
        diesel::update(staff_users::table.find(id))
            .set((staff_users::password_hash.eq(hash), staff_users::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    Ok(())
}
