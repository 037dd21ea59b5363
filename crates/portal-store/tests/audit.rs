//! The audit chain: appends, listing, the append-only triggers, and tamper detection by
//! `verify` when someone works around the triggers with raw SQL.

mod common;

use common::{append_audit, audit_entry, disable_audit_triggers_sql, exec};
use portal_store::audit::{self, AuditFilter, VerifyReport};
use portal_store::testing::TestDb;
use portal_store::{Db, StoreError};

async fn verify(db: &Db) -> VerifyReport {
    let mut c = db.read().await.unwrap();
    audit::verify(&mut c).await.unwrap()
}

/// A database with `n` appended rows and the append-only triggers switched off.
async fn tamperable(n: usize) -> TestDb {
    let t = TestDb::new().await;
    assert_eq!(append_audit(&t.db, n).await, (1..=n as i64).collect::<Vec<_>>());
    assert_eq!(verify(&t.db).await, VerifyReport { rows_checked: n as i64, first_broken: None });
    exec(&t.db, disable_audit_triggers_sql(t.db.backend())).await.expect("switch the triggers off");
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_chain_and_verify() {
    let t = TestDb::new().await;
    let seqs = append_audit(&t.db, 6).await;
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(verify(&t.db).await, VerifyReport { rows_checked: 6, first_broken: None });

    let mut c = t.db.read().await.unwrap();
    let rows = audit::list(&mut c, &AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [6, 5, 4, 3, 2, 1], "newest first");
    // Each row links to the one before it; the first to the zero hash.
    let mut asc = rows.clone();
    asc.reverse();
    assert_eq!(asc[0].prev_hash, "0".repeat(64));
    for w in asc.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert_ne!(w[1].hash, w[0].hash);
    }
    // What was appended is what is stored.
    let e = audit_entry(2);
    let r = &asc[2];
    assert_eq!(r.actor_kind, e.actor_kind);
    assert_eq!(r.actor_id, e.actor_id);
    assert_eq!(r.actor_name, e.actor_name);
    assert_eq!(r.action, e.action.as_str());
    assert_eq!(r.patient_id, e.patient_id);
    assert_eq!(r.target_kind.as_deref(), e.target_kind);
    assert_eq!(r.target_id, e.target_id);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r.detail).unwrap(), e.detail);
    assert_eq!(r.ip, e.ip);
    assert!(asc.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_and_pages() {
    let t = TestDb::new().await;
    append_audit(&t.db, 12).await;
    let mut c = t.db.read().await.unwrap();
    let seqs = |rows: Vec<audit::AuditRow>| rows.into_iter().map(|r| r.seq).collect::<Vec<_>>();

    // audit_entry(n) is row n + 1: patient-(n % 4), staff-(n % 3), viewed when n is even.
    let f = AuditFilter { patient_id: Some("patient-1".into()), limit: 100, ..Default::default() };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [10, 6, 2]);
    let f = AuditFilter { actor_id: Some("staff-0".into()), limit: 100, ..Default::default() };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [10, 7, 4, 1]);
    let f = AuditFilter { action: Some("patient_updated".into()), limit: 100, ..Default::default() };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [12, 10, 8, 6, 4, 2]);
    let f = AuditFilter {
        action: Some("patient_updated".into()),
        actor_id: Some("staff-0".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [10, 4]);

    // Keyset pages.
    let f = AuditFilter { limit: 5, ..Default::default() };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [12, 11, 10, 9, 8]);
    let f = AuditFilter { limit: 5, before_seq: Some(8), ..Default::default() };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [7, 6, 5, 4, 3]);
    let f = AuditFilter { limit: 5, before_seq: Some(3), ..Default::default() };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [2, 1]);
    // A zero limit still returns a row.
    let f = AuditFilter { limit: 0, ..Default::default() };
    assert_eq!(seqs(audit::list(&mut c, &f).await.unwrap()), [12]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_appends_leave_no_gap() {
    let t = TestDb::new().await;
    append_audit(&t.db, 2).await;
    let r: Result<(), StoreError> =
        t.db.write(|tx| {
            Box::pin(async move {
                audit::append(tx, &audit_entry(99)).await?;
                Err(StoreError::Conflict { what: "something".into() })
            })
        })
        .await;
    assert!(r.is_err());
    let mut c = t.db.read().await.unwrap();
    assert_eq!(audit::pending_count(&mut c).await.unwrap(), 0, "nothing waits to be chained");
    drop(c);
    // The head was rolled back with the row: the next append takes 3 again.
    assert_eq!(append_audit(&t.db, 1).await, [3]);
    let mut c = t.db.read().await.unwrap();
    let rows = audit::list(&mut c, &AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(audit::verify(&mut c).await.unwrap(), VerifyReport { rows_checked: 3, first_broken: None });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_refuse_update_and_delete() {
    let t = TestDb::new().await;
    append_audit(&t.db, 3).await;
    for sql in [
        "UPDATE audit_log SET detail = '{}' WHERE seq = 2",
        "UPDATE audit_log SET actor_name = 'someone else'",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
    ] {
        let err = exec(&t.db, sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(common::count_rows(&t.db, "audit_log", "").await, 3);
    assert_eq!(verify(&t.db).await, VerifyReport { rows_checked: 3, first_broken: None });
    // Inside a write transaction too (the transaction is then rolled back as a whole).
    let r =
        t.db.write(|tx| {
            Box::pin(async move {
                audit::append(tx, &audit_entry(7)).await?;
                match tx {
                    portal_store::DbConn::Sqlite(c) => {
                        diesel_async::SimpleAsyncConnection::batch_execute(
                            &mut **c,
                            "DELETE FROM audit_log WHERE seq = 1",
                        )
                        .await
                    }
                    portal_store::DbConn::Pg(c) => {
                        diesel_async::SimpleAsyncConnection::batch_execute(
                            &mut **c,
                            "DELETE FROM audit_log WHERE seq = 1",
                        )
                        .await
                    }
                }
                .map_err(StoreError::from)
            })
        })
        .await;
    assert!(r.is_err());
    assert_eq!(verify(&t.db).await, VerifyReport { rows_checked: 3, first_broken: None });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_row_is_named() {
    let t = tamperable(6).await;
    exec(&t.db, r#"UPDATE audit_log SET detail = '{"n":99}' WHERE seq = 4"#).await.unwrap();
    let r = verify(&t.db).await;
    assert_eq!(r.rows_checked, 3);
    let (seq, why) = r.first_broken.expect("the edit is detected");
    assert_eq!(seq, 4);
    assert!(why.contains("edited"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_of_any_field_are_detected() {
    for (column, value) in [
        ("actor_name", "'Someone Else'"),
        ("actor_id", "NULL"),
        ("action", "'patient_viewed'"),
        ("patient_id", "'patient-other'"),
        ("ip", "'10.9.9.9'"),
        ("at", "'2001-01-01 00:00:00'"),
    ] {
        let t = tamperable(4).await;
        // Row 2 is audit_entry(1): its action is patient_updated, so every value above differs.
        exec(&t.db, &format!("UPDATE audit_log SET {column} = {value} WHERE seq = 2")).await.unwrap();
        let r = verify(&t.db).await;
        assert_eq!(r.first_broken.as_ref().map(|b| b.0), Some(2), "{column}: {r:?}");
        assert_eq!(r.rows_checked, 1, "{column}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_hash_breaks_the_next_link() {
    // Replacing a row's hash to match an edit shows at the next row, whose link no longer fits.
    let t = tamperable(5).await;
    exec(&t.db, "UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 1) WHERE seq = 3").await.unwrap();
    let r = verify(&t.db).await;
    let (seq, _) = r.first_broken.expect("detected");
    assert_eq!(seq, 3, "its own hash no longer matches its content");

    let t = tamperable(5).await;
    exec(&t.db, "UPDATE audit_log SET prev_hash = (SELECT prev_hash FROM audit_log WHERE seq = 2) WHERE seq = 4")
        .await
        .unwrap();
    let r = verify(&t.db).await;
    let (seq, why) = r.first_broken.expect("detected");
    assert_eq!(seq, 4);
    assert!(why.contains("link"), "{why}");
    assert_eq!(r.rows_checked, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_middle_row_is_named() {
    let t = tamperable(6).await;
    exec(&t.db, "DELETE FROM audit_log WHERE seq = 3").await.unwrap();
    let r = verify(&t.db).await;
    assert_eq!(r.rows_checked, 2);
    let (seq, why) = r.first_broken.expect("the deletion is detected");
    assert_eq!(seq, 3);
    assert!(why.contains("missing"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_first_row_is_named() {
    let t = tamperable(3).await;
    exec(&t.db, "DELETE FROM audit_log WHERE seq = 1").await.unwrap();
    let r = verify(&t.db).await;
    assert_eq!(r.rows_checked, 0);
    assert_eq!(r.first_broken.map(|b| b.0), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_last_rows_are_detected() {
    let t = tamperable(6).await;
    exec(&t.db, "DELETE FROM audit_log WHERE seq = 6").await.unwrap();
    let r = verify(&t.db).await;
    assert_eq!(r.rows_checked, 5);
    let (seq, why) = r.first_broken.expect("the truncation is detected");
    assert_eq!(seq, 6);
    assert!(why.contains("removed"), "{why}");

    // Every row gone.
    exec(&t.db, "DELETE FROM audit_log").await.unwrap();
    let r = verify(&t.db).await;
    assert_eq!(r.rows_checked, 0);
    assert_eq!(r.first_broken.map(|b| b.0), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_break_is_reported_when_there_are_several() {
    let t = tamperable(8).await;
    exec(&t.db, r#"UPDATE audit_log SET detail = '{}' WHERE seq = 6; DELETE FROM audit_log WHERE seq = 3;"#)
        .await
        .unwrap();
    assert_eq!(verify(&t.db).await.first_broken.map(|b| b.0), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_walks_more_than_one_batch() {
    // verify reads 2000 rows at a time; a chain longer than that must verify whole, and a break
    // past the first batch must still be found.
    let t = TestDb::new().await;
    t.db.write(|tx| {
        Box::pin(async move {
            for n in 0..2105 {
                audit::append(tx, &audit_entry(n)).await?;
            }
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(verify(&t.db).await, VerifyReport { rows_checked: 2105, first_broken: None });
    exec(&t.db, disable_audit_triggers_sql(t.db.backend())).await.unwrap();
    exec(&t.db, "DELETE FROM audit_log WHERE seq = 2050").await.unwrap();
    let r = verify(&t.db).await;
    assert_eq!(r.first_broken.map(|b| b.0), Some(2050));
    assert_eq!(r.rows_checked, 2049);
}

/// Many rows in one call chain exactly like single appends, and a later append continues the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_many_chains_in_order() {
    let t = TestDb::new().await;
    append_audit(&t.db, 2).await;
    let entries: Vec<_> = (0..2500).map(audit_entry).collect();
    t.db.write(move |tx| Box::pin(async move { audit::append_many(tx, &entries).await })).await.unwrap();
    // More rows than one statement may carry (2,000 a statement), in one transaction, all in the
    // chain when `write` returned (seq 3 to 2502), and more than one drain statement takes on
    // PostgreSQL (5,000) after the next 2,500.
    let mut c = t.db.read().await.unwrap();
    assert_eq!(audit::pending_count(&mut c).await.unwrap(), 0);
    assert_eq!(audit::verify(&mut c).await.unwrap(), VerifyReport { rows_checked: 2502, first_broken: None });
    drop(c);
    let entries: Vec<_> = (0..2500).map(audit_entry).collect();
    t.db.write(move |tx| Box::pin(async move { audit::append_many(tx, &entries).await })).await.unwrap();
    assert_eq!(append_audit(&t.db, 1).await, [5003]);
    assert_eq!(verify(&t.db).await, VerifyReport { rows_checked: 5003, first_broken: None });
    let mut c = t.db.read().await.unwrap();
    let rows = audit::list(&mut c, &AuditFilter { limit: 3, ..Default::default() }).await.unwrap();
    let detail = serde_json::from_str::<serde_json::Value>(&rows[1].detail).unwrap();
    assert_eq!(detail, audit_entry(2499).detail, "rows keep their order");
}

/// Audited reads made at once are committed in groups, each reader answered only after its row is
/// on record, and the chain stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audited_reads_are_group_committed() {
    let t = TestDb::new().await;
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let db = t.db.clone();
            tokio::spawn(async move {
                db.audit_read(audit_entry(i)).await.unwrap();
                // Once answered, the row is readable by anyone.
                let mut c = db.read().await.unwrap();
                let rows = audit::list(&mut c, &AuditFilter { limit: 1000, ..Default::default() }).await.unwrap();
                let mine = rows.iter().any(|r| {
                    serde_json::from_str::<serde_json::Value>(&r.detail).is_ok_and(|d| d == audit_entry(i).detail)
                });
                assert!(mine, "row {i} not committed when its reader was answered");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(verify(&t.db).await, VerifyReport { rows_checked: 300, first_broken: None });
}

/// Rows a crash left in `audit_pending` (committed with their change, not yet chained) are
/// chained oldest first, keeping their times, by `chain_pending` (which every `portal` command
/// runs when it opens the database) and on PostgreSQL by the next write, before its own row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_left_pending_are_chained_in_order() {
    let t = TestDb::new().await;
    append_audit(&t.db, 1).await;
    let leave = |n: u32| {
        format!(
            "INSERT INTO audit_pending (at, actor_kind, actor_name, action, detail) \
             VALUES ('2026-01-01 00:00:0{n}', 'system', 'System', 'patients.imported', '{{\"left\":{n}}}')"
        )
    };
    exec(&t.db, &leave(1)).await.unwrap();
    exec(&t.db, &leave(2)).await.unwrap();
    let mut c = t.db.read().await.unwrap();
    assert_eq!(audit::pending_count(&mut c).await.unwrap(), 2);
    assert_eq!(audit::verify(&mut c).await.unwrap(), VerifyReport { rows_checked: 1, first_broken: None });
    drop(c);

    t.db.chain_pending().await.unwrap();
    let mut c = t.db.read().await.unwrap();
    assert_eq!(audit::pending_count(&mut c).await.unwrap(), 0);
    let rows = audit::list(&mut c, &AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    let details: Vec<&str> = rows.iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(details[..2], [r#"{"left":2}"#, r#"{"left":1}"#], "newest first: 3, 2");
    assert_eq!(portal_core::time_util::rfc3339(rows[1].at), "2026-01-01T00:00:01Z", "a row keeps its own time");
    assert_eq!(audit::verify(&mut c).await.unwrap(), VerifyReport { rows_checked: 3, first_broken: None });
    drop(c);

    exec(&t.db, &leave(3)).await.unwrap();
    let seqs = append_audit(&t.db, 1).await;
    let mut c = t.db.read().await.unwrap();
    // The write's own row waited in `audit_pending` too: both chained, the older first.
    assert_eq!(seqs, [5]);
    assert_eq!(audit::pending_count(&mut c).await.unwrap(), 0);
    assert_eq!(audit::verify(&mut c).await.unwrap(), VerifyReport { rows_checked: 5, first_broken: None });
    let rows = audit::list(&mut c, &AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(rows[1].detail, r#"{"left":3}"#);
    assert_eq!(rows.len(), 5, "no pending row chained twice");
}

#[derive(diesel::QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    data_version: i64,
}

/// `PRAGMA <schema>.data_version` on one connection: it changes when another connection has
/// committed to that file since (and SQLite then empties this connection's cache of it).
async fn data_version(c: &mut portal_store::DbConn, schema: &str) -> i64 {
    use diesel_async::RunQueryDsl;
    let portal_store::DbConn::Sqlite(c) = c else { unreachable!("SQLite only") };
    diesel::sql_query(format!("PRAGMA {schema}.data_version"))
        .get_result::<DataVersion>(&mut **c)
        .await
        .unwrap()
        .data_version
}

/// On SQLite the chain lives in a file of its own: an audited read commits there only, so the
/// readers of the records keep their page caches (a commit to the records' file empties them
/// all). A write commits its change and its pending row to the records' file and has the row
/// chained in the audit file; rows already chained are removed by the next write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_rows_commit_to_the_audit_file() {
    let t = TestDb::new().await;
    if t.db.backend() != portal_store::Backend::Sqlite {
        return;
    }
    let mut c = t.db.read().await.unwrap();
    let (records, chain) = (data_version(&mut c, "main").await, data_version(&mut c, "audit").await);
    t.db.audit_read(audit_entry(1)).await.unwrap();
    assert_eq!(data_version(&mut c, "main").await, records, "an audited read left the records' file alone");
    assert_ne!(data_version(&mut c, "audit").await, chain, "its row went to the audit file");

    assert_eq!(append_audit(&t.db, 2).await, [2, 3]);
    assert_eq!(common::count_rows(&t.db, "main.audit_pending", "").await, 1, "the first write's row was removed");
    assert_eq!(audit::pending_count(&mut c).await.unwrap(), 0, "the second's is chained, not pending");
    assert_eq!(audit::verify(&mut c).await.unwrap(), VerifyReport { rows_checked: 3, first_broken: None });
}

/// A SQLite database whose audit file was not kept with it does not start: the records would
/// otherwise go on with an empty, new chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_a_database_without_its_audit_file() {
    let t = TestDb::new().await;
    if t.db.backend() != portal_store::Backend::Sqlite {
        return;
    }
    append_audit(&t.db, 1).await;
    let path = std::path::PathBuf::from(t.url.strip_prefix("sqlite://").unwrap());
    let audit_file = portal_store::sqlite_audit_file(&path);
    assert_eq!(audit_file.file_name().unwrap(), "portal-audit.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", audit_file.display()));
    }
    // Refused before anything opens it: no empty audit file is left in the log's place.
    let Err(e) = Db::connect(&t.url, &portal_store::PoolOptions::default()).await else {
        panic!("a database without its audit file was opened")
    };
    let e = e.to_string();
    assert!(e.contains("audit log is missing") && e.contains("portal-audit.db"), "{e}");
    assert!(!audit_file.exists(), "an empty audit file was created in the log's place");
    // An audit file that is there but is not the log (empty) is refused by `migrate`.
    std::fs::write(&audit_file, b"").unwrap();
    let db = Db::connect(&t.url, &portal_store::PoolOptions::default()).await.unwrap();
    let e = db.migrate().await.unwrap_err().to_string();
    assert!(e.contains("audit log is missing") && e.contains("portal-audit.db"), "{e}");
}
