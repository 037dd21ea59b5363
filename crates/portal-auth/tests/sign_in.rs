//! Staff sign-in: one answer for every bad credential, every attempt audited and counted, a
//! growing delay after 5 consecutive failures and a hard stop at 100 (NIST 800-63B 5.2.2).

mod common;

use std::time::Duration as StdDuration;

use common::{PASSWORD, World, assert_bad_credentials, detail, throttled};
use portal_auth::tokens;
use portal_core::audit::AuditAction;
use portal_core::staff::StaffRole;
use time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_creates_a_session() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;

    // The e-mail is matched whatever its case and surrounding spaces.
    let s = w.sign_in("  Ann@Example.ORG ", PASSWORD).await.unwrap();
    assert!(tokens::looks_like_token(&s.token), "256 random bits in hex");
    assert_eq!(s.staff.id.as_str(), id);
    assert_eq!(s.staff.role, StaffRole::FrontDesk);
    assert_eq!(s.staff.locations.iter().map(|l| l.to_string()).collect::<Vec<_>>(), [main]);

    let row = w.session_row(&s.token).await.expect("a session row");
    assert_ne!(row.token_hash, s.token, "only the hash is stored");
    assert_eq!(row.token_hash, tokens::hash_token(&s.token));
    assert_eq!((row.user_kind.as_str(), row.user_id.as_str()), ("staff", id.as_str()));
    assert_eq!(row.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(row.user_agent.as_deref(), Some("test-agent/1.0"));
    assert_eq!(row.last_seen_at, row.created_at);
    assert_eq!(row.absolute_expires_at - row.created_at, Duration::hours(12));
    assert_eq!(s.expires_at, row.absolute_expires_at);
    assert!(w.is_live(&s.token).await);

    // Each sign-in is a new session with a new token.
    let again = w.sign_in("ann@example.org", PASSWORD).await.unwrap();
    assert_ne!(again.token, s.token);
    assert_eq!(w.sessions_of(&id).await.len(), 2);

    let ok = w.audit(AuditAction::SignInSucceeded).await;
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].actor_id.as_deref(), Some(id.as_str()));
    assert_eq!(ok[0].actor_kind, "staff");
    assert_eq!(ok[0].ip.as_deref(), Some("127.0.0.1"));
    assert!(!ok[0].detail.contains(&s.token), "never the token");
    assert!(w.audit(AuditAction::SignInFailed).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_credential_gets_the_same_answer_and_is_audited() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let ann = w.staff(StaffRole::Clinician, "ann@example.org", &[&main]).await;
    let gone = w.staff(StaffRole::Clinician, "gone@example.org", &[&main]).await;
    w.set_active_directly(&gone, false).await;

    let attempts = [
        ("ann@example.org", "wrong password here"),
        ("ann@example.org", ""),
        ("ANN@example.org", "correct horse battery stapl"),
        ("nobody@example.org", PASSWORD),
        ("not an e-mail", PASSWORD),
        ("", ""),
        // The right password of an inactive account.
        ("gone@example.org", PASSWORD),
    ];
    for (email, password) in attempts {
        assert_bad_credentials(w.sign_in(email, password).await);
    }
    assert!(w.sessions_of(&ann).await.is_empty());
    assert!(w.sessions_of(&gone).await.is_empty());

    // Counted against what was typed, existing account or not.
    assert_eq!(w.failures("ann@example.org").await, Some(3));
    assert_eq!(w.failures("nobody@example.org").await, Some(1));
    assert_eq!(w.failures("not an e-mail").await, Some(1));
    assert_eq!(w.failures("gone@example.org").await, Some(1));

    let failed = w.audit(AuditAction::SignInFailed).await;
    assert_eq!(failed.len(), attempts.len());
    for r in &failed {
        assert_eq!(r.actor_kind, "anonymous");
        assert_eq!(r.actor_id, None);
        assert_eq!(r.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(detail(r)["kind"], "staff");
        assert!(!r.detail.contains("wrong") && !r.detail.contains("horse"), "never the password");
    }
    // For the operator's eyes only: which known account was tried.
    assert_eq!(failed[0].target_id.as_deref(), Some(ann.as_str()));
    assert_eq!(failed[3].target_id, None);
    assert_eq!(failed[6].target_id.as_deref(), Some(gone.as_str()));
    assert!(w.audit(AuditAction::SignInSucceeded).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_impose_a_growing_delay_even_on_the_right_password() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let email = "ann@example.org";

    for _ in 0..5 {
        assert_bad_credentials(w.sign_in(email, "not the password").await);
    }
    assert_eq!(w.failures(email).await, Some(5));
    // The sixth attempt waits (1 s after the fifth failure), whatever it says.
    let retry = throttled(w.sign_in(email, PASSWORD).await);
    assert!(retry >= 1, "{retry}");
    assert_eq!(throttled(w.sign_in(" ANN@example.org", "not the password").await), retry);
    assert!(w.sessions_of(&id).await.is_empty());
    assert_eq!(w.failures(email).await, Some(5), "a throttled attempt is not checked, so not counted");

    // After the delay one more attempt is let through; a failure doubles the delay.
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert_bad_credentials(w.sign_in(email, "still not it").await);
    assert_eq!(w.failures(email).await, Some(6));
    let retry = throttled(w.sign_in(email, PASSWORD).await);
    assert!((1..=2).contains(&retry), "{retry}");

    // Once the delay has passed (the last failure long ago), the right password works and
    // clears the count.
    w.record_failures(email, 1, Duration::hours(1)).await;
    assert_eq!(w.failures(email).await, Some(7));
    w.sign_in(email, PASSWORD).await.unwrap();
    assert_eq!(w.failures(email).await, None);
    assert_eq!(w.sessions_of(&id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_accounts_are_throttled_alike() {
    let w = World::new().await;
    for _ in 0..5 {
        assert_bad_credentials(w.sign_in("nobody@example.org", PASSWORD).await);
    }
    assert!(throttled(w.sign_in("nobody@example.org", PASSWORD).await) >= 1);
    // Another typed address is its own key.
    assert_bad_credentials(w.sign_in("somebody@example.org", PASSWORD).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_failures_lock_the_account() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let email = "ann@example.org";

    // 99 failures, the last long enough ago that the delay (at most 15 min) has passed.
    w.record_failures(email, 99, Duration::hours(2)).await;
    assert_bad_credentials(w.sign_in(email, "guess number 100").await);
    assert_eq!(w.failures(email).await, Some(100));
    assert_eq!(throttled(w.sign_in(email, PASSWORD).await), 3600);

    // However long ago the last failure was: only a reset reopens the account.
    w.clear_failures(email).await;
    w.record_failures(email, 100, Duration::days(30)).await;
    assert_eq!(throttled(w.sign_in(email, PASSWORD).await), 3600);
    assert!(w.sessions_of(&id).await.is_empty());
    assert!(w.audit(AuditAction::SignInSucceeded).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_clears_the_count() {
    let w = World::new().await;
    let main = w.location("Main").await;
    w.staff(StaffRole::FrontDesk, "ann@example.org", &[&main]).await;
    let email = "ann@example.org";

    for _ in 0..4 {
        assert_bad_credentials(w.sign_in(email, "nope nope nope").await);
    }
    assert_eq!(w.failures(email).await, Some(4));
    w.sign_in(email, PASSWORD).await.unwrap();
    assert_eq!(w.failures(email).await, None);

    // Five fresh failures are needed before the delay starts again.
    for _ in 0..5 {
        assert_bad_credentials(w.sign_in(email, "nope nope nope").await);
    }
    assert!(throttled(w.sign_in(email, PASSWORD).await) >= 1);
    assert_eq!(w.audit(AuditAction::SignInFailed).await.len(), 9);
    assert_eq!(w.audit(AuditAction::SignInSucceeded).await.len(), 1);
}
