//! Failures: retries with backoff under one Message-ID, dead letters, and a worker killed in the
//! middle of a batch (nothing is lost; a duplicate is recognisable by its Message-ID).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::smtp::SmtpServer;
use common::*;
use portal_core::events::LinkPurpose;
use portal_core::time_util::now_utc;
use portal_notify::{CancellationToken, Mailer, RetryPolicy, Worker};
use portal_store::outbox;
use portal_store::testing::TestDb;

const WAIT: Duration = Duration::from_secs(30);

fn std_ms(ms: i128) -> time::Duration {
    time::Duration::milliseconds(i64::try_from(ms).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_waits_uncounted_and_a_451_is_retried_with_backoff_under_one_message_id() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    smtp.stop();
    let s = settings();
    let worker = Worker::new(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), s.clone());
    let stop = CancellationToken::new();
    let id = enqueue(&t.db, link(LinkPurpose::Invitation, "ann@example.com", None, "retry-TOKEN")).await;

    // 1. The server is down: the attempt is handed back uncounted, due again at once (the
    // running worker pauses instead), with the reason kept.
    let before = now_utc();
    let r = worker.deliver_due(&stop).await.unwrap();
    assert_eq!((r.claimed, r.unreachable, r.retrying, r.dead), (1, 1, 0, 0));
    let e = event(&t.db, &id).await;
    assert_eq!((e.attempts, e.delivered_at, e.claimed_until, e.dead_at), (0, None, None, None));
    assert!(e.last_error.as_deref().unwrap().contains("connection"), "{:?}", e.last_error);
    assert!(e.available_at <= before, "not pushed back");

    // 2. The server is back but answers the DATA with 451: a counted attempt, retried later.
    smtp.restart().await;
    smtp.fail_next(1);
    let before = now_utc();
    let r = worker.deliver_due(&stop).await.unwrap();
    assert_eq!((r.retrying, r.unreachable), (1, 0));
    let e = event(&t.db, &id).await;
    assert_eq!((e.attempts, e.delivered_at), (1, None));
    assert!(e.last_error.as_deref().unwrap().contains("451"), "{:?}", e.last_error);
    assert!(e.available_at >= before, "the retry is later, not earlier");
    assert!(e.available_at <= now_utc() + std_ms(s.retry.cap(1).as_millis() as i128), "within the first cap");
    let rejected = smtp.rejected();
    assert_eq!(rejected.len(), 1);

    // 3. Another 451: the cap doubles.
    smtp.fail_next(1);
    until_due(&e).await;
    let before = now_utc();
    let r = worker.deliver_due(&stop).await.unwrap();
    assert_eq!(r.retrying, 1);
    let e = event(&t.db, &id).await;
    assert_eq!(e.attempts, 2);
    assert!(e.available_at >= before);
    assert!(e.available_at <= now_utc() + std_ms(s.retry.cap(2).as_millis() as i128), "within the doubled cap");

    // 4. Accepted: the same Message-ID as the rejected attempts.
    until_due(&e).await;
    let r = worker.deliver_due(&stop).await.unwrap();
    assert_eq!(r.delivered, 1);
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert!(smtp.rejected().iter().all(|m| m.message_id() == got[0].message_id()));
    assert_eq!(got[0].message_id(), message_id_of(&id));
    let e = event(&t.db, &id).await;
    assert_eq!(e.attempts, 3);
    assert!(e.delivered_at.is_some());
    assert!(!e.payload.contains("retry-TOKEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_relay_turns_nothing_into_a_dead_letter_however_long_it_is_down() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    smtp.stop();
    let mut s = settings();
    s.retry = RetryPolicy { max_attempts: 2, ..s.retry };
    s.batch_size = 10;
    s.send_concurrency = 2;
    let worker = Worker::new(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), s.clone());
    let stop = CancellationToken::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(enqueue(&t.db, link(LinkPurpose::Reset, &format!("p{n}@example.com"), None, "down-TOKEN")).await);
    }

    // Far more passes than the two attempts allowed: the first group of two finds the relay
    // down, the other three are handed back without being tried.
    for pass in 0..6 {
        let r = worker.deliver_due(&stop).await.unwrap();
        assert_eq!((r.claimed, r.unreachable, r.released, r.dead), (5, 2, 3, 0), "pass {pass}");
    }
    assert_eq!((pending(&t.db).await, dead(&t.db).await), (5, 0));
    for id in &ids {
        let e = event(&t.db, id).await;
        assert_eq!((e.attempts, e.claimed_until, e.dead_at), (0, None, None), "{id}");
    }

    // The relay is back: the running worker, paused, resumes and sends each once.
    let handle = portal_notify::spawn(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), s, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    smtp.restart().await;
    let got = smtp.wait_for(5, WAIT).await;
    let mut sent: Vec<String> = got.iter().map(|m| m.message_id()).collect();
    sent.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| message_id_of(id)).collect();
    expected.sort();
    assert_eq!(sent, expected);
    for id in &ids {
        let e = wait_for_event(&t.db, id, WAIT, |e| e.delivered_at.is_some()).await;
        assert!(e.attempts >= 1 && e.dead_at.is_none(), "{e:?}");
    }
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_worker_retries_until_the_server_accepts() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    smtp.fail_next(2);
    let stop = CancellationToken::new();
    let handle = portal_notify::spawn(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), settings(), stop.clone());
    let id = enqueue(&t.db, link(LinkPurpose::Reset, "ann@example.com", None, "loop-TOKEN")).await;
    let got = smtp.wait_for(1, WAIT).await;
    let e = wait_for_event(&t.db, &id, WAIT, |e| e.delivered_at.is_some()).await;
    assert_eq!(e.attempts, 3);
    let ids: Vec<String> = smtp.rejected().iter().chain(&got).map(|m| m.message_id()).collect();
    assert_eq!(ids, vec![message_id_of(&id); 3]);
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_max_attempts_an_event_is_a_dead_letter() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    smtp.fail_all(true);
    let mut s = settings();
    s.retry = RetryPolicy { max_attempts: 3, ..s.retry };
    let worker = Worker::new(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), s);
    let stop = CancellationToken::new();
    let id = enqueue(&t.db, link(LinkPurpose::Invitation, "ann@example.com", None, "dead-TOKEN")).await;

    for attempt in 1..=3 {
        let e = event(&t.db, &id).await;
        until_due(&e).await;
        let r = worker.deliver_due(&stop).await.unwrap();
        assert_eq!(r.claimed, 1, "attempt {attempt}");
        assert_eq!(r.dead, usize::from(attempt == 3), "attempt {attempt}");
    }
    let e = event(&t.db, &id).await;
    assert!(e.dead_at.is_some());
    assert_eq!((e.attempts, e.delivered_at, e.claimed_until), (3, None, None));
    assert!(e.last_error.as_deref().unwrap().contains("451"));
    assert!(!e.payload.contains("dead-TOKEN"), "a dead letter keeps no token");
    assert!(e.payload.contains("ann@example.com"), "but keeps what an operator needs");
    assert_eq!((pending(&t.db).await, dead(&t.db).await), (0, 1));
    assert_eq!(smtp.rejected().iter().filter(|m| m.message_id() == message_id_of(&id)).count(), 3);

    // Never claimed again, even long after.
    let later = now_utc() + time::Duration::days(1);
    let claimed =
        t.db.write(move |tx| Box::pin(async move { outbox::claim(tx, later, time::Duration::seconds(60), 10).await }))
            .await
            .unwrap();
    assert!(claimed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_retrying_cannot_fix_is_a_dead_letter_at_once_but_an_unknown_kind_waits() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let worker = Worker::new(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), settings());
    let bad_address = enqueue(&t.db, link(LinkPurpose::Reset, "not an address", None, "bad-TOKEN")).await;
    let (malformed, unknown) =
        t.db.write(|tx| {
            Box::pin(async move {
                let m = outbox::enqueue(tx, "account_link_issued", &serde_json::json!({"kind": "account_link_issued"}))
                    .await?;
                let u =
                    outbox::enqueue(tx, "appointment_reminder", &serde_json::json!({"kind": "appointment_reminder"}))
                        .await?;
                Ok::<_, portal_store::StoreError>((m, u))
            })
        })
        .await
        .unwrap();
    let mut expired = link(LinkPurpose::Reset, "ann@example.com", None, "expired-TOKEN");
    if let portal_core::events::DomainEvent::AccountLinkIssued { expires_at, .. } = &mut expired {
        *expires_at = portal_core::time_util::rfc3339(now_utc() - time::Duration::minutes(1));
    }
    let expired = enqueue(&t.db, expired).await;

    let r = worker.deliver_due(&CancellationToken::new()).await.unwrap();
    assert_eq!((r.claimed, r.dead, r.retrying), (4, 3, 1));
    for id in [&bad_address, &malformed, &expired] {
        let e = event(&t.db, id).await;
        assert!(e.dead_at.is_some(), "{id}: {e:?}");
        assert_eq!(e.attempts, 1);
        assert!(!e.payload.contains("TOKEN"), "{}", e.payload);
    }
    assert!(event(&t.db, &expired).await.last_error.unwrap().contains("expired"));
    let u = event(&t.db, &unknown).await;
    assert!(u.dead_at.is_none() && u.delivered_at.is_none(), "a newer replica may know it");
    assert!(smtp.received().is_empty() && smtp.rejected().is_empty(), "nothing was sent");
}

