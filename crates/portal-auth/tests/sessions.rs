//! Resolving a session token (HIPAA automatic logoff: idle 15 min, absolute 12 h), sign-out and
//! changing one's own password.

mod common;

use std::time::Duration as StdDuration;

use common::{PASSWORD, World, actor, assert_access, assert_bad_credentials, detail, invalid_fields};
use portal_auth::SessionPolicy;
use portal_auth::sessions::{self, authenticate, change_own_password};
use portal_auth::tokens;
use portal_core::audit::AuditAction;
use portal_core::ids::LocationId;
use portal_core::staff::{PortalPermissions, StaffRole};
use portal_core::{AccessError, Actor};
use time::Duration;

fn policy(idle: Duration, absolute: Duration, touch_every: Duration) -> SessionPolicy {
    SessionPolicy { staff_idle: idle, absolute, touch_every }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_gives_fresh_permissions_and_locations() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let annex = w.location("Annex").await;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let s = w.sign_in("ann@example.org", PASSWORD).await.unwrap();

    let session = authenticate(w.db(), &w.policy, &s.token).await.unwrap().expect("live");
    assert_eq!(session.token_hash, tokens::hash_token(&s.token));
    assert_eq!(session.staff.id.as_str(), id);
    assert_eq!(session.staff.locations, [LocationId::from_trusted(main.clone())]);
    assert_eq!(session.staff.portal, PortalPermissions::default());

    // Changed behind the session's back: the next request sees it.
    let (id2, both) = (id.clone(), vec![main.clone(), annex.clone()]);
    w.db()
        .write(move |tx| {
            Box::pin(async move {
                portal_store::staff::set_locations(tx, &id2, &both).await?;
                let perms = PortalPermissions { allow_document_share: true, ..Default::default() };
                portal_store::staff::set_portal_permissions(tx, &id2, perms).await
            })
        })
        .await
        .unwrap();
    let session = authenticate(w.db(), &w.policy, &s.token).await.unwrap().expect("still live");
    let mut expected = vec![LocationId::from_trusted(main), LocationId::from_trusted(annex)];
    expected.sort();
    assert_eq!(session.staff.locations, expected);
    assert!(session.staff.portal.allow_document_share);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_but_a_live_token_is_no_session() {
    let w = World::new().await;
    let main = w.location("Main").await;
    w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let s = w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    let hash = tokens::hash_token(&s.token);
    let (unknown, _) = tokens::new_token();
    for garbage in [
        String::new(),
        "abc".into(),
        "g".repeat(64),
        s.token.to_uppercase(),
        format!("{} ", s.token),
        s.token[..63].to_owned(),
        // The stored hash is not a token.
        hash,
        "' OR '1'='1".into(),
        unknown,
    ] {
        assert!(authenticate(w.db(), &w.policy, &garbage).await.unwrap().is_none(), "{garbage:?}");
    }
    assert!(w.is_live(&s.token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_their_absolute_lifetime() {
    let w = World::new().await;
    let main = w.location("Main").await;
    w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let short = policy(Duration::minutes(15), Duration::seconds(1), Duration::ZERO);
    let s = w.sign_in_with(&short, "ann@example.org", PASSWORD).await.unwrap();
    assert!(authenticate(w.db(), &short, &s.token).await.unwrap().is_some());
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    // Activity does not extend the absolute lifetime.
    assert!(authenticate(w.db(), &short, &s.token).await.unwrap().is_none());
    assert!(w.session_row(&s.token).await.is_none(), "the expired row is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_idling() {
    let w = World::new().await;
    let main = w.location("Main").await;
    w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let idle = policy(Duration::seconds(1), Duration::hours(12), Duration::ZERO);
    let s = w.sign_in_with(&idle, "ann@example.org", PASSWORD).await.unwrap();

    // Each request within the idle time keeps the session alive.
    for _ in 0..3 {
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        assert!(authenticate(w.db(), &idle, &s.token).await.unwrap().is_some());
    }
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert!(authenticate(w.db(), &idle, &s.token).await.unwrap().is_none());
    assert!(w.session_row(&s.token).await.is_none());
    // Gone for good, even under a laxer policy.
    assert!(!w.is_live(&s.token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_users_session_opens_nothing() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let s = w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    // Deactivated directly in the store, so no use case ended the session.
    w.set_active_directly(&id, false).await;
    assert!(w.session_row(&s.token).await.is_some());
    assert!(!w.is_live(&s.token).await);
    w.set_active_directly(&id, true).await;
    assert!(w.is_live(&s.token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_seen_is_written_at_most_once_per_touch_interval() {
    let w = World::new().await;
    let main = w.location("Main").await;
    w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let p = policy(Duration::minutes(15), Duration::hours(12), Duration::seconds(1));
    let s = w.sign_in_with(&p, "ann@example.org", PASSWORD).await.unwrap();
    let created = w.session_row(&s.token).await.unwrap().last_seen_at;

    for _ in 0..5 {
        assert!(authenticate(w.db(), &p, &s.token).await.unwrap().is_some());
    }
    assert_eq!(w.session_row(&s.token).await.unwrap().last_seen_at, created, "reading is not a write");

    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert!(authenticate(w.db(), &p, &s.token).await.unwrap().is_some());
    let touched = w.session_row(&s.token).await.unwrap().last_seen_at;
    assert!(touched - created >= Duration::seconds(1), "{created} -> {touched}");
    for _ in 0..5 {
        assert!(authenticate(w.db(), &p, &s.token).await.unwrap().is_some());
    }
    assert_eq!(w.session_row(&s.token).await.unwrap().last_seen_at, touched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_one_session() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let a = w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    let b = w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    let me = actor(a.staff.clone());
    sessions::sign_out(w.db(), &me, &tokens::hash_token(&a.token)).await.unwrap();
    assert!(!w.is_live(&a.token).await);
    assert!(w.is_live(&b.token).await);
    // Twice is harmless and audited once.
    sessions::sign_out(w.db(), &me, &tokens::hash_token(&a.token)).await.unwrap();
    let rows = w.audit(AuditAction::SignOut).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_id.as_deref(), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_ones_password_checks_both_and_ends_the_other_sessions() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let id = w.staff(StaffRole::Clinician, "ann@example.org", &[&main]).await;
    let here = w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    let elsewhere = w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    let me = actor(here.staff.clone());
    let here_hash = tokens::hash_token(&here.token);
    let new_password = "a much longer passphrase of mine";

    let change = |current: &'static str, new: &'static str| {
        let (db, hasher, me, h) = (w.db().clone(), w.hasher.clone(), me.clone(), here_hash.clone());
        async move { change_own_password(&db, &hasher, &me, &h, current, new).await }
    };
    assert_eq!(invalid_fields(change("not my password", new_password).await), ["current_password"]);
    assert_eq!(invalid_fields(change(PASSWORD, "short").await), ["new_password"]);
    assert_eq!(invalid_fields(change(PASSWORD, "password1").await), ["new_password"]);
    assert_eq!(invalid_fields(change(PASSWORD, "PASSWORD").await), ["new_password"]);
    let too_long: &'static str = Box::leak("x".repeat(129).into_boxed_str());
    assert_eq!(invalid_fields(change(PASSWORD, too_long).await), ["new_password"]);
    assert_eq!(invalid_fields(change("nope", "short").await), ["new_password", "current_password"]);
    // Nothing changed and nobody was signed out.
    assert!(w.is_live(&elsewhere.token).await);
    assert!(w.audit(AuditAction::PasswordChanged).await.is_empty());
    w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    assert_eq!(w.sessions_of(&id).await.len(), 3);

    change(PASSWORD, new_password).await.unwrap();
    assert!(w.is_live(&here.token).await, "the session that made the change stays");
    assert!(!w.is_live(&elsewhere.token).await);
    assert_eq!(w.sessions_of(&id).await.len(), 1);
    assert_bad_credentials(w.sign_in("ann@example.org", PASSWORD).await);
    w.sign_in("ann@example.org", new_password).await.unwrap();

    let rows = w.audit(AuditAction::PasswordChanged).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_id.as_deref(), Some(id.as_str()));
    assert_eq!(rows[0].target_id.as_deref(), Some(id.as_str()));
    assert_eq!(detail(&rows[0])["other_sessions_ended"], 2);
    assert!(!rows[0].detail.contains("passphrase"));

    // Only a signed-in staff user has an own password.
    let r = change_own_password(w.db(), &w.hasher, &Actor::system(), &here_hash, PASSWORD, new_password).await;
    assert_access(r, AccessError::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_only_dead_sessions() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let short = policy(Duration::seconds(1), Duration::hours(12), Duration::ZERO);
    let old = w.sign_in_with(&short, "ann@example.org", PASSWORD).await.unwrap();
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    let fresh = w.sign_in_with(&short, "ann@example.org", PASSWORD).await.unwrap();
    assert_eq!(sessions::purge_expired(w.db(), &short).await.unwrap(), 1);
    let left = w.sessions_of(&id).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].token_hash, tokens::hash_token(&fresh.token));
    assert!(w.session_row(&old.token).await.is_none());
}
