//! Black-box: staff notifications survive a `kill -9` in the middle of delivery (issue 6,
//! "killing one process in the middle of delivery loses nothing").
//!
//! Real `portal serve` processes deliver events that notification rules turn into toasts and
//! e-mails, to a real SMTP server the test runs. While they are sending, the SMTP server stops
//! answering for a moment, so that every process certainly has messages in flight (received by
//! the server, not yet acknowledged, so not yet recorded as delivered), and one process is
//! killed with SIGKILL: no shutdown code runs, its claims stay in the outbox until their lease
//! (60 s) runs out.
//!
//! - PostgreSQL: two processes on one database (the replicas of ARCHITECTURE.md). The survivor
//!   goes on delivering at once (`FOR UPDATE SKIP LOCKED` claims) and, once the killed
//!   process's lease has run out, delivers what it held.
//! - SQLite serves one process only: the process is killed, a new one is started on the same
//!   file, and it finishes the work, the killed claims again after their lease.
//!
//! What must hold afterwards, the guarantees docs/behaviour.md states:
//! - notifications rows: exactly once each (a unique index per person, rule and event makes a
//!   repeated delivery of a rule event write nothing and queue no e-mail);
//! - e-mails: at least once each, with duplicates only among the messages in flight at the kill
//!   (sent, but their delivery not yet recorded: at most one group of `send_concurrency`
//!   messages per killed process), each duplicate with the same Message-ID as its first copy;
//! - the outbox: nothing pending, claimed or given up.
//!
//! The test fails if leases were never reclaimed (the killed claims would stay pending) and if
//! the kill caught no message in flight (then it would not test what it means to).

#[path = "../../portal-notify/tests/common/smtp.rs"]
mod smtp;

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::serve::{PUBLIC_URL, ServeProcess};
use common::{TestApp, create_location, create_patient, create_staff};
use portal_core::events::{DomainEvent, Relation};
use portal_core::time_util::now_utc;
use portal_store::notifications::{self as store, RuleRow};
use portal_store::testing::TestDb;
use portal_store::{Backend, Db, ids, outbox};
use smtp::SmtpServer;

/// Rule events enqueued at once; each yields [`PER_EVENT`] notifications and as many e-mails.
const EVENTS: usize = 120;
/// Rule 1 names staff 0 and 1, rule 2 staff 1, 2 and 3: five notifications per event.
const PER_EVENT: usize = 5;
/// The worker's default: messages sent at once, recorded together. A kill loses at most one
/// group's records, so at most this many messages go out twice per killed process.
const SEND_CONCURRENCY: usize = 8;
/// How long the SMTP server holds its answers while the process is killed.
const HOLD: Duration = Duration::from_secs(3);

/// A diesel query run on whichever backend the connection is (portal-store's own macro is
/// private to it).
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            portal_store::DbConn::Sqlite($c) => {
                let $c = &mut **$c;
                $body
            }
            portal_store::DbConn::Pg($c) => {
                let $c = &mut **$c;
                $body
            }
        }
    };
}

fn rule(location: &str, name: &str, users: &[&String]) -> RuleRow {
    let now = now_utc();
    RuleRow {
        id: ids::new_id(),
        location_id: location.to_owned(),
        event: "registration_completed".into(),
        name: name.to_owned(),
        starts_on: now.date() - time::Duration::days(1),
        ends_on: None,
        severity: "warning".into(),
        recipient_users: users.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        recipient_care_team: false,
        recipient_roles: String::new(),
        title: "{patient_name} registered".into(),
        message: "Registration completed at {location}.".into(),
        toast: true,
        email: true,
        deleted_at: None,
        created_by_name: "Root".into(),
        created_at: now,
        updated_at: now,
    }
}

