//! Fixtures of the domain crates' tests: a clinic with the portal on, staff, patients with portal
//! access, portal accounts with grants, written through the store; principals built the way a
//! request would load them (grants in force from the store). Panics on failure: tests only.

use crate::audit::{AuditFilter, AuditRow};
use crate::org::LocationFields;
use crate::patients::PatientFields;
use crate::portal_accounts::{NewAccount, NewGrant};
use crate::staff::NewStaff;
use crate::testing::TestDb;
use crate::{Db, ids, org, patients, portal_access, portal_accounts, staff};
use portal_core::events::Relation;
use portal_core::ids::{LocationId, PatientId, StaffId};
use portal_core::patient::Email;
use portal_core::portal_accounts::{GrantScopes, PortalAccountId, PortalGrant, PortalPrincipal};
use portal_core::staff::{PortalPermissions, StaffRole};
use portal_core::time_util::now_utc;
use portal_core::username::Username;
use portal_core::{Actor, Principal, StaffPrincipal};

/// A database with the portal turned on.
pub async fn clinic() -> TestDb {
    let t = TestDb::new().await;
    t.db.write(|tx| Box::pin(async move { org::set_use_portal(tx, true).await })).await.expect("portal on");
    t
}

pub async fn location(db: &Db, name: &str) -> String {
    let id = ids::new_id();
    let f = LocationFields {
        name: name.to_owned(),
        address_line1: None,
        city: None,
        state: None,
        zip: None,
        phone: None,
        time_zone: "America/Chicago".into(),
    };
    let id2 = id.clone();
    db.write(move |tx| Box::pin(async move { org::insert_location(tx, &id2, &f).await })).await.expect("location");
    id
}

/// A staff member: role, locations, and whether they are Available for Portal Messages.
pub async fn staff_member(db: &Db, name: &str, role: StaffRole, locations: &[&String], messages: bool) -> Actor {
    let id = ids::new_id();
    let portal = PortalPermissions { available_for_portal_messages: messages, ..Default::default() };
    let email = format!("{}@example.org", &id[..8]);
    let locs: Vec<String> = locations.iter().map(|l| (*l).clone()).collect();
    let (id2, name2, locs2) = (id.clone(), name.to_owned(), locs.clone());
    db.write(move |tx| {
        Box::pin(async move {
            staff::insert(
                tx,
                &NewStaff {
                    id: &id2,
                    email: &email,
                    name: &name2,
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                    role: role.as_str(),
                    portal,
                },
            )
            .await?;
            staff::set_locations(tx, &id2, &locs2).await
        })
    })
    .await
    .expect("staff");
    Actor::new(
        Principal::Staff(StaffPrincipal {
            id: StaffId::from_trusted(id),
            name: name.to_owned(),
            role,
            portal,
            locations: locs.into_iter().map(LocationId::from_trusted).collect(),
        }),
        Some("127.0.0.1".into()),
    )
}

pub fn staff_of(a: &Actor) -> &StaffPrincipal {
    a.principal.staff().expect("staff")
}

pub fn sid(a: &Actor) -> String {
    staff_of(a).id.to_string()
}

/// The same staff member as a request after a change would load them.
pub fn with_permission(a: &Actor, messages: bool) -> Actor {
    let mut s = staff_of(a).clone();
    s.portal.available_for_portal_messages = messages;
    Actor::new(Principal::Staff(s), a.ip.clone())
}

pub fn with_locations(a: &Actor, locations: &[&String]) -> Actor {
    let mut s = staff_of(a).clone();
    s.locations = locations.iter().map(|l| LocationId::from_trusted((*l).clone())).collect();
    Actor::new(Principal::Staff(s), a.ip.clone())
}

/// Writes a permission change to the store (as Manage Users would).
pub async fn set_messages_permission(db: &Db, a: &Actor, on: bool) {
    let id = sid(a);
    db.write(move |tx| {
        Box::pin(async move {
            let row = staff::find(tx, &id).await?;
            let mut p = row.portal_permissions();
            p.available_for_portal_messages = on;
            staff::set_portal_permissions(tx, &id, p).await
        })
    })
    .await
    .expect("set permission");
}

pub async fn set_staff_locations(db: &Db, a: &Actor, locations: &[&String]) {
    let id = sid(a);
    let locs: Vec<String> = locations.iter().map(|l| (*l).clone()).collect();
    db.write(move |tx| Box::pin(async move { staff::set_locations(tx, &id, &locs).await })).await.expect("locations");
}

/// A patient at `location` with portal access enabled, an e-mail and a ZIP code.
pub async fn patient(db: &Db, first: &str, last: &str, location: &str) -> String {
    let id = ids::new_id();
    let f = PatientFields {
        first_name: first.into(),
        last_name: last.into(),
        search_name: patients::search_name(first, last),
        date_of_birth: time::macros::date!(2015 - 03 - 04),
        email: Some(format!("{}@example.com", first.to_lowercase())),
        phone: None,
        address_line1: None,
        city: None,
        state: None,
        zip: Some("62701".into()),
        location_id: location.to_owned(),
        status: "active".into(),
    };
    let id2 = id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let rn = patients::next_record_number(tx).await?;
            patients::insert(tx, &id2, &rn, &f).await?;
            portal_access::set_portal_access(tx, &id2, true).await
        })
    })
    .await
    .expect("patient");
    id
}

pub async fn add_to_care_team(db: &Db, patient: &str, staff: &Actor) {
    let (p, s) = (patient.to_owned(), sid(staff));
    db.write(move |tx| Box::pin(async move { patients::upsert_care_team_member(tx, &p, &s, "clinician").await }))
        .await
        .expect("care team");
}

