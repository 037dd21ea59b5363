//! Fixtures shared by the integration tests of portal-practice: locations and staff written
//! through portal-store, principals built directly (portal-practice knows no sign-in), patient
//! inputs with plain defaults, and readers of the audit log. Each test binary compiles this module
//! on its own and uses only part of it.
#![allow(dead_code)]

use portal_core::audit::AuditAction;
use portal_core::ids::{LocationId, StaffId};
use portal_core::staff::{PortalPermissions, StaffRole};
use portal_core::{Actor, Principal, StaffPrincipal};
use portal_practice::PracticeError;
use portal_practice::patients::PatientInput;
use portal_store::audit::{AuditFilter, AuditRow};
use portal_store::org::LocationFields;
use portal_store::patients::PatientRow;
use portal_store::staff::{NewStaff, StaffProfile};
use portal_store::testing::TestDb;
use portal_store::{Db, ids, org, staff};

/// A fresh database of the backend named by `PORTAL_TEST_BACKEND`.
pub async fn test_db() -> TestDb {
    TestDb::new().await
}

pub fn location_fields(name: &str) -> LocationFields {
    LocationFields {
        name: name.to_owned(),
        address_line1: Some("1 Main St".into()),
        city: Some("Springfield".into()),
        state: Some("IL".into()),
        zip: Some("62701".into()),
        phone: None,
        time_zone: "America/Chicago".into(),
    }
}

/// Inserts a location through the store (no actor, no audit row) and returns its id.
pub async fn location(db: &Db, name: &str) -> String {
    let id = ids::new_id();
    let (id2, f) = (id.clone(), location_fields(name));
    db.write(move |tx| Box::pin(async move { org::insert_location(tx, &id2, &f).await }))
        .await
        .expect("insert location");
    id
}

/// A staff member to insert: role, locations and portal permissions.
#[derive(Debug, Clone)]
pub struct StaffBuilder {
    name: String,
    email: String,
    role: StaffRole,
    locations: Vec<String>,
    portal: PortalPermissions,
}

impl StaffBuilder {
    pub fn new(role: StaffRole) -> Self {
        let n = ids::new_id();
        Self {
            name: format!("{} {}", role.label(), &n[..4]),
            email: format!("{}-{}@example.org", role.as_str(), &n[..8]),
            role,
            locations: Vec::new(),
            portal: PortalPermissions::default(),
        }
    }

    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    pub fn at(mut self, locations: &[&String]) -> Self {
        self.locations = locations.iter().map(|l| (*l).clone()).collect();
        self
    }

    pub fn portal_settings(mut self) -> Self {
        self.portal.manage_portal_settings = true;
        self
    }

    /// Inserts the staff row and its locations; returns the principal a signed-in request of
    /// this user would carry.
    pub async fn insert(self, db: &Db) -> StaffPrincipal {
        let id = ids::new_id();
        let (id2, b) = (id.clone(), self.clone());
        db.write(move |tx| {
            Box::pin(async move {
                staff::insert(
                    tx,
                    &NewStaff {
                        id: &id2,
                        email: &b.email,
                        name: &b.name,
                        // Never verified here: portal-practice has no sign-in.
                        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                        role: b.role.as_str(),
                        portal: b.portal,
                    },
                )
                .await?;
                staff::set_locations(tx, &id2, &b.locations).await
            })
        })
        .await
        .expect("insert staff");
        let mut locations: Vec<LocationId> = self.locations.into_iter().map(LocationId::from_trusted).collect();
        locations.sort();
        StaffPrincipal {
            id: StaffId::from_trusted(id),
            name: self.name,
            role: self.role,
            portal: self.portal,
            locations,
        }
    }
}

/// Inserts a staff member of `role` at `locations` and returns them as an acting party.
pub async fn staff_actor(db: &Db, role: StaffRole, locations: &[&String]) -> Actor {
    actor(StaffBuilder::new(role).at(locations).insert(db).await)
}

pub fn actor(p: StaffPrincipal) -> Actor {
    Actor::new(Principal::Staff(p), Some("127.0.0.1".into()))
}

pub fn staff_of(a: &Actor) -> &StaffPrincipal {
    a.principal.staff().expect("a staff actor")
}

pub fn staff_id(a: &Actor) -> String {
    staff_of(a).id.to_string()
}

/// Marks a staff user inactive directly in the store.
pub async fn deactivate(db: &Db, id: &str) {
    let id = id.to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            let row = staff::find(tx, &id).await?;
            staff::update_profile(
                tx,
                &id,
                &StaffProfile { name: row.name, email: row.email, role: row.role, active: false },
            )
            .await
        })
    })
    .await
    .expect("deactivate");
}

/// A valid facesheet at `location_id`.
pub fn patient_input(first: &str, last: &str, location_id: &str) -> PatientInput {
    PatientInput {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        date_of_birth: "1980-01-15".into(),
        email: None,
        phone: None,
        address_line1: None,
        city: None,
        state: None,
        zip: None,
        location_id: location_id.to_owned(),
        status: None,
        record_number: None,
        confirm_email_change: false,
    }
}

/// Creates a patient through the use case, panicking on refusal.
pub async fn create_patient(db: &Db, a: &Actor, input: PatientInput) -> PatientRow {
    portal_practice::patients::create(db, a, input).await.expect("create patient")
}

/// Every audit row, oldest first.
pub async fn audit_rows(db: &Db) -> Vec<AuditRow> {
    audit_filtered(db, AuditFilter { limit: 500, ..Default::default() }).await
}

/// Audit rows of one action, oldest first.
pub async fn audit_of(db: &Db, action: AuditAction) -> Vec<AuditRow> {
    audit_filtered(db, AuditFilter { action: Some(action.as_str().into()), limit: 500, ..Default::default() }).await
}

pub async fn audit_filtered(db: &Db, f: AuditFilter) -> Vec<AuditRow> {
    let mut conn = db.read().await.expect("connection");
    let mut rows = portal_store::audit::list(&mut conn, &f).await.expect("audit list");
    rows.reverse();
    rows
}

pub fn detail(row: &AuditRow) -> serde_json::Value {
    serde_json::from_str(&row.detail).expect("audit detail is JSON")
}

pub async fn patient_count(db: &Db) -> i64 {
    let mut conn = db.read().await.expect("connection");
    portal_store::patients::count(&mut conn).await.expect("count")
}

pub async fn verify_chain(db: &Db) -> portal_store::audit::VerifyReport {
    let mut conn = db.read().await.expect("connection");
    portal_store::audit::verify(&mut conn).await.expect("verify")
}

/// The field names of an `Invalid` error, in order; panics on any other outcome.
pub fn invalid_fields<T: std::fmt::Debug>(r: Result<T, PracticeError>) -> Vec<String> {
    match r {
        Err(PracticeError::Invalid(e)) => e.0.into_iter().map(|f| f.field).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Asserts that `r` was refused with exactly `expected`.
#[track_caller]
pub fn assert_access<T: std::fmt::Debug>(r: Result<T, PracticeError>, expected: portal_core::AccessError) {
    match r {
        Err(PracticeError::Access(e)) => assert_eq!(e, expected),
        other => panic!("expected Access({expected:?}), got {other:?}"),
    }
}

pub fn forbidden(needs: &'static str) -> portal_core::AccessError {
    portal_core::AccessError::Forbidden { needs }
}
