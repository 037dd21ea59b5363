//! Patients, their contacts and care teams.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::{Date, PrimitiveDateTime};

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, on_backend};
use crate::schema::{care_team_members, counters, patient_contacts, patients, staff_users};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = patients)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct PatientRow {
    pub id: String,
    pub record_number: String,
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Date,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub location_id: String,
    pub status: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// The facesheet fields staff can set; `search_name` is derived from the names.
#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = patients, treat_none_as_null = true)]
pub struct PatientFields {
    pub first_name: String,
    pub last_name: String,
    pub search_name: String,
    pub date_of_birth: Date,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub location_id: String,
    pub status: String,
}

/// "last first" in lowercase: what name search matches against.
pub fn search_name(first: &str, last: &str) -> String {
    format!("{} {}", last.to_lowercase(), first.to_lowercase())
}

/// The next record number (`P-001001`, ...), from an atomic counter so that concurrent
/// registrations on any replica never collide.
pub async fn next_record_number(conn: &mut DbConn) -> Result<String, StoreError> {
    let v: i64 = on_backend!(conn, |c| diesel::update(counters::table.find("record_number"))
        .set(counters::value.eq(counters::value + 1))
        .returning(counters::value)
        .get_result(c)
        .await)?;
    Ok(format!("P-{v:06}"))
}

pub async fn insert(conn: &mut DbConn, id: &str, record_number: &str, f: &PatientFields) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| diesel::insert_into(patients::table)
        .values((
            patients::id.eq(id),
            patients::record_number.eq(record_number),
            f,
            patients::created_at.eq(now),
            patients::updated_at.eq(now),
        ))
        .execute(c)
        .await)
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            StoreError::Conflict { what: format!("a patient with record number {record_number}") }
        }
        other => other,
    })?;
    Ok(())
}

