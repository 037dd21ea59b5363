//! The facade, migrations, the organisation row, write transactions, staff, sessions and times,
//! against a real database of the backend named by `PORTAL_TEST_BACKEND`.

mod common;

use std::time::Duration;

use common::{count_rows, insert_location, insert_staff, location_fields, try_insert_staff};
use portal_core::staff::PortalPermissions;
use portal_core::time_util::{now_utc, truncate_micros};
use portal_store::org::{self, CompanyUpdate, SettingChange};
use portal_store::sessions::{self, SessionRow};
use portal_store::staff::{self, StaffProfile};
use portal_store::testing::TestDb;
use portal_store::{StoreError, audit, ids, patients};
use time::macros::datetime;
use time::{OffsetDateTime, PrimitiveDateTime};

// ---------------------------------------------------------------- migrations and organisation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_give_an_empty_seeded_database() {
    let t = TestDb::new().await;
    assert_eq!(t.db.backend(), TestDb::backend());
    assert!(t.db.ping().await);

    // Applying them again finds nothing pending and changes nothing.
    t.db.migrate().await.expect("second migrate is a no-op");

    let mut c = t.db.read().await.unwrap();
    assert_eq!(patients::count(&mut c).await.unwrap(), 0);
    assert_eq!(staff::count(&mut c).await.unwrap(), 0);
    assert_eq!(org::count_locations(&mut c).await.unwrap(), 0);
    assert_eq!(count_rows(&t.db, "organization", "").await, 1, "the organisation's placeholder row is seeded");
    assert_eq!(count_rows(&t.db, "audit_head", "").await, 1, "the chain's head row is seeded");
    let report = audit::verify(&mut c).await.unwrap();
    assert_eq!(report.rows_checked, 0);
    assert_eq!(report.first_broken, None);
    drop(c);

    // The record-number counter is seeded at 1000.
    let rn = t.db.write(|tx| Box::pin(async move { patients::next_record_number(tx).await })).await.unwrap();
    assert_eq!(rn, "P-001001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_placeholder_is_created_once() {
    let t = TestDb::new().await;
    let mut c = t.db.read().await.unwrap();
    let first = org::organization(&mut c).await.unwrap();
    assert_eq!(first.name, "My Clinic");
    assert!(!first.use_portal);
    assert!(!first.brand_by_location);
    assert_eq!(first.phone, None);

    let again = org::organization(&mut c).await.unwrap();
    assert_eq!(again.updated_at, first.updated_at, "the second read must not recreate the row");
    assert_eq!(count_rows(&t.db, "organization", "").await, 1);
    drop(c);

    // Edits stick: a later read returns them rather than a fresh placeholder.
    t.db.write(|tx| {
        Box::pin(async move {
            org::update_company(
                tx,
                &CompanyUpdate { name: "Acme Family Care", phone: Some("555-0100"), brand_by_location: true },
            )
            .await?;
            org::set_use_portal(tx, true).await
        })
    })
    .await
    .unwrap();
    let mut c = t.db.read().await.unwrap();
    let o = org::organization(&mut c).await.unwrap();
    assert_eq!(o.name, "Acme Family Care");
    assert_eq!(o.phone.as_deref(), Some("555-0100"));
    assert!(o.brand_by_location);
    assert!(o.use_portal);
    assert_eq!(count_rows(&t.db, "organization", "").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_reads_of_the_organization_agree() {
    let t = TestDb::new().await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        let db = t.db.clone();
        handles.push(tokio::spawn(async move {
            let mut c = db.read().await.unwrap();
            org::organization(&mut c).await.unwrap().name
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), "My Clinic");
    }
    assert_eq!(count_rows(&t.db, "organization", "").await, 1);
}

/// SQLite's readers run on the async workers and must never wait for the write lock there: they
/// refuse to write, and single-statement writes take `write_conn` (the writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_readers_refuse_writes_and_write_conn_writes() {
    let t = TestDb::new().await;
    let insert = "INSERT INTO counters (name, value) VALUES ('reader_probe', 1)";
    let refused = common::batch(&mut t.db.read().await.unwrap(), insert).await;
    match t.db.backend() {
        portal_store::Backend::Sqlite => {
            let e = refused.expect_err("a SQLite reader must not write");
            assert!(e.to_string().contains("readonly"), "{e}");
            assert_eq!(count_rows(&t.db, "counters", "name = 'reader_probe'").await, 0);
        }
        // PostgreSQL's pool is one: any connection may write.
        portal_store::Backend::Postgres => refused.expect("PostgreSQL's connections write"),
    }
    let update = "UPDATE counters SET value = 2 WHERE name = 'reader_probe'; \
                  INSERT INTO counters (name, value) SELECT 'writer_probe', 1 WHERE NOT EXISTS \
                  (SELECT 1 FROM counters WHERE name = 'writer_probe')";
    common::exec(&t.db, update).await.expect("the writer writes");
    assert_eq!(count_rows(&t.db, "counters", "name = 'writer_probe'").await, 1);
    // The writer went back to the pool outside a transaction.
    a_write_transaction_commits(&t.db).await;
}

/// The page header's unread count (polled by every page) reads only the caller's unread rows,
/// through the partial index `conversation_participants_unread`. SQLite plans without the
/// bound values (it is built with `SQLITE_ENABLE_QPSG`), so this fails when the condition
/// `unread_count > 0` is bound instead of written into the statement. PostgreSQL chooses by its
/// statistics, which an empty test database does not have; its count is covered by the
/// messaging tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_counts_unread_messages_through_the_partial_index() {
    #[derive(diesel::QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let t = TestDb::new().await;
    let mut conn = t.db.read().await.unwrap();
    let portal_store::DbConn::Sqlite(c) = &mut conn else { return };
    let who = portal_store::messaging::Party { kind: "staff", id: "someone".into() };
    let sql = portal_store::messaging::unread_total_sqlite_sql(&who);
    let sql = sql.split(" -- binds:").next().unwrap();
    let plan: Vec<PlanRow> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .bind::<diesel::sql_types::Text, _>(who.kind)
            .bind::<diesel::sql_types::Text, _>(&who.id),
        &mut **c,
    )
    .await
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|r| r.detail).collect();
    assert!(plan.iter().any(|d| d.contains("USING INDEX conversation_participants_unread")), "{sql}\n{plan:?}");
}