pub async fn remove_from_care_team(db: &Db, patient: &str, staff: &Actor) {
    let (p, s) = (patient.to_owned(), sid(staff));
    db.write(move |tx| Box::pin(async move { patients::remove_care_team_member(tx, &p, &s).await }))
        .await
        .expect("care team");
}

/// A portal account; with `password`, an active one (invitation accepted).
pub async fn account(db: &Db, display_name: &str, password: bool) -> String {
    let id = ids::new_id();
    let now = now_utc();
    let mut row = NewAccount::invited(id.clone(), &format!("{}@example.net", &id[..8]), display_name, now);
    if password {
        row.username = Some(format!("user{}", &id[..8]));
        row.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    }
    db.write(move |tx| Box::pin(async move { portal_accounts::insert_accounts(tx, &[row]).await }))
        .await
        .expect("account");
    id
}

/// A grant of `account` to `patient`; returns its id.
pub async fn grant(db: &Db, account: &str, patient: &str, relation: Relation, scopes: GrantScopes) -> String {
    let id = ids::new_id();
    let now = now_utc();
    let row = NewGrant {
        id: id.clone(),
        account_id: account.to_owned(),
        patient_id: patient.to_owned(),
        relation: relation.as_str().to_owned(),
        contact_id: None,
        scopes: scopes.to_stored(),
        ends_on: None,
        created_by: None,
        created_at: now,
        updated_at: now,
    };
    db.write(move |tx| Box::pin(async move { portal_accounts::insert_grants(tx, &[row]).await })).await.expect("grant");
    id
}

pub async fn revoke(db: &Db, grant_id: &str) {
    let g = grant_id.to_owned();
    db.write(move |tx| {
        Box::pin(async move { portal_accounts::revoke_grant(tx, &g, None, now_utc()).await.map(|_| ()) })
    })
    .await
    .expect("revoke");
}

/// The portal user as a request loads them: the grants in force now.
pub async fn portal_principal(db: &Db, account_id: &str) -> PortalPrincipal {
    let mut conn = db.read().await.unwrap();
    let row = portal_accounts::find_account(&mut conn, account_id).await.unwrap().expect("account");
    let grants = portal_accounts::grants_in_force(&mut conn, account_id, now_utc().date()).await.unwrap();
    PortalPrincipal {
        account_id: PortalAccountId::from_trusted(row.id.clone()),
        username: Username::from_trusted(row.username.clone().expect("a username")),
        email: Email::from_trusted(row.email.clone()),
        must_change_password: row.must_change_password,
        grants: grants
            .into_iter()
            .map(|g| PortalGrant {
                grant_id: g.id,
                patient_id: PatientId::from_trusted(g.patient_id),
                relation: Relation::parse(&g.relation).unwrap(),
                scopes: GrantScopes::from_stored(&g.scopes),
                ends_on: g.ends_on,
            })
            .collect(),
    }
}

/// Runs trusted SQL text (a migration's own file) on the writer, outside any transaction.
pub async fn run_sql(db: &Db, sql: &str) {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = db.write_conn().await.expect("a connection");
    let done = match &mut conn {
        crate::DbConn::Sqlite(c) => c.batch_execute(sql).await,
        crate::DbConn::Pg(c) => c.batch_execute(sql).await,
    };
    done.unwrap_or_else(|e| panic!("{e}: {sql}"));
}

pub async fn audit_rows(db: &Db, action: &str) -> Vec<AuditRow> {
    let mut conn = db.read().await.unwrap();
    crate::audit::list(&mut conn, &AuditFilter { action: Some(action.into()), limit: 500, ..Default::default() })
        .await
        .unwrap()
}

/// PostgreSQL: the rows of `portal_request_terms` that are not a lexeme of their request's
/// `search_vector`, plus the lexemes that have no row (0 when the postings follow the requests).
/// SQLite has no such table: 0.
pub async fn request_terms_out_of_step(db: &Db) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.read().await.unwrap();
    match &mut conn {
        crate::db::DbConn::Sqlite(_) => 0,
        crate::db::DbConn::Pg(c) => {
            let lexemes = "SELECT t COLLATE \"C\" AS term, r.seq FROM portal_requests r, unnest(tsvector_to_array(r.search_vector)) AS t";
            let sql = format!(
                "SELECT COUNT(*) AS n FROM ((SELECT term, seq FROM portal_request_terms EXCEPT {lexemes}) \
                 UNION ALL ({lexemes} EXCEPT SELECT term, seq FROM portal_request_terms)) d"
            );
            let rows: Vec<Count> = diesel_async::RunQueryDsl::load(diesel::sql_query(sql), &mut **c).await.unwrap();
            rows[0].n
        }
    }
}

/// The outbox events of `kind`, as JSON.
pub async fn events(db: &Db, kind: &str) -> Vec<serde_json::Value> {
    let mut conn = db.read().await.unwrap();
    portal_accounts::queued_events(&mut conn, &[kind])
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect()
}

/// A clinic with one location, a clinician available for portal messages on the patient's care
/// team, a patient with an active account of their own (grant `self`).
pub struct Scene {
    pub t: TestDb,
    pub loc: String,
    pub clinician: Actor,
    pub patient: String,
    pub account: String,
    pub grant: String,
}

pub async fn scene() -> Scene {
    let t = clinic().await;
    let loc = location(&t.db, "Main").await;
    let clinician = staff_member(&t.db, "Dr Ada Jones", StaffRole::Clinician, &[&loc], true).await;
    let patient = patient(&t.db, "Ann", "Lee", &loc).await;
    add_to_care_team(&t.db, &patient, &clinician).await;
    let account = account(&t.db, "Ann Lee", true).await;
    let grant = grant(&t.db, &account, &patient, Relation::Myself, GrantScopes::all()).await;
    Scene { t, loc, clinician, patient, account, grant }
}
