//! The events outbox: recorded with the change, claimed under a lease, retried, never lost.

mod common;

use portal_core::time_util::now_utc;
use portal_store::outbox;
use portal_store::testing::TestDb;
use portal_store::{Db, StoreError};
use time::Duration;

async fn enqueue(db: &Db, kind: &'static str, fail: bool) -> Result<String, StoreError> {
    db.write(move |tx| {
        Box::pin(async move {
            let id = outbox::enqueue(tx, kind, &serde_json::json!({ "n": 1 })).await?;
            if fail { Err(StoreError::Cancelled) } else { Ok(id) }
        })
    })
    .await
}

async fn claim(db: &Db, lease: Duration, limit: i64) -> Vec<outbox::OutboxEvent> {
    db.write(move |tx| Box::pin(async move { outbox::claim(tx, now_utc(), lease, limit).await })).await.expect("claim")
}

async fn pending(db: &Db) -> i64 {
    let mut conn = db.read().await.unwrap();
    outbox::pending_count(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_exists_only_if_its_transaction_committed() {
    let t = TestDb::new().await;
    enqueue(&t.db, "kept", false).await.unwrap();
    assert!(enqueue(&t.db, "rolled_back", true).await.is_err());
    assert_eq!(pending(&t.db).await, 1);
    let claimed = claim(&t.db, Duration::seconds(30), 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].kind, "kept");
    assert_eq!(claimed[0].attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_event_is_not_claimed_again_until_its_lease_ends() {
    let t = TestDb::new().await;
    let id = enqueue(&t.db, "e", false).await.unwrap();
    assert_eq!(claim(&t.db, Duration::seconds(30), 10).await.len(), 1);
    assert!(claim(&t.db, Duration::seconds(30), 10).await.is_empty(), "leased");
    // A worker that died mid-delivery: its lease runs out and another worker takes over.
    let expired = claim_at(&t.db, now_utc() + Duration::seconds(31)).await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, id);
    assert_eq!(expired[0].attempts, 2);
    let at = now_utc();
    t.db.write(move |tx| Box::pin(async move { outbox::mark_delivered(tx, &id, at).await })).await.unwrap();
    assert_eq!(pending(&t.db).await, 0);
    assert!(claim_at(&t.db, now_utc() + Duration::hours(1)).await.is_empty(), "delivered events stay delivered");
}

async fn claim_at(db: &Db, now: time::PrimitiveDateTime) -> Vec<outbox::OutboxEvent> {
    db.write(move |tx| Box::pin(async move { outbox::claim(tx, now, Duration::seconds(30), 10).await })).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_waits_for_its_retry_time() {
    let t = TestDb::new().await;
    let id = enqueue(&t.db, "e", false).await.unwrap();
    claim(&t.db, Duration::seconds(30), 10).await;
    let retry = now_utc() + Duration::seconds(60);
    let id2 = id.clone();
    t.db.write(move |tx| {
        Box::pin(async move { outbox::mark_failed(tx, &id2, retry, "smtp: connection refused").await })
    })
    .await
    .unwrap();
    assert!(claim(&t.db, Duration::seconds(30), 10).await.is_empty(), "not before its retry time");
    let again = claim_at(&t.db, retry).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].last_error.as_deref(), Some("smtp: connection refused"));
    assert_eq!(pending(&t.db).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_never_claim_the_same_event() {
    let t = TestDb::new().await;
    for _ in 0..60 {
        enqueue(&t.db, "e", false).await.unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        let db = t.db.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = claim(&db, Duration::seconds(60), 7).await;
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch.into_iter().map(|e| e.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(n, 60, "every event claimed");
    assert_eq!(all.len(), 60, "no event claimed twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_kept_but_never_claimed_nor_pending() {
    let t = TestDb::new().await;
    let id = enqueue(&t.db, "e", false).await.unwrap();
    claim(&t.db, Duration::seconds(30), 10).await;
    let (id2, at) = (id.clone(), now_utc());
    t.db.write(move |tx| Box::pin(async move { outbox::mark_dead(tx, &id2, at, "smtp: temporary failure 451").await }))
        .await
        .unwrap();
    assert!(claim_at(&t.db, now_utc() + Duration::days(1)).await.is_empty());
    assert_eq!(pending(&t.db).await, 0);
    let mut conn = t.db.read().await.unwrap();
    assert_eq!(outbox::dead_count(&mut conn).await.unwrap(), 1);
    let e = outbox::find(&mut conn, &id).await.unwrap();
    assert_eq!((e.dead_at, e.claimed_until, e.delivered_at), (Some(at), None, None));
    assert_eq!(e.last_error.as_deref(), Some("smtp: temporary failure 451"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_events_are_due_at_once_and_the_claim_is_not_counted() {
    let t = TestDb::new().await;
    let id = enqueue(&t.db, "e", false).await.unwrap();
    let claimed = claim(&t.db, Duration::seconds(30), 10).await;
    let until = claimed[0].claimed_until.unwrap();
    let ids = vec![id.clone()];
    t.db.write(move |tx| Box::pin(async move { outbox::release(tx, &ids, until).await })).await.unwrap();
    let again = claim(&t.db, Duration::seconds(30), 10).await;
    assert_eq!(again.len(), 1, "due again without waiting for the lease");
    assert_eq!(again[0].attempts, 1, "the released claim was not counted");
    // A stale release (the first worker's lease ended and another worker claimed the event
    // since) leaves the new claim alone.
    let ids = vec![id.clone()];
    t.db.write(move |tx| Box::pin(async move { outbox::release(tx, &ids, until).await })).await.unwrap();
    assert!(claim(&t.db, Duration::seconds(30), 10).await.is_empty(), "still leased by the second claim");
}
