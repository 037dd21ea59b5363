//! The organisation row, the settings history and the locations.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, on_backend};
use crate::schema::{locations, organization, setting_changes};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = organization)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Organization {
    pub name: String,
    pub phone: Option<String>,
    pub logo_content_type: Option<String>,
    pub brand_by_location: bool,
    pub use_portal: bool,
    pub updated_at: PrimitiveDateTime,
}

/// The organisation. Its placeholder row is made by a migration (`organization_row`); the insert
/// here only restores a row deleted by hand, on a connection that may write (SQLite's readers
/// are `query_only`).
pub async fn organization(conn: &mut DbConn) -> Result<Organization, StoreError> {
    let found: Option<Organization> =
        on_backend!(conn, |c| organization::table.find(1).select(Organization::as_select()).first(c).await.optional())?;
    if let Some(o) = found {
        return Ok(o);
    }
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| diesel::insert_into(organization::table)
        .values((
            organization::id.eq(1),
            organization::name.eq("My Clinic"),
            organization::brand_by_location.eq(false),
            organization::use_portal.eq(false),
            organization::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    Ok(on_backend!(conn, |c| organization::table.find(1).select(Organization::as_select()).first(c).await)?)
}

/// The organisation, locked for a read-modify-write (see `staff::find_for_update`). Call inside
/// [`crate::Db::write`]; lock it before the audit head, as every writer of it does.
pub async fn organization_for_update(conn: &mut DbConn) -> Result<Organization, StoreError> {
    organization(conn).await?;
    Ok(on_backend!(
        conn,
        sqlite | c | organization::table.find(1).select(Organization::as_select()).first(c).await,
        pg | c | organization::table.find(1).select(Organization::as_select()).for_update().first(c).await
    )?)
}

pub struct CompanyUpdate<'a> {
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub brand_by_location: bool,
}

pub async fn update_company(conn: &mut DbConn, u: &CompanyUpdate<'_>) -> Result<(), StoreError> {
    organization(conn).await?;
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(diesel::update(organization::table.find(1)).set((
        organization::name.eq(u.name),
        organization::phone.eq(u.phone),
        organization::brand_by_location.eq(u.brand_by_location),
        organization::updated_at.eq(now),
    )))
    .execute(c)
    .await)?;
    Ok(())
}

pub async fn set_company_logo(conn: &mut DbConn, content_type: &str, bytes: &[u8]) -> Result<(), StoreError> {
    organization(conn).await?;
    on_backend!(conn, |c| Cached(
        diesel::update(organization::table.find(1))
            .set((organization::logo_content_type.eq(content_type), organization::logo.eq(bytes)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// The logo's content type and bytes, if one was uploaded.
pub async fn company_logo(conn: &mut DbConn) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    let row: Option<(Option<String>, Option<Vec<u8>>)> = on_backend!(conn, |c| organization::table
        .find(1)
        .select((organization::logo_content_type, organization::logo))
        .first(c)
        .await
        .optional())?;
    Ok(row.and_then(|(t, b)| Some((t?, b?))))
}

pub async fn set_use_portal(conn: &mut DbConn, on: bool) -> Result<(), StoreError> {
    organization(conn).await?;
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(
        diesel::update(organization::table.find(1))
            .set((organization::use_portal.eq(on), organization::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = setting_changes)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SettingChange {
    pub id: String,
    pub setting: String,
    pub old_value: String,
    pub new_value: String,
    pub fee_locations: Option<i64>,
    pub fee_total_cents: Option<i64>,
    pub acknowledged: bool,
    pub changed_by: Option<String>,
    pub changed_by_name: String,
    pub ip: Option<String>,
    pub changed_at: PrimitiveDateTime,
}

pub async fn record_setting_change(conn: &mut DbConn, change: &SettingChange) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(setting_changes::table).values(change).execute(c).await)?;
    Ok(())
}

/// The history of one setting, newest first.
pub async fn setting_history(conn: &mut DbConn, setting: &str) -> Result<Vec<SettingChange>, StoreError> {
    Ok(on_backend!(conn, |c| setting_changes::table
        .filter(setting_changes::setting.eq(setting))
        .order((setting_changes::changed_at.desc(), setting_changes::id.desc()))
        .select(SettingChange::as_select())
        .limit(200)
        .load(c)
        .await)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = locations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Location {
    pub id: String,
    pub name: String,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub phone: Option<String>,
    pub time_zone: String,
    pub logo_content_type: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = locations, treat_none_as_null = true)]
pub struct LocationFields {
    pub name: String,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub phone: Option<String>,
    pub time_zone: String,
}

pub async fn list_locations(conn: &mut DbConn) -> Result<Vec<Location>, StoreError> {
    Ok(on_backend!(conn, |c| locations::table
        .order(locations::name.asc())
        .select(Location::as_select())
        .load(c)
        .await)?)
}

pub async fn count_locations(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(on_backend!(conn, |c| locations::table.count().get_result(c).await)?)
}

pub async fn find_location(conn: &mut DbConn, id: &str) -> Result<Location, StoreError> {
    Ok(on_backend!(conn, |c| locations::table.find(id).select(Location::as_select()).first(c).await)?)
}

pub async fn insert_location(conn: &mut DbConn, id: &str, f: &LocationFields) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| diesel::insert_into(locations::table)
        .values((
            locations::id.eq(id),
            locations::name.eq(&f.name),
            locations::address_line1.eq(&f.address_line1),
            locations::city.eq(&f.city),
            locations::state.eq(&f.state),
            locations::zip.eq(&f.zip),
            locations::phone.eq(&f.phone),
            locations::time_zone.eq(&f.time_zone),
            locations::created_at.eq(now),
            locations::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

pub async fn update_location(conn: &mut DbConn, id: &str, f: &LocationFields) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    let n = on_backend!(conn, |c| Cached(
        diesel::update(locations::table.find(id)).set((f, locations::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub async fn set_location_logo(
    conn: &mut DbConn,
    id: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(locations::table.find(id))
            .set((locations::logo_content_type.eq(content_type), locations::logo.eq(bytes)))
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub async fn location_logo(conn: &mut DbConn, id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    let row: Option<(Option<String>, Option<Vec<u8>>)> = on_backend!(conn, |c| locations::table
        .find(id)
        .select((locations::logo_content_type, locations::logo))
        .first(c)
        .await
        .optional())?;
    Ok(row.and_then(|(t, b)| Some((t?, b?))))
}
