//! Portal sign-in, sessions and what a session reaches: grants loaded fresh on every request.

mod portal_common;

use portal_auth::PortalError;
use portal_auth::invitations::InviteTo;
use portal_auth::portal_grants;
use portal_auth::portal_sessions::{self, PortalSessionPolicy, portal_account_key};
use portal_common::*;
use portal_core::audit::AuditAction;
use portal_core::ids::PatientId;
use portal_core::portal_accounts::GrantScope;
use time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn unknown_user_wrong_password_and_unfinished_account_get_one_answer() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann").await;
    let pid = w.enabled_patient("Bob", "Ray", "bob@example.org").await;
    w.invite(&pid, InviteTo::Patient).await.unwrap(); // an account without a password yet
    for (u, p) in [("ann", "wrong password"), ("nobody", PASSWORD), ("", PASSWORD), ("a\u{0}b", PASSWORD)] {
        match w.sign_in(u, p).await {
            Err(PortalError::BadCredentials) => {}
            other => panic!("{u:?}: {other:?}"),
        }
    }
    let failed = w.audit(AuditAction::SignInFailed).await;
    assert_eq!(failed.len(), 4);
    assert!(failed.iter().all(|r| detail(r)["kind"] == "portal" && r.actor_kind == "anonymous"));
    let ok = w.sign_in("ANN", PASSWORD).await.unwrap();
    assert_eq!(ok.principal.username.as_str(), "ann");
    assert!(!ok.must_change_password);
    let row = w.audit(AuditAction::SignInSucceeded).await.pop().unwrap();
    assert_eq!(row.actor_kind, "portal");
    assert_eq!(row.actor_id.as_deref(), Some(ok.principal.account_id.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_sign_in_turns_the_status_green() {
    let w = World::new().await;
    let (pid, _) = w.registered_patient("Ann", "ann@example.org", "ann").await;
    let before = w.patient_row(&pid).await;
    assert!(before.portal_last_invited_at.is_some());
    assert!(before.portal_last_signed_in_at.is_none(), "orange");
    w.sign_in("ann", PASSWORD).await.unwrap();
    assert!(w.patient_row(&pid).await.portal_last_signed_in_at.is_some(), "green");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_sign_ins_are_throttled_per_username() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann").await;
    for _ in 0..5 {
        assert!(matches!(w.sign_in("ann", "wrong password").await, Err(PortalError::BadCredentials)));
    }
    match w.sign_in("ann", PASSWORD).await {
        Err(PortalError::Throttled { retry_after_secs }) => assert!(retry_after_secs >= 1),
        other => panic!("{other:?}"),
    }
    // Unknown usernames are counted the same way.
    for _ in 0..5 {
        let _ = w.sign_in("ghost", "wrong password").await;
    }
    assert!(matches!(w.sign_in("ghost", "wrong password").await, Err(PortalError::Throttled { .. })));
    let mut conn = w.db().read().await.unwrap();
    let n = portal_store::sessions::failures(&mut conn, &portal_account_key("GHOST")).await.unwrap();
    assert_eq!(n.map(|(n, _)| n), Some(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_opens_while_the_portal_is_off() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann").await;
    let s = w.sign_in("ann", PASSWORD).await.unwrap();
    set_use_portal(w.db(), false).await;
    assert!(w.session(&s.token).await.is_none());
    assert!(matches!(w.sign_in("ann", PASSWORD).await, Err(PortalError::PortalUnavailable)));
    set_use_portal(w.db(), true).await;
    assert!(w.session(&s.token).await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_grant_is_refused_on_the_next_request() {
    let w = World::new().await;
    let kid = w.enabled_patient("Amy", "Lee", "family@example.org").await;
    let mom = w.contact(&kid, "guardian", "Mom", Some("mom@example.org")).await;
    w.invite(&kid, InviteTo::Contact { contact_id: mom }).await.unwrap();
    let (_, token) = w.last_link_to("mom@example.org").await;
    w.accept(&token, Some("mom"), PASSWORD).await.unwrap();
    let s = w.sign_in("mom", PASSWORD).await.unwrap();
    let p = PatientId::from_trusted(kid.clone());
    let session = w.session(&s.token).await.unwrap();
    assert!(session.principal.require(&p, GrantScope::Messages).is_ok());

    let users = portal_grants::portal_users(w.db(), &w.desk, &kid).await.unwrap();
    assert_eq!(users.len(), 1);
    portal_grants::revoke_grant(w.db(), &w.desk, &kid, &users[0].grant_id).await.unwrap();

    // The session lives on, but the next request no longer reaches the patient.
    let next = w.session(&s.token).await.expect("the session itself is not ended");
    assert_eq!(next.principal.require(&p, GrantScope::Messages), Err(portal_core::AccessError::NotFound));
    assert!(next.principal.grants.is_empty());
    let revoked = w.audit(AuditAction::PortalGrantRevoked).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].patient_id.as_deref(), Some(kid.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn ended_grants_and_disabled_patients_are_out_of_reach() {
    let w = World::new().await;
    let (pid, _) = w.registered_patient("Ann", "ann@example.org", "ann").await;
    let s = w.sign_in("ann", PASSWORD).await.unwrap();
    assert_eq!(w.session(&s.token).await.unwrap().principal.grants.len(), 1);
    // Disabling access ("No Access to Portal") closes the patient to every portal user.
    set_access(w.db(), &pid, false).await;
    assert!(w.session(&s.token).await.unwrap().principal.grants.is_empty());
    set_access(w.db(), &pid, true).await;
    // An end date in the past (written behind the use case's back, as time passing would).
    let users = portal_grants::portal_users(w.db(), &w.desk, &pid).await.unwrap();
    let gid = users[0].grant_id.clone();
    let yesterday = portal_core::time_util::now_utc().date() - Duration::days(1);
    w.db()
        .write(move |tx| {
            Box::pin(async move {
                portal_store::portal_accounts::update_grant(tx, &gid, "self", "messages", Some(yesterday)).await
            })
        })
        .await
        .unwrap();
    assert!(w.session(&s.token).await.unwrap().principal.grants.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_sessions_time_out_after_their_idle_and_absolute_limits() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann").await;
    assert_eq!(PortalSessionPolicy::default().idle, Duration::minutes(30));
    assert_eq!(PortalSessionPolicy::default().absolute, Duration::hours(12));
    let s = w.sign_in("ann", PASSWORD).await.unwrap();
    let short = PortalSessionPolicy { idle: Duration::milliseconds(300), ..PortalSessionPolicy::default() };
    assert!(portal_sessions::authenticate_portal(w.db(), &short, &s.token).await.unwrap().is_some());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(portal_sessions::authenticate_portal(w.db(), &short, &s.token).await.unwrap().is_none());
    // The expired row was removed.
    assert!(w.session(&s.token).await.is_none());
    // A staff authenticate never accepts a portal token, and the reverse.
    let s2 = w.sign_in("ann", PASSWORD).await.unwrap();
    let staff_policy = portal_auth::SessionPolicy::default();
    assert!(portal_auth::sessions::authenticate(w.db(), &staff_policy, &s2.token).await.unwrap().is_none());
    let gone = PortalSessionPolicy { absolute: Duration::ZERO, ..PortalSessionPolicy::default() };
    let s3 = portal_sessions::sign_in_portal(w.db(), &w.hasher, &gone, "ann", PASSWORD, None, None).await.unwrap();
    assert!(w.session(&s3.token).await.is_none(), "past its absolute lifetime");
    assert!(w.session(&s2.token).await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_out_and_purge_remove_sessions() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann").await;
    let a = w.sign_in("ann", PASSWORD).await.unwrap();
    let b = w.sign_in("ann", PASSWORD).await.unwrap();
    let session = w.session(&a.token).await.unwrap();
    portal_sessions::sign_out_portal(w.db(), &session, None).await.unwrap();
    assert!(w.session(&a.token).await.is_none());
    assert!(w.session(&b.token).await.is_some());
    let none_idle = PortalSessionPolicy { idle: Duration::ZERO, ..PortalSessionPolicy::default() };
    assert_eq!(portal_sessions::purge_expired_portal_sessions(w.db(), &none_idle).await.unwrap(), 1);
    assert!(w.session(&b.token).await.is_none());
    assert_eq!(w.audit(AuditAction::SignOut).await.len(), 1);
}