/// A write transaction runs on the writer and its change is read back.
async fn a_write_transaction_commits(db: &portal_store::Db) {
    db.write(|tx| Box::pin(async move { org::set_use_portal(tx, true).await })).await.unwrap();
    let mut c = db.read().await.unwrap();
    assert!(org::organization(&mut c).await.unwrap().use_portal);
}

/// A request that goes away while its single-statement write runs (the statement on SQLite's
/// blocking pool) must leave a writer the pool can take back and hand out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_conn_statement_dropped_mid_flight_leaves_a_usable_writer() {
    let t = TestDb::new().await;
    let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
                SELECT COUNT(*) FROM c";
    let mut writer = t.db.write_conn().await.unwrap();
    let run = common::batch(&mut writer, slow);
    assert!(tokio::time::timeout(Duration::from_millis(20), run).await.is_err(), "the statement outlives 20 ms");
    drop(writer);
    a_write_transaction_commits(&t.db).await;
}

// ---------------------------------------------------------------- write transactions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_commits_on_ok() {
    let t = TestDb::new().await;
    let id = ids::new_id();
    let id2 = id.clone();
    let got =
        t.db.write(move |tx| {
            Box::pin(async move {
                org::insert_location(tx, &id2, &location_fields("North")).await?;
                // Visible inside the transaction too.
                Ok::<_, StoreError>(org::find_location(tx, &id2).await?.name)
            })
        })
        .await
        .unwrap();
    assert_eq!(got, "North");
    let mut c = t.db.read().await.unwrap();
    assert_eq!(org::find_location(&mut c, &id).await.unwrap().name, "North");
}

#[derive(Debug)]
#[allow(dead_code)] // the store error is read through `Debug`
enum UseCaseError {
    Refused,
    Store(StoreError),
}