/// A worker dies (its task is aborted) while it holds a lease on a batch and one message is in
/// flight: the server has the message but the worker never heard its answer. A new worker takes
/// the events over once the lease ends. Every event is delivered at least once; the one in
/// flight arrives twice, under the same Message-ID, which is how a duplicate is recognised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_nothing() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    smtp.reply_delay(Duration::from_secs(2));
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            enqueue(&t.db, link(LinkPurpose::Invitation, &format!("p{i}@example.com"), None, &format!("crash-{i}")))
                .await,
        );
    }
    let mut first = settings();
    first.lease = Duration::from_secs(4);
    first.send_timeout = Duration::from_secs(3);
    first.send_concurrency = 2;
    let stop = CancellationToken::new();
    let doomed = portal_notify::spawn(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), first, stop.clone());
    smtp.wait_for(1, WAIT).await;
    doomed.abort();
    assert!(doomed.await.unwrap_err().is_cancelled());
    // What the server had taken when the worker died (its group of two, or the first of it).
    let in_flight: Vec<String> = smtp.received().iter().map(|m| m.message_id()).collect();
    assert!((1..=2).contains(&in_flight.len()), "{in_flight:?}");
    for id in &ids {
        let e = event(&t.db, id).await;
        assert!(e.delivered_at.is_none() && e.claimed_until.is_some(), "leased by the dead worker: {e:?}");
    }

    smtp.reply_delay(Duration::ZERO);
    let mut second = settings();
    second.lease = Duration::from_secs(2);
    second.send_timeout = Duration::from_secs(1);
    let handle = portal_notify::spawn(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), second, stop.clone());
    for id in &ids {
        wait_for_event(&t.db, id, WAIT, |e| e.delivered_at.is_some()).await;
    }
    stop.cancel();
    handle.await.unwrap();

    let mut count: HashMap<String, usize> = HashMap::new();
    for m in smtp.received() {
        *count.entry(m.message_id()).or_default() += 1;
    }
    for id in &ids {
        assert!(count.get(&message_id_of(id)).copied().unwrap_or(0) >= 1, "{id} was delivered");
    }
    assert_eq!(count.len(), 5, "one Message-ID per event");
    for m in &in_flight {
        assert_eq!(count[m], 2, "a message in flight arrived again, with the same Message-ID");
    }
    assert_eq!(count.values().sum::<usize>(), 5 + in_flight.len());
    assert_eq!(pending(&t.db).await, 0);
}
