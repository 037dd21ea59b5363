//! Fixtures of the portal-account tests: a database with the portal on, locations, staff
//! principals built directly, patients and contacts written through the store, readers of the
//! outbox (links are taken from `AccountLinkIssued` events, as the e-mail worker would), and
//! shorthands for the use cases. Each test binary uses only part of it.
#![allow(dead_code)]

use portal_auth::PasswordHasher;
use portal_auth::invitations::{self, InvitationSent, InviteInput, InviteTo};
use portal_auth::portal_links::{self, AcceptLinkInput, AcceptedLink};
use portal_auth::portal_sessions::{self, PortalSession, PortalSessionPolicy, PortalSignedIn};
use portal_auth::{PortalError, tokens};
use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, LinkPurpose};
use portal_core::ids::{LocationId, StaffId};
use portal_core::staff::{PortalPermissions, StaffRole};
use portal_core::{AccessError, Actor, Principal, StaffPrincipal};
use portal_store::audit::{AuditFilter, AuditRow};
use portal_store::org::LocationFields;
use portal_store::outbox::OutboxEvent;
use portal_store::patients::{ContactFields, PatientFields};
use portal_store::testing::TestDb;
use portal_store::{Db, ids, org, patients};
use time::macros::date;

pub const PASSWORD: &str = "correct horse battery staple";
pub const NEW_PASSWORD: &str = "a brand new passphrase";

pub struct World {
    pub t: TestDb,
    pub hasher: PasswordHasher,
    pub policy: PortalSessionPolicy,
    pub loc: String,
    pub other_loc: String,
    /// Front Desk at `loc`: Edit Patients.
    pub desk: Actor,
}

impl World {
    /// A fresh database with two locations, the portal turned on and a Front Desk user at the
    /// first location.
    pub async fn new() -> World {
        let t = TestDb::new().await;
        let loc = location(&t.db, "Main Street").await;
        let other_loc = location(&t.db, "Hillside").await;
        set_use_portal(&t.db, true).await;
        let desk = staff(StaffRole::FrontDesk, &[&loc]);
        World { t, hasher: PasswordHasher::new(2), policy: PortalSessionPolicy::default(), loc, other_loc, desk }
    }

    pub fn db(&self) -> &Db {
        &self.t.db
    }

    /// A patient at `loc` with e-mail and ZIP code and portal access enabled.
    pub async fn enabled_patient(&self, first: &str, last: &str, email: &str) -> String {
        let id = self.patient(PatientSpec::new(first, last).email(email).zip("02139").at(&self.loc)).await;
        set_access(self.db(), &id, true).await;
        id
    }

    pub async fn patient(&self, spec: PatientSpec) -> String {
        insert_patient(self.db(), spec).await
    }

    pub async fn contact(&self, patient_id: &str, kind: &str, first: &str, email: Option<&str>) -> String {
        let id = ids::new_id();
        let f = ContactFields {
            kind: kind.into(),
            first_name: first.into(),
            last_name: "Parent".into(),
            relation: None,
            email: email.map(str::to_owned),
            phone: None,
        };
        let (id2, pid) = (id.clone(), patient_id.to_owned());
        self.db()
            .write(move |tx| Box::pin(async move { patients::insert_contact(tx, &id2, &pid, &f).await }))
            .await
            .expect("contact");
        id
    }

    pub async fn invite(&self, patient_id: &str, to: InviteTo) -> Result<InvitationSent, PortalError> {
        invitations::invite(self.db(), &self.desk, patient_id, invite_input(to)).await
    }

    /// Invites the patient and completes the link with `username` and [`PASSWORD`].
    pub async fn registered_patient(&self, first: &str, email: &str, username: &str) -> (String, AcceptedLink) {
        let pid = self.enabled_patient(first, "Lee", email).await;
        self.invite(&pid, InviteTo::Patient).await.expect("invite");
        let token = self.last_link_to(email).await.1;
        let done = self.accept(&token, Some(username), PASSWORD).await.expect("accept");
        (pid, done)
    }

    pub async fn accept(
        &self,
        token: &str,
        username: Option<&str>,
        password: &str,
    ) -> Result<AcceptedLink, PortalError> {
        portal_links::accept_link(
            self.db(),
            &self.hasher,
            token,
            AcceptLinkInput { username: username.map(str::to_owned), password: password.into() },
            Some("10.0.0.9".into()),
        )
        .await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Result<PortalSignedIn, PortalError> {
        portal_sessions::sign_in_portal(
            self.db(),
            &self.hasher,
            &self.policy,
            username,
            password,
            Some("10.0.0.9".into()),
            Some("test-agent/1.0".into()),
        )
        .await
    }

    pub async fn session(&self, token: &str) -> Option<PortalSession> {
        portal_sessions::authenticate_portal(self.db(), &self.policy, token).await.expect("authenticate")
    }

    /// The purpose and raw token of the newest `AccountLinkIssued` event addressed to `to`.
    pub async fn last_link_to(&self, to: &str) -> (LinkPurpose, String) {
        self.links_to(to).await.pop().unwrap_or_else(|| panic!("no link was sent to {to}"))
    }

    pub async fn links_to(&self, to: &str) -> Vec<(LinkPurpose, String)> {
        events(self.db())
            .await
            .into_iter()
            .filter_map(|e| match e {
                DomainEvent::AccountLinkIssued { purpose, to: t, token, .. } if t == to => Some((purpose, token)),
                _ => None,
            })
            .collect()
    }

    pub async fn audit(&self, action: AuditAction) -> Vec<AuditRow> {
        audit_of(self.db(), action).await
    }

    pub async fn patient_row(&self, id: &str) -> portal_store::portal_access::PatientPortalRow {
        let mut conn = self.db().read().await.unwrap();
        portal_store::portal_access::patient(&mut conn, id).await.unwrap()
    }
}

pub fn invite_input(to: InviteTo) -> InviteInput {
    InviteInput {
        to,
        relation: None,
        scopes: None,
        ends_on: None,
        message: None,
        intake_form_ids: vec![],
        phi_warning_acknowledged: true,
    }
}

/// A staff principal at `locations`, as a signed-in request would carry it (no row needed: the
/// portal use cases read the principal, not the staff table).
pub fn staff(role: StaffRole, locations: &[&String]) -> Actor {
    let mut locations: Vec<LocationId> = locations.iter().map(|l| LocationId::from_trusted((*l).clone())).collect();
    locations.sort();
    let p = StaffPrincipal {
        id: StaffId::from_trusted(ids::new_id()),
        name: format!("{} tester", role.label()),
        role,
        portal: PortalPermissions::default(),
        locations,
    };
    Actor::new(Principal::Staff(p), Some("127.0.0.1".into()))
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
        time_zone: "America/New_York".into(),
    };
    let id2 = id.clone();
    db.write(move |tx| Box::pin(async move { org::insert_location(tx, &id2, &f).await })).await.expect("location");
    id
}