impl From<StoreError> for UseCaseError {
    fn from(e: StoreError) -> Self {
        UseCaseError::Store(e)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_rolls_back_on_err() {
    let t = TestDb::new().await;
    let id = ids::new_id();
    let id2 = id.clone();
    let r: Result<(), UseCaseError> =
        t.db.write(move |tx| {
            Box::pin(async move {
                org::insert_location(tx, &id2, &location_fields("Doomed")).await?;
                audit::append(tx, &common::audit_entry(0)).await?;
                Err(UseCaseError::Refused)
            })
        })
        .await;
    assert!(matches!(r, Err(UseCaseError::Refused)), "{r:?}");
    let mut c = t.db.read().await.unwrap();
    assert!(matches!(org::find_location(&mut c, &id).await, Err(StoreError::NotFound)));
    assert_eq!(org::count_locations(&mut c).await.unwrap(), 0);
    // The audit append was rolled back with it: the head did not move.
    assert_eq!(count_rows(&t.db, "audit_log", "").await, 0);
    assert_eq!(audit::verify(&mut c).await.unwrap(), audit::VerifyReport { rows_checked: 0, first_broken: None });
    drop(c);
    // The writer went back to the pool outside a transaction.
    insert_location(&t.db, "Next").await;
    common::append_audit(&t.db, 1).await;
    let mut c = t.db.read().await.unwrap();
    assert_eq!(org::count_locations(&mut c).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_an_error_and_leaves_no_open_transaction() {
    // A foreign key checked at COMMIT makes the commit itself fail. SQLite then keeps the
    // transaction open (https://sqlite.org/foreignkeys.html#fk_deferred); the writer must not go
    // back to the pool that way.
    let t = TestDb::new().await;
    if t.db.backend() == portal_store::Backend::Postgres {
        common::exec(
            &t.db,
            "ALTER TABLE patients ALTER CONSTRAINT patients_location_id_fkey DEFERRABLE INITIALLY DEFERRED",
        )
        .await
        .unwrap();
    }
    let fields = common::PatientBuilder::new("Orphan", "Patient", "no-such-location").fields;
    let r =
        t.db.write(move |tx| {
            Box::pin(async move {
                use diesel_async::SimpleAsyncConnection;
                match tx {
                    portal_store::DbConn::Sqlite(c) => c.batch_execute("PRAGMA defer_foreign_keys = ON").await?,
                    portal_store::DbConn::Pg(_) => {}
                }
                patients::insert(tx, &ids::new_id(), "P-000001", &fields).await
            })
        })
        .await;
    assert!(r.is_err(), "the commit failed, so the write failed: {r:?}");
    let mut c = t.db.read().await.unwrap();
    assert_eq!(patients::count(&mut c).await.unwrap(), 0);
    drop(c);
    // The next writes begin cleanly and commit.
    for i in 0..3 {
        insert_location(&t.db, &format!("After {i}")).await;
    }
    let mut c = t.db.read().await.unwrap();
    assert_eq!(org::count_locations(&mut c).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_rolls_back_the_whole_transaction() {
    let t = TestDb::new().await;
    insert_staff(&t.db, "taken@example.org", "First").await;
    let loc = ids::new_id();
    let loc2 = loc.clone();
    let r =
        t.db.write(move |tx| {
            Box::pin(async move {
                org::insert_location(tx, &loc2, &location_fields("Half done")).await?;
                staff::insert(
                    tx,
                    &staff::NewStaff {
                        id: &ids::new_id(),
                        email: "taken@example.org",
                        name: "Second",
                        password_hash: "x",
                        role: "provider",
                        portal: Default::default(),
                    },
                )
                .await
            })
        })
        .await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    let mut c = t.db.read().await.unwrap();
    assert!(matches!(org::find_location(&mut c, &loc).await, Err(StoreError::NotFound)));
    drop(c);
    // The writer connection is usable afterwards (on PostgreSQL it was in an aborted transaction).
    insert_location(&t.db, "After").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swallowed_statement_error_never_reports_lost_writes_as_committed() {
    // A use case that goes on after a failed statement: SQLite keeps the transaction and commits
    // the other writes; PostgreSQL has aborted it and would silently roll back at COMMIT. Either
    // way `write` must not answer Ok for writes that were not kept.
    let t = TestDb::new().await;
    insert_staff(&t.db, "taken@example.org", "First").await;
    let loc = ids::new_id();
    let loc2 = loc.clone();
    let r =
        t.db.write(move |tx| {
            Box::pin(async move {
                org::insert_location(tx, &loc2, &location_fields("Kept?")).await?;
                let dup = staff::insert(
                    tx,
                    &staff::NewStaff {
                        id: &ids::new_id(),
                        email: "taken@example.org",
                        name: "Second",
                        password_hash: "x",
                        role: "provider",
                        portal: Default::default(),
                    },
                )
                .await;
                assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
                Ok::<_, StoreError>(())
            })
        })
        .await;
    let mut c = t.db.read().await.unwrap();
    let kept = org::find_location(&mut c, &loc).await.is_ok();
    assert_eq!(r.is_ok(), kept, "write said {r:?} but the location was kept: {kept}");
    match t.db.backend() {
        portal_store::Backend::Sqlite => assert!(kept),
        portal_store::Backend::Postgres => assert!(!kept),
    }
    drop(c);
    insert_location(&t.db, "After").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_rolls_back_and_the_pool_still_works() {
    let t = TestDb::new().await;
    let id = ids::new_id();
    let (db, id2) = (t.db.clone(), id.clone());
    let joined = tokio::spawn(async move {
        db.write(move |tx| {
            Box::pin(async move {
                org::insert_location(tx, &id2, &location_fields("Panicked")).await?;
                if !id2.is_empty() {
                    panic!("use case bug");
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
    })
    .await;
    let err = joined.expect_err("the panic reaches the caller");
    assert!(err.is_panic());

    let mut c = t.db.read().await.unwrap();
    assert!(matches!(org::find_location(&mut c, &id).await, Err(StoreError::NotFound)));
    drop(c);

    // More writes than the pool has connections: none may find a transaction left open.
    for i in 0..6 {
        insert_location(&t.db, &format!("After {i}")).await;
    }
    let mut c = t.db.read().await.unwrap();
    assert_eq!(org::count_locations(&mut c).await.unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_write_future_still_finishes_its_transaction() {
    let t = TestDb::new().await;
    let id = ids::new_id();
    let id2 = id.clone();
    let fut = t.db.write(move |tx| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            org::insert_location(tx, &id2, &location_fields("Disconnected client")).await
        })
    });
    // The caller gives up (a client disconnecting), dropping the future mid-transaction.
    assert!(tokio::time::timeout(Duration::from_millis(20), fut).await.is_err());
    let mut found = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut c = t.db.read().await.unwrap();
        if org::find_location(&mut c, &id).await.is_ok() {
            found = true;
            break;
        }
    }
    assert!(found, "the transaction ran to its end in its own task");
    // And the writer was returned to the pool outside a transaction.
    insert_location(&t.db, "Next").await;
}

// ---------------------------------------------------------------- times

fn session_at(token: &str, user: &str, created: PrimitiveDateTime) -> SessionRow {
    SessionRow {
        token_hash: token.to_owned(),
        user_kind: "staff".into(),
        user_id: user.to_owned(),
        created_at: created,
        last_seen_at: created,
        absolute_expires_at: created + time::Duration::hours(12),
        ip: Some("10.0.0.1".into()),
        user_agent: Some("test".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_round_trip_to_the_microsecond() {
    let t = TestDb::new().await;
    let times = [
        now_utc(),
        datetime!(2024-02-29 23:59:59.999999),
        datetime!(2024-03-01 00:00:00),
        datetime!(1999-12-31 12:00:00.000001),
        datetime!(2038-01-19 03:14:08.5),
        truncate_micros(OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap()),
    ];
    let mut c = t.db.write_conn().await.unwrap();
    for (i, at) in times.iter().enumerate() {
        let mut s = session_at(&format!("tok{i}"), "u", *at);
        s.last_seen_at = *at + time::Duration::microseconds(1);
        sessions::insert(&mut c, &s).await.unwrap();
        let back = sessions::find(&mut c, &s.token_hash).await.unwrap().unwrap();
        assert_eq!(back.created_at, *at);
        assert_eq!(back.last_seen_at, s.last_seen_at);
        assert_eq!(back.absolute_expires_at, s.absolute_expires_at);
        assert_eq!(back.created_at.nanosecond() % 1000, 0);
    }
    assert_eq!(times[5].nanosecond(), 123_456_000);

    // Rows written with `now_utc` read back equal to what was written (the audit chain's hash
    // covers `at`, so a difference would break verification).
    drop(c);
    let p = common::PatientBuilder::new("Ada", "Lovelace", &insert_location(&t.db, "L").await)
        .dob(common::date(1815, 12, 10))
        .insert(&t.db)
        .await;
    let mut c = t.db.read().await.unwrap();
    let row = patients::find(&mut c, &p.id).await.unwrap();
    assert_eq!(row.created_at, row.updated_at);
    assert_eq!(row.created_at.nanosecond() % 1000, 0);
    assert_eq!(row.date_of_birth, common::date(1815, 12, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_order_and_compare_by_instant() {
    // SQLite stores times as text: ordering and comparisons must still follow time, including
    // whole seconds (no fraction written) beside fractions of different lengths.
    let t = TestDb::new().await;
    let times = [
        datetime!(2025-05-05 10:00:00),
        datetime!(2025-05-05 10:00:00.000001),
        datetime!(2025-05-05 10:00:00.05),
        datetime!(2025-05-05 10:00:00.1),
        datetime!(2025-05-05 10:00:00.5),
        datetime!(2025-05-05 10:00:01),
    ];
    let mut c = t.db.write_conn().await.unwrap();
    // Inserted out of order.
    for i in [3usize, 0, 5, 1, 4, 2] {
        org::record_setting_change(
            &mut c,
            &SettingChange {
                id: format!("change-{i}"),
                setting: "use_portal".into(),
                old_value: "false".into(),
                new_value: "true".into(),
                fee_locations: None,
                fee_total_cents: None,
                acknowledged: true,
                changed_by: None,
                changed_by_name: "Admin".into(),
                ip: None,
                changed_at: times[i],
            },
        )
        .await
        .unwrap();
    }
    let history = org::setting_history(&mut c, "use_portal").await.unwrap();
    let got: Vec<PrimitiveDateTime> = history.iter().map(|h| h.changed_at).collect();
    let mut want = times.to_vec();
    want.reverse();
    assert_eq!(got, want, "newest first, by instant");

    // Audit list filters compare times too.
    drop(c);
    common::append_audit(&t.db, 3).await;
    let mut c = t.db.read().await.unwrap();
    let rows = audit::list(&mut c, &audit::AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    let middle = rows[1].at;
    let from =
        audit::list(&mut c, &audit::AuditFilter { from: Some(middle), limit: 10, ..Default::default() }).await.unwrap();
    assert!(from.iter().all(|r| r.at >= middle));
    assert!(from.iter().any(|r| r.seq == rows[1].seq), "`from` is inclusive");
    let to =
        audit::list(&mut c, &audit::AuditFilter { to: Some(middle), limit: 10, ..Default::default() }).await.unwrap();
    assert!(to.iter().all(|r| r.at < middle), "`to` is exclusive");
}

// ---------------------------------------------------------------- staff

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_insert_find_and_unique_email() {
    let t = TestDb::new().await;
    let id = insert_staff(&t.db, "grace@example.org", "Grace Hopper").await;
    let mut c = t.db.read().await.unwrap();
    let s = staff::find(&mut c, &id).await.unwrap();
    assert_eq!(s.email, "grace@example.org");
    assert_eq!(s.name, "Grace Hopper");
    assert_eq!(s.role, "provider");
    assert!(s.active);
    assert_eq!(s.portal_permissions(), PortalPermissions::default());
    assert_eq!(staff::find_by_email(&mut c, "grace@example.org").await.unwrap().unwrap().id, id);
    assert!(staff::find_by_email(&mut c, "nobody@example.org").await.unwrap().is_none());
    assert!(matches!(staff::find(&mut c, "missing").await, Err(StoreError::NotFound)));
    drop(c);

    let dup = try_insert_staff(&t.db, "grace@example.org", "Impostor").await;
    match dup {
        Err(StoreError::Conflict { what }) => assert!(what.contains("e-mail"), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let mut c = t.db.read().await.unwrap();
    assert_eq!(staff::count(&mut c).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_list_is_ordered_by_name() {
    let t = TestDb::new().await;
    insert_staff(&t.db, "c@example.org", "Carol").await;
    insert_staff(&t.db, "a@example.org", "Alice").await;
    insert_staff(&t.db, "b@example.org", "Bob").await;
    let mut c = t.db.read().await.unwrap();
    let names: Vec<String> = staff::list(&mut c).await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["Alice", "Bob", "Carol"]);
    assert_eq!(staff::count(&mut c).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_locations_are_replaced_as_a_set() {
    let t = TestDb::new().await;
    let a = insert_location(&t.db, "A").await;
    let b = insert_location(&t.db, "B").await;
    let s1 = insert_staff(&t.db, "s1@example.org", "One").await;
    let s2 = insert_staff(&t.db, "s2@example.org", "Two").await;
    let (s1c, s2c, ac, bc) = (s1.clone(), s2.clone(), a.clone(), b.clone());
    t.db.write(move |tx| {
        Box::pin(async move {
            staff::set_locations(tx, &s1c, &[ac.clone(), bc.clone()]).await?;
            staff::set_locations(tx, &s2c, &[bc]).await
        })
    })
    .await
    .unwrap();
    let mut c = t.db.read().await.unwrap();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(staff::locations_of(&mut c, &s1).await.unwrap(), both);
    assert_eq!(staff::locations_of(&mut c, &s2).await.unwrap(), vec![b.clone()]);
    let mut links = staff::all_location_links(&mut c).await.unwrap();
    links.sort();
    let mut want = vec![(s1.clone(), a.clone()), (s1.clone(), b.clone()), (s2.clone(), b.clone())];
    want.sort();
    assert_eq!(links, want);
    drop(c);

    let (s1c, ac) = (s1.clone(), a.clone());
    t.db.write(move |tx| Box::pin(async move { staff::set_locations(tx, &s1c, &[ac]).await })).await.unwrap();
    let mut c = t.db.read().await.unwrap();
    assert_eq!(staff::locations_of(&mut c, &s1).await.unwrap(), vec![a.clone()]);
    assert_eq!(staff::locations_of(&mut c, &s2).await.unwrap(), vec![b.clone()], "others untouched");
    drop(c);

    let s1c = s1.clone();
    t.db.write(move |tx| Box::pin(async move { staff::set_locations(tx, &s1c, &[]).await })).await.unwrap();
    let mut c = t.db.read().await.unwrap();
    assert!(staff::locations_of(&mut c, &s1).await.unwrap().is_empty());
    drop(c);

    // An unknown location is refused by the foreign key, and the old set survives.
    let s2c = s2.clone();
    let r = t
        .db
        .write(move |tx| Box::pin(async move { staff::set_locations(tx, &s2c, &["no-such-location".into()]).await }))
        .await;
    assert!(r.is_err());
    let mut c = t.db.read().await.unwrap();
    assert_eq!(staff::locations_of(&mut c, &s2).await.unwrap(), vec![b]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_portal_permissions_round_trip() {
    let t = TestDb::new().await;
    let id = insert_staff(&t.db, "p@example.org", "Perm").await;
    let combos = [
        PortalPermissions {
            allow_document_share: true,
            available_for_portal_messages: false,
            manage_portal_packages: true,
            manage_portal_settings: false,
        },
        PortalPermissions {
            allow_document_share: false,
            available_for_portal_messages: true,
            manage_portal_packages: false,
            manage_portal_settings: true,
        },
        PortalPermissions::default(),
    ];
    for p in combos {
        let idc = id.clone();
        t.db.write(move |tx| Box::pin(async move { staff::set_portal_permissions(tx, &idc, p).await })).await.unwrap();
        let mut c = t.db.read().await.unwrap();
        assert_eq!(staff::find(&mut c, &id).await.unwrap().portal_permissions(), p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_profile_updates() {
    let t = TestDb::new().await;
    let id = insert_staff(&t.db, "old@example.org", "Old Name").await;
    let other = insert_staff(&t.db, "other@example.org", "Other").await;
    let mut c = t.db.read().await.unwrap();
    let before = staff::find(&mut c, &id).await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(2)).await;

    let idc = id.clone();
    t.db.write(move |tx| {
        Box::pin(async move {
            staff::update_profile(
                tx,
                &idc,
                &StaffProfile {
                    name: "New Name".into(),
                    email: "new@example.org".into(),
                    role: "nurse".into(),
                    active: false,
                },
            )
            .await
        })
    })
    .await
    .unwrap();
    let mut c = t.db.read().await.unwrap();
    let after = staff::find(&mut c, &id).await.unwrap();
    assert_eq!(after.name, "New Name");
    assert_eq!(after.email, "new@example.org");
    assert_eq!(after.role, "nurse");
    assert!(!after.active);
    assert_eq!(after.created_at, before.created_at);
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.password_hash, before.password_hash);
    drop(c);

    // Taking another user's e-mail is a conflict; an unknown id is not found.
    let idc = id.clone();
    let r =
        t.db.write(move |tx| {
            Box::pin(async move {
                staff::update_profile(
                    tx,
                    &idc,
                    &StaffProfile {
                        name: "X".into(),
                        email: "other@example.org".into(),
                        role: "nurse".into(),
                        active: true,
                    },
                )
                .await
            })
        })
        .await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    let r =
        t.db.write(move |tx| {
            Box::pin(async move {
                staff::update_profile(
                    tx,
                    "missing",
                    &StaffProfile {
                        name: "X".into(),
                        email: "x@example.org".into(),
                        role: "nurse".into(),
                        active: true,
                    },
                )
                .await
            })
        })
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let mut c = t.db.read().await.unwrap();
    assert_eq!(staff::find(&mut c, &id).await.unwrap().name, "New Name");
    assert_eq!(staff::find(&mut c, &other).await.unwrap().email, "other@example.org");

    // The password hash changes alone.
    drop(c);
    let idc = id.clone();
    t.db.write(move |tx| Box::pin(async move { staff::set_password_hash(tx, &idc, "new-hash").await })).await.unwrap();
    let mut c = t.db.read().await.unwrap();
    let s = staff::find(&mut c, &id).await.unwrap();
    assert_eq!(s.password_hash, "new-hash");
    assert_eq!(s.name, "New Name");
}

// ---------------------------------------------------------------- sessions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_insert_find_touch_delete() {
    let t = TestDb::new().await;
    let mut c = t.db.write_conn().await.unwrap();
    let now = now_utc();
    let s = session_at("hash-1", "user-1", now);
    sessions::insert(&mut c, &s).await.unwrap();
    let back = sessions::find(&mut c, "hash-1").await.unwrap().expect("found");
    assert_eq!(back.user_kind, "staff");
    assert_eq!(back.user_id, "user-1");
    assert_eq!(back.created_at, now);
    assert_eq!(back.ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(back.user_agent.as_deref(), Some("test"));
    assert!(sessions::find(&mut c, "hash-2").await.unwrap().is_none());

    // The same token twice is a conflict.
    assert!(matches!(sessions::insert(&mut c, &s).await, Err(StoreError::Conflict { .. })));

    let later = now + time::Duration::minutes(5);
    sessions::touch(&mut c, "hash-1", later).await.unwrap();
    let back = sessions::find(&mut c, "hash-1").await.unwrap().unwrap();
    assert_eq!(back.last_seen_at, later);
    assert_eq!(back.created_at, now, "touch changes only last_seen_at");

    assert!(sessions::delete(&mut c, "hash-1").await.unwrap());
    assert!(!sessions::delete(&mut c, "hash-1").await.unwrap());
    assert!(sessions::find(&mut c, "hash-1").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_delete_for_user_keeps_the_current_one() {
    let t = TestDb::new().await;
    let mut c = t.db.write_conn().await.unwrap();
    let now = now_utc();
    for (i, tok) in ["u-a", "u-b", "u-c"].iter().enumerate() {
        sessions::insert(&mut c, &session_at(tok, "U", now + time::Duration::seconds(i as i64))).await.unwrap();
    }
    sessions::insert(&mut c, &session_at("v-a", "V", now)).await.unwrap();
    let mut patient_u = session_at("p-u", "U", now);
    patient_u.user_kind = "patient".into();
    sessions::insert(&mut c, &patient_u).await.unwrap();

    let listed: Vec<String> =
        sessions::list_for_user(&mut c, "staff", "U").await.unwrap().into_iter().map(|s| s.token_hash).collect();
    assert_eq!(listed, ["u-c", "u-b", "u-a"], "newest first");

    assert_eq!(sessions::delete_for_user(&mut c, "staff", "U", Some("u-b")).await.unwrap(), 2);
    let left: Vec<String> =
        sessions::list_for_user(&mut c, "staff", "U").await.unwrap().into_iter().map(|s| s.token_hash).collect();
    assert_eq!(left, ["u-b"]);
    assert!(sessions::find(&mut c, "v-a").await.unwrap().is_some(), "another user's session stays");
    assert!(sessions::find(&mut c, "p-u").await.unwrap().is_some(), "same id, other kind stays");

    assert_eq!(sessions::delete_for_user(&mut c, "staff", "U", None).await.unwrap(), 1);
    assert!(sessions::list_for_user(&mut c, "staff", "U").await.unwrap().is_empty());
    assert_eq!(count_rows(&t.db, "sessions", "").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_purge_expired_and_idle() {
    let t = TestDb::new().await;
    let mut c = t.db.write_conn().await.unwrap();
    let now = datetime!(2026-01-10 12:00:00.250000);
    let idle_before = now - time::Duration::minutes(30);
    let mk = |tok: &str, last_seen: PrimitiveDateTime, expires: PrimitiveDateTime| SessionRow {
        token_hash: tok.into(),
        user_kind: "staff".into(),
        user_id: "U".into(),
        created_at: now - time::Duration::hours(1),
        last_seen_at: last_seen,
        absolute_expires_at: expires,
        ip: None,
        user_agent: None,
    };
    let hour = time::Duration::hours(1);
    let rows = [
        mk("fresh", now, now + hour),
        mk("absolute-past", now, now - time::Duration::microseconds(1)),
        mk("absolute-now", now, now),
        mk("idle", idle_before - time::Duration::microseconds(1), now + hour),
        mk("idle-boundary", idle_before, now + hour),
        mk("almost-expired", now, now + time::Duration::microseconds(1)),
    ];
    for r in &rows {
        sessions::insert(&mut c, r).await.unwrap();
    }
    assert_eq!(sessions::purge_expired(&mut c, "staff", now, idle_before).await.unwrap(), 3);
    for (tok, kept) in [
        ("fresh", true),
        ("absolute-past", false),
        ("absolute-now", false),
        ("idle", false),
        ("idle-boundary", true),
        ("almost-expired", true),
    ] {
        assert_eq!(sessions::find(&mut c, tok).await.unwrap().is_some(), kept, "{tok}");
    }
    assert_eq!(sessions::purge_expired(&mut c, "staff", now, idle_before).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_count_and_clear() {
    let t = TestDb::new().await;
    let mut c = t.db.write_conn().await.unwrap();
    assert_eq!(sessions::failures(&mut c, "staff:a@example.org").await.unwrap(), None);
    let t0 = datetime!(2026-01-10 08:00:00.000001);
    for n in 1..=3 {
        let at = t0 + time::Duration::seconds(n);
        sessions::record_failure(&mut c, "staff:a@example.org", at).await.unwrap();
        assert_eq!(sessions::failures(&mut c, "staff:a@example.org").await.unwrap(), Some((n as i32, at)));
    }
    sessions::record_failure(&mut c, "staff:b@example.org", t0).await.unwrap();
    assert_eq!(sessions::failures(&mut c, "staff:b@example.org").await.unwrap(), Some((1, t0)));

    sessions::clear_failures(&mut c, "staff:a@example.org").await.unwrap();
    assert_eq!(sessions::failures(&mut c, "staff:a@example.org").await.unwrap(), None);
    assert_eq!(
        sessions::failures(&mut c, "staff:b@example.org").await.unwrap(),
        Some((1, t0)),
        "other account untouched"
    );
    // Clearing nothing is fine; counting starts over.
    sessions::clear_failures(&mut c, "staff:a@example.org").await.unwrap();
    sessions::record_failure(&mut c, "staff:a@example.org", t0).await.unwrap();
    assert_eq!(sessions::failures(&mut c, "staff:a@example.org").await.unwrap(), Some((1, t0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_in_failures_are_all_counted() {
    let t = TestDb::new().await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        let db = t.db.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..10 {
                db.write(|tx| Box::pin(async move { sessions::record_failure(tx, "staff:x", now_utc()).await }))
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut c = t.db.read().await.unwrap();
    assert_eq!(sessions::failures(&mut c, "staff:x").await.unwrap().map(|f| f.0), Some(40));
}

// ---------------------------------------------------------------- cached statements

/// Lists of different lengths (`IN (?)`, `IN (?, ?)` on SQLite) are prepared once each and kept
/// by SQL text: on one connection, each length still answers with its own statement, and the
/// same length with new values reads the new values (nothing is answered from the wrong shape).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_list_statements_answer_each_length_and_value() {
    let t = TestDb::new().await;
    let a = insert_location(&t.db, "A").await;
    let b = insert_location(&t.db, "B").await;
    let c = insert_location(&t.db, "C").await;
    common::exec(
        &t.db,
        &format!(
            "INSERT INTO portal_request_counts (location_id, open_count) VALUES ('{a}', 1), ('{b}', 10), ('{c}', 100)"
        ),
    )
    .await
    .unwrap();
    let mut conn = t.db.read().await.unwrap();
    let cases: [(&[&String], i64); 7] = [
        (&[&a], 1),
        (&[&a, &b], 11),
        (&[&b], 10),
        (&[&a, &b, &c], 111),
        (&[&b, &c], 110),
        (&[&c], 100),
        (&[&a, &b], 11),
    ];
    for _round in 0..2 {
        for (ids, expected) in cases {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            let n = portal_store::requests::open_count(&mut conn, Some(&ids)).await.unwrap();
            assert_eq!(n, expected, "locations {ids:?}");
        }
    }
    assert_eq!(portal_store::requests::open_count(&mut conn, None).await.unwrap(), 111);
}