/// A location, four clinicians, three patients, two rules (toast and e-mail); returns the
/// staff e-mail addresses by id.
async fn clinic(app: &TestApp) -> (Vec<String>, BTreeMap<String, String>) {
    let location = create_location(app.db(), "Main").await;
    let mut staff = Vec::new();
    let mut emails = BTreeMap::new();
    for n in 0..4 {
        let email = format!("clinician{n}@clinic.example");
        let id = create_staff(&app.state, &format!("Clinician {n}"), &email, "clinician", &[&location]).await;
        emails.insert(id.clone(), email);
        staff.push(id);
    }
    let rules = [
        rule(&location, "Registrations (front)", &[&staff[0], &staff[1]]),
        rule(&location, "Registrations (clinic)", &[&staff[1], &staff[2], &staff[3]]),
    ];
    app.db()
        .write(move |tx| {
            Box::pin(async move {
                for r in &rules {
                    store::insert_rule(tx, r).await?;
                }
                Ok::<_, portal_store::StoreError>(())
            })
        })
        .await
        .expect("rules");
    let mut patients = Vec::new();
    for (first, last) in [("Zoe", "Quinn"), ("Yann", "Perrin"), ("Xia", "Ortiz")] {
        patients.push(create_patient(app.db(), first, last, "1990-01-01", &location).await);
    }
    (patients, emails)
}

/// Enqueues `n` registrations in one transaction, as many use cases committing at once would.
async fn enqueue_registrations(db: &Db, patients: &[String], n: usize) -> BTreeSet<String> {
    let events: Vec<DomainEvent> = (0..n)
        .map(|i| DomainEvent::PortalRegistrationCompleted {
            account_id: ids::new_id(),
            patient_id: patients[i % patients.len()].clone(),
            relation: Relation::Myself,
        })
        .collect();
    db.write(move |tx| {
        Box::pin(async move {
            let mut ids = BTreeSet::new();
            for e in &events {
                ids.insert(outbox::enqueue_event(tx, e).await?);
            }
            Ok::<_, portal_store::StoreError>(ids)
        })
    })
    .await
    .expect("events committed")
}

/// The outbox as SQL sees it: (pending, claimed now, dead).
async fn outbox_state(db: &Db) -> (i64, i64, i64) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use portal_store::schema::outbox_events as o;
    let mut conn = db.read().await.expect("connection");
    let pending = outbox::pending_count(&mut conn).await.expect("pending");
    let dead = outbox::dead_count(&mut conn).await.expect("dead");
    let now = now_utc();
    let claimed = on_conn!(&mut conn, |c| o::table
        .filter(o::delivered_at.is_null().and(o::claimed_until.gt(now)))
        .count()
        .get_result::<i64>(c)
        .await)
    .expect("claimed");
    (pending, claimed, dead)
}

/// Every notification row: (staff, rule, event) -> how many.
async fn notification_rows(db: &Db) -> BTreeMap<(String, String, String), usize> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use portal_store::schema::staff_notifications as n;
    let mut conn = db.read().await.expect("connection");
    let rows: Vec<(String, Option<String>, Option<String>)> =
        on_conn!(&mut conn, |c| n::table.select((n::staff_id, n::rule_id, n::event_id)).load(c).await)
            .expect("notifications");
    let mut out = BTreeMap::new();
    for (staff, rule, event) in rows {
        *out.entry((staff, rule.unwrap_or_default(), event.unwrap_or_default())).or_insert(0) += 1;
    }
    out
}

/// The e-mail events the rules queued: outbox id -> recipient address.
async fn staff_email_events(db: &Db) -> BTreeMap<String, String> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use portal_store::schema::outbox_events as o;
    let mut conn = db.read().await.expect("connection");
    let rows: Vec<(String, String)> = on_conn!(&mut conn, |c| o::table
        .filter(o::kind.eq("staff_notification_email"))
        .select((o::id, o::payload))
        .load(c)
        .await)
    .expect("e-mail events");
    rows.into_iter()
        .map(|(id, payload)| match serde_json::from_str(&payload).expect("payload") {
            DomainEvent::StaffNotificationEmail { to, .. } => (id, to),
            other => panic!("not a staff e-mail: {other:?}"),
        })
        .collect()
}