pub async fn set_use_portal(db: &Db, on: bool) {
    db.write(move |tx| Box::pin(async move { org::set_use_portal(tx, on).await })).await.expect("use portal");
}

pub async fn set_access(db: &Db, patient_id: &str, on: bool) {
    let id = patient_id.to_owned();
    db.write(move |tx| Box::pin(async move { portal_store::portal_access::set_portal_access(tx, &id, on).await }))
        .await
        .expect("set access");
}

/// A patient to insert through the store.
#[derive(Debug, Clone)]
pub struct PatientSpec {
    pub first: String,
    pub last: String,
    pub dob: time::Date,
    pub email: Option<String>,
    pub zip: Option<String>,
    pub location: String,
}

impl PatientSpec {
    pub fn new(first: &str, last: &str) -> Self {
        Self {
            first: first.into(),
            last: last.into(),
            dob: date!(1980 - 01 - 15),
            email: None,
            zip: None,
            location: String::new(),
        }
    }
    pub fn email(mut self, e: &str) -> Self {
        self.email = Some(e.into());
        self
    }
    pub fn zip(mut self, z: &str) -> Self {
        self.zip = Some(z.into());
        self
    }
    pub fn dob(mut self, d: time::Date) -> Self {
        self.dob = d;
        self
    }
    pub fn at(mut self, l: &str) -> Self {
        self.location = l.into();
        self
    }
}

pub async fn insert_patient(db: &Db, s: PatientSpec) -> String {
    let id = ids::new_id();
    let f = PatientFields {
        search_name: patients::search_name(&s.first, &s.last),
        first_name: s.first,
        last_name: s.last,
        date_of_birth: s.dob,
        email: s.email,
        phone: None,
        address_line1: None,
        city: None,
        state: None,
        zip: s.zip,
        location_id: s.location,
        status: "active".into(),
    };
    let id2 = id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let rn = patients::next_record_number(tx).await?;
            patients::insert(tx, &id2, &rn, &f).await
        })
    })
    .await
    .expect("patient");
    id
}

/// Every event in the outbox, oldest first.
pub async fn events(db: &Db) -> Vec<DomainEvent> {
    outbox_rows(db).await.into_iter().map(|e| serde_json::from_str(&e.payload).expect("event payload")).collect()
}

pub const PORTAL_EVENT_KINDS: [&str; 5] = [
    "account_link_issued",
    "password_changed_notice",
    "email_change_notice",
    "portal_registration_completed",
    "portal_email_changed",
];

/// Every portal event row in the outbox, oldest first (read without claiming).
pub async fn outbox_rows(db: &Db) -> Vec<OutboxEvent> {
    let mut conn = db.read().await.unwrap();
    portal_store::portal_accounts::queued_events(&mut conn, &PORTAL_EVENT_KINDS).await.unwrap()
}

pub async fn audit_of(db: &Db, action: AuditAction) -> Vec<AuditRow> {
    let mut conn = db.read().await.unwrap();
    let f = AuditFilter { action: Some(action.as_str().into()), limit: 500, ..Default::default() };
    let mut rows = portal_store::audit::list(&mut conn, &f).await.unwrap();
    rows.reverse();
    rows
}

pub fn detail(row: &AuditRow) -> serde_json::Value {
    serde_json::from_str(&row.detail).expect("audit detail is JSON")
}

/// Moves a link's expiry into the past (as if its lifetime had gone by).
pub async fn expire(w: &World, token: &str) {
    let h = hash(token);
    let past = portal_core::time_util::now_utc() - time::Duration::seconds(1);
    w.db()
        .write(move |tx| Box::pin(async move { portal_store::portal_accounts::expire_token(tx, &h, past).await }))
        .await
        .expect("expire");
}

pub fn hash(token: &str) -> String {
    tokens::hash_token(token)
}

#[track_caller]
pub fn assert_access<T: std::fmt::Debug>(r: Result<T, PortalError>, expected: AccessError) {
    match r {
        Err(PortalError::Access(e)) => assert_eq!(e, expected),
        other => panic!("expected Access({expected:?}), got {other:?}"),
    }
}

#[track_caller]
pub fn invalid_fields<T: std::fmt::Debug>(r: Result<T, PortalError>) -> Vec<String> {
    match r {
        Err(PortalError::Invalid(e)) => e.0.into_iter().map(|f| f.field).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}