pub async fn update(conn: &mut DbConn, id: &str, f: &PatientFields) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    let n =
        on_backend!(conn, |c| Cached(diesel::update(patients::table.find(id)).set((f, patients::updated_at.eq(now))))
            .execute(c)
            .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub async fn find(conn: &mut DbConn, id: &str) -> Result<PatientRow, StoreError> {
    Ok(on_backend!(conn, |c| patients::table.find(id).select(PatientRow::as_select()).first(c).await)?)
}

pub async fn record_number_exists(conn: &mut DbConn, record_number: &str) -> Result<bool, StoreError> {
    let n: i64 = on_backend!(conn, |c| patients::table
        .filter(patients::record_number.eq(record_number))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

pub async fn count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(on_backend!(conn, |c| patients::table.count().get_result(c).await)?)
}

/// What the patient list searches for. The text is interpreted once by the caller.
#[derive(Debug, Clone)]
pub enum PatientQuery {
    All,
    /// Every word must appear in "last first" (lowercase).
    Name(Vec<String>),
    DateOfBirth(Date),
    RecordNumber(String),
}

#[derive(Debug, Clone)]
pub struct PatientSearch {
    pub query: PatientQuery,
    /// `None`: every location; otherwise only these.
    pub locations: Option<Vec<String>>,
    pub location: Option<String>,
    pub status: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// Lowercases a typed word as [`search_name`] does (so matching is case-insensitive on both
/// backends: PostgreSQL's LIKE is case-sensitive, SQLite's folds ASCII only), and escapes `%`,
/// `_` and the escape character itself so that the word matches literally.
fn like_contains(word: &str) -> String {
    let word = word.to_lowercase();
    let mut s = String::with_capacity(word.len() + 2);
    s.push('%');
    for ch in word.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

/// One page of matching patients, ordered by name, and the total count.
pub async fn search(conn: &mut DbConn, s: &PatientSearch) -> Result<(Vec<PatientRow>, i64), StoreError> {
    macro_rules! filtered {
        ($db:ty) => {{
            let mut q = patients::table.into_boxed::<$db>();
            match &s.query {
                PatientQuery::All => {}
                PatientQuery::Name(words) => {
                    for w in words {
                        q = q.filter(patients::search_name.like(like_contains(w)).escape('\\'));
                    }
                }
                PatientQuery::DateOfBirth(d) => q = q.filter(patients::date_of_birth.eq(*d)),
                PatientQuery::RecordNumber(r) => q = q.filter(patients::record_number.eq(r.clone())),
            }
            if let Some(locs) = &s.locations {
                q = q.filter(patients::location_id.eq_any(locs.clone()));
            }
            if let Some(l) = &s.location {
                q = q.filter(patients::location_id.eq(l.clone()));
            }
            if let Some(st) = &s.status {
                q = q.filter(patients::status.eq(st.clone()));
            }
            q
        }};
    }
    let limit = s.limit.clamp(1, 200);
    let offset = s.offset.max(0);
    let rows = on_backend!(
        conn,
        sqlite
            | c
            | filtered!(diesel::sqlite::Sqlite)
                .order((patients::search_name.asc(), patients::id.asc()))
                .select(PatientRow::as_select())
                .limit(limit)
                .offset(offset)
                .load(c)
                .await,
        pg | c
            | filtered!(diesel::pg::Pg)
                .order((patients::search_name.asc(), patients::id.asc()))
                .select(PatientRow::as_select())
                .limit(limit)
                .offset(offset)
                .load(c)
                .await
    )?;
    let total: i64 = on_backend!(
        conn,
        sqlite | c | filtered!(diesel::sqlite::Sqlite).count().get_result(c).await,
        pg | c | filtered!(diesel::pg::Pg).count().get_result(c).await
    )?;
    Ok((rows, total))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = patient_contacts)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ContactRow {
    pub id: String,
    pub patient_id: String,
    pub kind: String,
    pub first_name: String,
    pub last_name: String,
    pub relation: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = patient_contacts, treat_none_as_null = true)]
pub struct ContactFields {
    pub kind: String,
    pub first_name: String,
    pub last_name: String,
    pub relation: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

pub async fn contacts(conn: &mut DbConn, patient_id: &str) -> Result<Vec<ContactRow>, StoreError> {
    Ok(on_backend!(conn, |c| patient_contacts::table
        .filter(patient_contacts::patient_id.eq(patient_id))
        .order((patient_contacts::created_at.asc(), patient_contacts::id.asc()))
        .select(ContactRow::as_select())
        .load(c)
        .await)?)
}

pub async fn find_contact(conn: &mut DbConn, patient_id: &str, contact_id: &str) -> Result<ContactRow, StoreError> {
    Ok(on_backend!(conn, |c| patient_contacts::table
        .find(contact_id)
        .filter(patient_contacts::patient_id.eq(patient_id))
        .select(ContactRow::as_select())
        .first(c)
        .await)?)
}

pub async fn insert_contact(
    conn: &mut DbConn,
    id: &str,
    patient_id: &str,
    f: &ContactFields,
) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| diesel::insert_into(patient_contacts::table)
        .values((
            patient_contacts::id.eq(id),
            patient_contacts::patient_id.eq(patient_id),
            f,
            patient_contacts::created_at.eq(now),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

pub async fn update_contact(
    conn: &mut DbConn,
    patient_id: &str,
    id: &str,
    f: &ContactFields,
) -> Result<(), StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(patient_contacts::table.find(id).filter(patient_contacts::patient_id.eq(patient_id))).set(f)
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub async fn delete_contact(conn: &mut DbConn, patient_id: &str, id: &str) -> Result<(), StoreError> {
    let n = on_backend!(conn, |c| diesel::delete(
        patient_contacts::table.find(id).filter(patient_contacts::patient_id.eq(patient_id))
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

#[derive(Debug, Clone, Queryable, Serialize)]
pub struct CareTeamMember {
    pub staff_id: String,
    pub staff_name: String,
    pub staff_role: String,
    pub team_role: String,
    pub added_at: PrimitiveDateTime,
}

pub async fn care_team(conn: &mut DbConn, patient_id: &str) -> Result<Vec<CareTeamMember>, StoreError> {
    Ok(on_backend!(conn, |c| care_team_members::table
        .inner_join(staff_users::table)
        .filter(care_team_members::patient_id.eq(patient_id))
        .order((staff_users::name.asc(), staff_users::id.asc()))
        .select((
            care_team_members::staff_id,
            staff_users::name,
            staff_users::role,
            care_team_members::team_role,
            care_team_members::added_at,
        ))
        .load(c)
        .await)?)
}

/// Adds a member, or changes the team role of one who is already on the team.
pub async fn upsert_care_team_member(
    conn: &mut DbConn,
    patient_id: &str,
    staff_id: &str,
    team_role: &str,
) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| diesel::insert_into(care_team_members::table)
        .values((
            care_team_members::patient_id.eq(patient_id),
            care_team_members::staff_id.eq(staff_id),
            care_team_members::team_role.eq(team_role),
            care_team_members::added_at.eq(now),
        ))
        .on_conflict((care_team_members::patient_id, care_team_members::staff_id))
        .do_update()
        .set(care_team_members::team_role.eq(team_role))
        .execute(c)
        .await)?;
    Ok(())
}

pub async fn remove_care_team_member(conn: &mut DbConn, patient_id: &str, staff_id: &str) -> Result<(), StoreError> {
    let n = on_backend!(conn, |c| diesel::delete(
        care_team_members::table
            .filter(care_team_members::patient_id.eq(patient_id))
            .filter(care_team_members::staff_id.eq(staff_id))
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}