/// Waits until `check` holds, failing with the servers' logs after `timeout`.
async fn wait_until<F, Fut>(what: &str, timeout: Duration, logs: impl Fn() -> String, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}\n{}", logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_delivery_loses_no_notification_and_duplicates_only_what_was_in_flight() {
    let app = TestApp::new().await;
    let db = app.db().clone();
    let url = app.test_db.url.clone();
    let postgres = TestDb::backend() == Backend::Postgres;
    let dir = std::env::temp_dir().join(format!("portal-notify-kill-{}", ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (patients, emails) = clinic(&app).await;
    let smtp = SmtpServer::start().await;
    // Slow enough that the kill finds most of the work still to do.
    smtp.reply_delay(Duration::from_millis(20));

    let mut victim = ServeProcess::start(&url, smtp.port(), &dir, "victim", &[]);
    victim.delivering().await;
    // PostgreSQL: a second replica shares the work from the start. SQLite: one process.
    let mut survivor = if postgres {
        let mut s = ServeProcess::start(&url, smtp.port(), &dir, "replica", &[]);
        s.delivering().await;
        Some(s)
    } else {
        None
    };

    let events = enqueue_registrations(&db, &patients, EVENTS).await;
    let expected_mails = EVENTS * PER_EVENT;

    // Some mails through: the processes are in the middle of delivery. Then the SMTP server
    // holds its answers: the messages being sent now are received but not acknowledged.
    smtp.wait_for(expected_mails / 6, Duration::from_secs(60)).await;
    smtp.reply_delay(HOLD);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let received_at_kill = smtp.received().len();
    let victim_log = victim.kill_9();
    smtp.reply_delay(Duration::from_millis(5));
    assert!(received_at_kill < expected_mails, "the kill came after all e-mails were sent; nothing was tested");

    let logs = |extra: &str| format!("killed process:\n{victim_log}\n{extra}");
    // SQLite: a new process on the same file takes over.
    let survivor = match survivor.take() {
        Some(s) => s,
        None => {
            let mut s = ServeProcess::start(&url, smtp.port(), &dir, "restarted", &[]);
            s.delivering().await;
            s
        }
    };
    let all_logs = || logs(&survivor.log());

    // Everything is delivered in the end: the killed process's claims once their lease (60 s)
    // has run out. Never reclaimed, they would stay pending and this would time out.
    wait_until("the outbox empties", Duration::from_secs(150), all_logs, || {
        let db = db.clone();
        async move {
            let (pending, _, _) = outbox_state(&db).await;
            pending == 0
        }
    })
    .await;
    let (pending, claimed, dead) = outbox_state(&db).await;
    assert_eq!((pending, claimed, dead), (0, 0, 0), "nothing pending, claimed or given up\n{}", all_logs());

    // Notification rows: exactly once per person, rule and event, none missing.
    let rows = notification_rows(&db).await;
    assert_eq!(rows.len(), EVENTS * PER_EVENT, "one notification per person, rule and event");
    assert!(rows.values().all(|n| *n == 1), "a notification written twice: {rows:?}");
    let events_notified: BTreeSet<&String> = rows.keys().map(|(_, _, e)| e).collect();
    assert_eq!(events_notified, events.iter().collect(), "every event notified");

    // E-mails: one queued per notification; each reached the SMTP server at least once.
    let queued = staff_email_events(&db).await;
    assert_eq!(queued.len(), expected_mails, "one e-mail queued per notification (none queued twice)");
    let received = smtp.wait_for(expected_mails, Duration::from_secs(10)).await;
    let mut copies: BTreeMap<String, Vec<&smtp::Received>> = BTreeMap::new();
    for m in &received {
        copies.entry(m.message_id()).or_default().push(m);
    }
    let host = PUBLIC_URL.trim_start_matches("https://");
    for (id, to) in &queued {
        let got = copies.get(&format!("<{id}@{host}>")).unwrap_or_else(|| panic!("e-mail {id} to {to} never arrived"));
        assert!(got.iter().all(|m| m.rcpt_to == vec![to.clone()]), "e-mail {id} went to {:?}", got[0].rcpt_to);
        assert!(emails.values().any(|e| e == to), "a staff member's address");
    }
    assert_eq!(copies.len(), expected_mails, "no e-mail the rules did not queue");

    // Duplicates: only the messages in flight at the kill, re-sent once the lease ran out.
    let duplicates: Vec<&String> = copies.iter().filter(|(_, m)| m.len() > 1).map(|(id, _)| id).collect();
    assert!(copies.values().all(|m| m.len() <= 2), "an e-mail sent three times or more");
    assert!(
        !duplicates.is_empty(),
        "the kill caught no message in flight (or its claims were never re-delivered)\n{}",
        all_logs()
    );
    assert!(
        duplicates.len() <= SEND_CONCURRENCY,
        "{} duplicates, more than one group in flight ({SEND_CONCURRENCY}): {duplicates:?}",
        duplicates.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}
