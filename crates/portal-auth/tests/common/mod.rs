//! Fixtures shared by the integration tests of portal-auth: locations written through the store,
//! staff made by the use cases (with real argon2 hashes, so that they can sign in), principals
//! loaded the way a request loads them, and readers of sessions, failure counts and the audit
//! log. Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use portal_auth::sessions::{self, STAFF, SessionPolicy};
use portal_auth::staff::{self, StaffInput};
use portal_auth::{AuthError, PasswordHasher, SignedIn};
use portal_core::audit::AuditAction;
use portal_core::staff::StaffRole;
use portal_core::{AccessError, Actor, Principal, StaffPrincipal};
use portal_store::audit::{AuditFilter, AuditRow};
use portal_store::org::LocationFields;
use portal_store::sessions::SessionRow;
use portal_store::staff::StaffProfile;
use portal_store::testing::TestDb;
use portal_store::{Db, ids, org};

/// The password every fixture account starts with.
pub const PASSWORD: &str = "correct horse battery staple";

/// A fresh database and a hasher that admits two hashes at once (one per core).
pub struct World {
    pub t: TestDb,
    pub hasher: PasswordHasher,
    pub policy: SessionPolicy,
}

impl World {
    pub async fn new() -> World {
        World { t: TestDb::new().await, hasher: PasswordHasher::new(2), policy: SessionPolicy::default() }
    }

    pub fn db(&self) -> &Db {
        &self.t.db
    }

    pub async fn location(&self, name: &str) -> String {
        location(self.db(), name).await
    }

    /// Creates an active staff account through the use case, acting as the command line.
    pub async fn staff(&self, role: StaffRole, email: &str, locations: &[&String]) -> String {
        let input = StaffInput {
            name: format!("{} {}", role.label(), email.split('@').next().unwrap_or("x")),
            email: email.into(),
            role: role.as_str().into(),
            location_ids: locations.iter().map(|l| (*l).clone()).collect(),
            active: true,
            password: Some(PASSWORD.into()),
        };
        staff::create(self.db(), &self.hasher, &Actor::system(), input).await.expect("create staff").row.id
    }

    /// A staff account and the actor a signed-in request of it would carry.
    pub async fn staff_actor(&self, role: StaffRole, email: &str, locations: &[&String]) -> Actor {
        let id = self.staff(role, email, locations).await;
        actor(self.principal(&id).await)
    }

    /// What a request of staff user `id` would be allowed to do, loaded fresh.
    pub async fn principal(&self, id: &str) -> StaffPrincipal {
        let mut conn = self.db().read().await.unwrap();
        sessions::load_staff_principal(&mut conn, id).await.unwrap().expect("an active staff user")
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Result<SignedIn, AuthError> {
        self.sign_in_with(&self.policy, email, password).await
    }

    pub async fn sign_in_with(
        &self,
        policy: &SessionPolicy,
        email: &str,
        password: &str,
    ) -> Result<SignedIn, AuthError> {
        sessions::sign_in_staff(
            self.db(),
            &self.hasher,
            policy,
            email,
            password,
            Some("127.0.0.1".into()),
            Some("test-agent/1.0".into()),
        )
        .await
    }

    /// Whether a token still opens a session (under the default policy).
    pub async fn is_live(&self, token: &str) -> bool {
        sessions::authenticate(self.db(), &self.policy, token).await.unwrap().is_some()
    }

    pub async fn sessions_of(&self, staff_id: &str) -> Vec<SessionRow> {
        let mut conn = self.db().read().await.unwrap();
        portal_store::sessions::list_for_user(&mut conn, STAFF, staff_id).await.unwrap()
    }

    pub async fn session_row(&self, token: &str) -> Option<SessionRow> {
        let mut conn = self.db().read().await.unwrap();
        portal_store::sessions::find(&mut conn, &portal_auth::tokens::hash_token(token)).await.unwrap()
    }

    /// Consecutive failures counted against what was typed as the e-mail.
    pub async fn failures(&self, email: &str) -> Option<i32> {
        let mut conn = self.db().read().await.unwrap();
        portal_store::sessions::failures(&mut conn, &account_key(email)).await.unwrap().map(|(n, _)| n)
    }

    /// Counts `n` more failures for `email`, as if the last one happened `ago` earlier.
    pub async fn record_failures(&self, email: &str, n: usize, ago: time::Duration) {
        let key = account_key(email);
        let at = portal_core::time_util::now_utc() - ago;
        self.db()
            .write(move |tx| {
                Box::pin(async move {
                    for _ in 0..n {
                        portal_store::sessions::record_failure(tx, &key, at).await?;
                    }
                    Ok::<_, portal_store::StoreError>(())
                })
            })
            .await
            .unwrap();
    }

    pub async fn clear_failures(&self, email: &str) {
        let key = account_key(email);
        self.db()
            .write(move |tx| Box::pin(async move { portal_store::sessions::clear_failures(tx, &key).await }))
            .await
            .unwrap();
    }

    /// Changes a staff row behind the use cases' back (no session is ended).
    pub async fn set_active_directly(&self, id: &str, active: bool) {
        let id = id.to_owned();
        self.db()
            .write(move |tx| {
                Box::pin(async move {
                    let r = portal_store::staff::find(tx, &id).await?;
                    portal_store::staff::update_profile(
                        tx,
                        &id,
                        &StaffProfile { name: r.name, email: r.email, role: r.role, active },
                    )
                    .await
                })
            })
            .await
            .unwrap();
    }

    pub async fn audit(&self, action: AuditAction) -> Vec<AuditRow> {
        audit_of(self.db(), action).await
    }
}

/// The key the per-account throttle uses for a typed e-mail.
pub fn account_key(email: &str) -> String {
    portal_auth::sessions::staff_account_key(email)
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

pub fn actor(p: StaffPrincipal) -> Actor {
    Actor::new(Principal::Staff(p), Some("127.0.0.1".into()))
}

pub fn staff_id(a: &Actor) -> String {
    a.principal.staff().expect("a staff actor").id.to_string()
}

/// Audit rows of one action, oldest first.
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

/// The field names of an `Invalid` error, in order; panics on any other outcome.
#[track_caller]
pub fn invalid_fields<T: std::fmt::Debug>(r: Result<T, AuthError>) -> Vec<String> {
    match r {
        Err(AuthError::Invalid(e)) => e.0.into_iter().map(|f| f.field).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_access<T: std::fmt::Debug>(r: Result<T, AuthError>, expected: AccessError) {
    match r {
        Err(AuthError::Access(e)) => assert_eq!(e, expected),
        other => panic!("expected Access({expected:?}), got {other:?}"),
    }
}

#[track_caller]
pub fn assert_bad_credentials<T: std::fmt::Debug>(r: Result<T, AuthError>) {
    match r {
        Err(AuthError::BadCredentials) => {}
        other => panic!("expected BadCredentials, got {other:?}"),
    }
}

/// The retry delay of a `Throttled` answer; panics on any other outcome.
#[track_caller]
pub fn throttled<T: std::fmt::Debug>(r: Result<T, AuthError>) -> u64 {
    match r {
        Err(AuthError::Throttled { retry_after_secs }) => retry_after_secs,
        other => panic!("expected Throttled, got {other:?}"),
    }
}
