//! Many writers at once: SQLite's `BEGIN IMMEDIATE` writer queue and PostgreSQL's row locks
//! must make every read-then-write transaction succeed, without lost updates or broken chains.

mod common;

use std::collections::BTreeSet;

use common::{PatientBuilder, audit_entry, insert_location};
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use portal_store::audit::{self, VerifyReport};
use portal_store::patients::{self, PatientQuery, PatientSearch};
use portal_store::testing::TestDb;
use portal_store::{DbConn, StoreError, ids};

const WRITERS: usize = 8;
const PER_WRITER: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_get_distinct_contiguous_record_numbers() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (db, loc) = (t.db.clone(), loc.clone());
        writers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..PER_WRITER {
                let fields = PatientBuilder::new(&format!("W{w}"), &format!("Patient{i:02}"), &loc).fields;
                let r = db
                    .write(move |tx| {
                        Box::pin(async move {
                            // Read, then write: the shape of a registration use case.
                            let before = patients::count(tx).await?;
                            let rn = patients::next_record_number(tx).await?;
                            if patients::record_number_exists(tx, &rn).await? {
                                return Err(StoreError::Conflict { what: rn });
                            }
                            let id = ids::new_id();
                            patients::insert(tx, &id, &rn, &fields).await?;
                            let mut e = audit_entry(i);
                            e.patient_id = Some(id);
                            audit::append(tx, &e).await?;
                            Ok::<_, StoreError>((rn, before))
                        })
                    })
                    .await;
                out.push(r.map_err(|e| e.to_string()));
            }
            out
        }));
    }
    // Readers run beside the writers and must never fail either.
    let mut readers = Vec::new();
    for _ in 0..2 {
        let db = t.db.clone();
        readers.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            for _ in 0..40 {
                let mut c = db.read().await.unwrap();
                let s = PatientSearch {
                    query: PatientQuery::Name(vec!["patient1".into()]),
                    locations: None,
                    location: None,
                    status: None,
                    offset: 0,
                    limit: 20,
                };
                if let Err(e) = patients::search(&mut c, &s).await {
                    errors.push(e.to_string());
                }
                tokio::task::yield_now().await;
            }
            errors
        }));
    }

    let mut numbers = Vec::new();
    let mut errors = Vec::new();
    for h in writers {
        for r in h.await.unwrap() {
            match r {
                Ok((rn, _)) => numbers.push(rn),
                Err(e) => errors.push(e),
            }
        }
    }
    for h in readers {
        errors.extend(h.await.unwrap());
    }
    assert!(errors.is_empty(), "{} failures, e.g. {:?}", errors.len(), errors.first());
    assert_eq!(numbers.len(), WRITERS * PER_WRITER);
    let distinct: BTreeSet<String> = numbers.iter().cloned().collect();
    assert_eq!(distinct.len(), numbers.len(), "record numbers are distinct");
    let want: BTreeSet<String> = (1001..1001 + (WRITERS * PER_WRITER) as i64).map(|v| format!("P-{v:06}")).collect();
    assert_eq!(distinct, want, "record numbers are contiguous from P-001001");

    let mut c = t.db.read().await.unwrap();
    assert_eq!(patients::count(&mut c).await.unwrap(), (WRITERS * PER_WRITER) as i64);
    assert_eq!(
        audit::verify(&mut c).await.unwrap(),
        VerifyReport { rows_checked: (WRITERS * PER_WRITER) as i64, first_broken: None }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audit_appends_keep_one_chain() {
    let t = TestDb::new().await;
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let db = t.db.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..PER_WRITER {
                let e = audit_entry(w * PER_WRITER + i);
                out.push(
                    db.write(move |tx| Box::pin(async move { audit::append(tx, &e).await }))
                        .await
                        .map_err(|e| e.to_string()),
                );
            }
            out
        }));
    }
    let mut errors = Vec::new();
    for h in handles {
        errors.extend(h.await.unwrap().into_iter().filter_map(Result::err));
    }
    assert!(errors.is_empty(), "{} failures, e.g. {:?}", errors.len(), errors.first());
    let n = (WRITERS * PER_WRITER) as i64;
    let mut c = t.db.read().await.unwrap();
    // Every write's row is in the chain (none left pending), each entry exactly once.
    assert_eq!(audit::pending_count(&mut c).await.unwrap(), 0);
    let rows = audit::list(&mut c, &audit::AuditFilter { limit: 1000, ..Default::default() }).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<BTreeSet<_>>(), (1..=n).collect::<BTreeSet<_>>());
    let entries: BTreeSet<String> = rows.iter().map(|r| r.detail.clone()).collect();
    assert_eq!(entries.len() as i64, n, "no entry chained twice");
    assert_eq!(audit::verify(&mut c).await.unwrap(), VerifyReport { rows_checked: n, first_broken: None });
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// A plain read-then-write increment in one write transaction: on SQLite `BEGIN IMMEDIATE`
/// serialises it; on PostgreSQL the read takes the row lock (`FOR UPDATE`), the remedy for lost
/// updates at the default isolation level.
async fn increment(tx: &mut DbConn) -> Result<i64, StoreError> {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    let read = "SELECT value FROM counters WHERE name = 'test_counter'";
    let v: Value = match tx {
        DbConn::Sqlite(c) => diesel::sql_query(read).get_result(&mut **c).await?,
        DbConn::Pg(c) => diesel::sql_query(format!("{read} FOR UPDATE")).get_result(&mut **c).await?,
    };
    // Give the other writers a chance to interleave, were they able to.
    tokio::task::yield_now().await;
    let next = v.value + 1;
    let write = format!("UPDATE counters SET value = {next} WHERE name = 'test_counter'");
    match tx {
        DbConn::Sqlite(c) => c.batch_execute(&write).await?,
        DbConn::Pg(c) => c.batch_execute(&write).await?,
    }
    Ok(next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_then_write_increments_lose_no_update() {
    let t = TestDb::new().await;
    common::exec(&t.db, "INSERT INTO counters (name, value) VALUES ('test_counter', 0)").await.unwrap();
    let mut handles = Vec::new();
    for _ in 0..WRITERS {
        let db = t.db.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..PER_WRITER {
                out.push(db.write(|tx| Box::pin(increment(tx))).await.map_err(|e| e.to_string()));
            }
            out
        }));
    }
    let mut values = BTreeSet::new();
    let mut errors = Vec::new();
    for h in handles {
        for r in h.await.unwrap() {
            match r {
                Ok(v) => assert!(values.insert(v), "value {v} seen twice: a lost update"),
                Err(e) => errors.push(e),
            }
        }
    }
    assert!(errors.is_empty(), "{} failures, e.g. {:?}", errors.len(), errors.first());
    let n = (WRITERS * PER_WRITER) as i64;
    assert_eq!(values, (1..=n).collect::<BTreeSet<_>>());
    assert_eq!(common::count_rows(&t.db, "counters", &format!("name = 'test_counter' AND value = {n}")).await, 1);
}
