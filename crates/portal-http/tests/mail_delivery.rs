//! Black-box: e-mail delivery by the real `portal serve`, to a real SMTP server the test runs,
//! survives a `kill -9` between the commit of an event and its delivery.

// The test SMTP server of portal-notify's tests, compiled here too rather than copied.
#[path = "../../portal-notify/tests/common/smtp.rs"]
mod smtp;

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::serve::{PUBLIC_URL, ServeProcess};
use portal_core::events::{DomainEvent, LinkPurpose};
use portal_core::time_util::{now_utc, rfc3339};
use portal_store::outbox::{self, OutboxEvent};
use portal_store::testing::TestDb;
use smtp::SmtpServer;

/// Retries after a second, so that a failed attempt does not hold the test up.
const QUICK_RETRIES: &[(&str, &str)] = &[("PORTAL_MAIL_RETRY_BASE_SECS", "1"), ("PORTAL_MAIL_RETRY_MAX_SECS", "1")];

async fn event(db: &portal_store::Db, id: &str) -> OutboxEvent {
    let mut conn = db.read().await.expect("connection");
    outbox::find(&mut conn, id).await.expect("event")
}

async fn wait_for(
    db: &portal_store::Db,
    id: &str,
    server: &ServeProcess,
    check: impl Fn(&OutboxEvent) -> bool,
) -> OutboxEvent {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let e = event(db, id).await;
        if check(&e) {
            return e;
        }
        assert!(Instant::now() < deadline, "event not in the expected state: {e:?}\nserver log:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_recorded_before_a_kill_9_is_delivered_after_the_restart() {
    let t = TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("portal-mail-kill-{}", portal_store::ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let smtp = SmtpServer::start().await;
    smtp.stop();

    let first = ServeProcess::start(&t.url, smtp.port(), &dir, "1", QUICK_RETRIES);
    let token = "kill9-TOKEN-00112233445566778899aabbccddeeff";
    let invitation = DomainEvent::AccountLinkIssued {
        purpose: LinkPurpose::Invitation,
        account_id: None,
        patient_id: None,
        to: "ann@example.com".into(),
        token: token.into(),
        expires_at: rfc3339(now_utc() + time::Duration::hours(24)),
        message: None,
    };
    let id =
        t.db.write(move |tx| Box::pin(async move { outbox::enqueue_event(tx, &invitation).await }))
            .await
            .expect("committed");

    // The running server tries, and fails: the SMTP server is down (an attempt that does not
    // count against the event: it waits for the relay, however long).
    let e = wait_for(&t.db, &id, &first, |e| e.last_error.is_some()).await;
    assert!(e.delivered_at.is_none() && e.dead_at.is_none());
    assert!(e.last_error.as_deref().unwrap().contains("connection"), "{:?}", e.last_error);
    first.kill_9();

    smtp.restart().await;
    let second = ServeProcess::start(&t.url, smtp.port(), &dir, "2", QUICK_RETRIES);
    let e = wait_for(&t.db, &id, &second, |e| e.delivered_at.is_some()).await;
    assert!(!e.payload.contains(token), "redacted after delivery");

    let got = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.rcpt_to, vec!["ann@example.com".to_owned()]);
    assert_eq!(m.message_id(), format!("<{id}@portal.clinic.example>"));
    assert!(m.text().contains(&format!("{PUBLIC_URL}/portal/set-password/{token}")), "{}", m.text());

    // SIGTERM: the server drains and its e-mail worker stops cleanly.
    let pid = second.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut second = second;
    loop {
        if let Some(exit) = second.child.try_wait().expect("status") {
            assert!(exit.success(), "exit {exit:?}\n{}", second.log());
            break;
        }
        assert!(Instant::now() < deadline, "portal did not stop on SIGTERM\n{}", second.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(second.log().contains("e-mail delivery stopped"), "{}", second.log());
    let _ = std::fs::remove_dir_all(dir);
}
