//! Reading the audit log (Super Admin only), its filters, and the chain's integrity after a
//! realistic mix of use cases.

mod common;

use common::{
    StaffBuilder, actor, assert_access, audit_rows, create_patient, detail, forbidden, invalid_fields, location,
    patient_input, staff_actor, staff_id, test_db, verify_chain,
};
use portal_core::Actor;
use portal_core::audit::AuditAction;
use portal_core::staff::StaffRole;
use portal_practice::audit_log::{self, AuditQuery};
use portal_practice::company::{self, CompanyInput, LocationInput};
use portal_practice::patients::{self, ContactInput, SearchInput};
use portal_practice::{import, settings};
use portal_store::Db;
use portal_store::audit::AuditRow;
use time::{Duration, OffsetDateTime};

async fn list(db: &Db, a: &Actor, q: AuditQuery) -> Vec<AuditRow> {
    audit_log::list(db, a, &q).await.expect("audit list")
}

fn day(offset: i64) -> String {
    (OffsetDateTime::now_utc().date() + Duration::days(offset)).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_view_audit_log_reads_the_log() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    for role in [StaffRole::PracticeManager, StaffRole::Clinician, StaffRole::FrontDesk, StaffRole::Billing] {
        let mut b = StaffBuilder::new(role).at(&[&loc]);
        if role == StaffRole::PracticeManager {
            // Even Manage Portal Settings does not open the audit log.
            b = b.portal_settings();
        }
        let a = actor(b.insert(&t.db).await);
        assert_access(audit_log::list(&t.db, &a, &AuditQuery::default()).await, forbidden("View Audit Log"));
    }
    assert!(audit_rows(&t.db).await.is_empty(), "a refused read leaves nothing to read");

    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    assert!(list(&t.db, &admin, AuditQuery::default()).await.is_empty());
    // Reading the log is itself audited, and shows up in the next read.
    let rows = list(&t.db, &admin, AuditQuery::default()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action, "audit_viewed");
    assert_eq!(rows[0].actor_id.as_deref(), Some(staff_id(&admin).as_str()));
    assert_eq!(detail(&rows[0])["rows"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_by_patient_actor_action_and_date() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    let fd = staff_actor(&t.db, StaffRole::FrontDesk, &[&loc]).await;
    let p1 = create_patient(&t.db, &admin, patient_input("Ann", "Lee", &loc)).await;
    let p2 = create_patient(&t.db, &fd, patient_input("Bob", "Ray", &loc)).await;
    patients::facesheet(&t.db, &fd, &p1.id).await.unwrap();
    patients::facesheet(&t.db, &fd, &p2.id).await.unwrap();
    patients::facesheet(&t.db, &admin, &p1.id).await.unwrap();
    patients::search(&t.db, &fd, &SearchInput { q: Some("lee".into()), ..Default::default() }).await.unwrap();

    let seqs = |rows: &[AuditRow]| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
    let actions = |rows: &[AuditRow]| rows.iter().map(|r| r.action.clone()).collect::<Vec<_>>();

    // Everything, newest first: 2 created, 3 viewed, 1 searched.
    let all = list(&t.db, &admin, AuditQuery::default()).await;
    assert_eq!(seqs(&all), [6, 5, 4, 3, 2, 1]);

    let q = AuditQuery { patient_id: Some(p1.id.clone()), ..Default::default() };
    let rows = list(&t.db, &admin, q).await;
    assert_eq!(actions(&rows), ["patient_viewed", "patient_viewed", "patient_created"]);
    assert!(rows.iter().all(|r| r.patient_id.as_deref() == Some(p1.id.as_str())));
    // An id is accepted in either case.
    let q = AuditQuery { patient_id: Some(p2.id.to_uppercase()), ..Default::default() };
    assert_eq!(actions(&list(&t.db, &admin, q).await), ["patient_viewed", "patient_created"]);

    let q = AuditQuery { actor_id: Some(staff_id(&fd)), ..Default::default() };
    let rows = list(&t.db, &admin, q).await;
    assert_eq!(actions(&rows), ["patient_searched", "patient_viewed", "patient_viewed", "patient_created"]);

    let q = AuditQuery { action: Some("patient_viewed".into()), ..Default::default() };
    assert_eq!(seqs(&list(&t.db, &admin, q).await), [5, 4, 3]);
    let q = AuditQuery {
        action: Some("patient_viewed".into()),
        actor_id: Some(staff_id(&fd)),
        patient_id: Some(p1.id.clone()),
        ..Default::default()
    };
    assert_eq!(seqs(&list(&t.db, &admin, q).await), [3]);
    // So far: one audit_viewed row per list call (6 calls).
    let q = AuditQuery { action: Some("audit_viewed".into()), ..Default::default() };
    assert_eq!(list(&t.db, &admin, q).await.len(), 6);

    // Dates are whole UTC days, both ends inclusive.
    let range = |from: Option<String>, to: Option<String>| AuditQuery {
        action: Some("patient_viewed".into()),
        from,
        to,
        ..Default::default()
    };
    assert_eq!(list(&t.db, &admin, range(Some(day(-1)), Some(day(1)))).await.len(), 3);
    assert_eq!(list(&t.db, &admin, range(Some(day(0)), Some(day(0)))).await.len(), 3);
    assert_eq!(list(&t.db, &admin, range(Some(day(0)), None)).await.len(), 3);
    assert_eq!(list(&t.db, &admin, range(None, Some(day(0)))).await.len(), 3);
    assert!(list(&t.db, &admin, range(Some(day(1)), None)).await.is_empty());
    assert!(list(&t.db, &admin, range(None, Some(day(-1)))).await.is_empty());

    // Pages: `limit` rows older than `before`.
    let q = AuditQuery { limit: Some(2), ..Default::default() };
    let page1 = list(&t.db, &admin, q).await;
    assert_eq!(page1.len(), 2);
    let q = AuditQuery { limit: Some(2), before: Some(page1[1].seq), ..Default::default() };
    let page2 = list(&t.db, &admin, q).await;
    assert_eq!(seqs(&page2), [page1[1].seq - 1, page1[1].seq - 2]);
    let q = AuditQuery { before: Some(3), ..Default::default() };
    assert_eq!(seqs(&list(&t.db, &admin, q).await), [2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_are_refused_together() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    let bad = [
        (AuditQuery { patient_id: Some("1".into()), ..Default::default() }, vec!["patient_id"]),
        (AuditQuery { actor_id: Some("admin".into()), ..Default::default() }, vec!["actor_id"]),
        (AuditQuery { action: Some("drop_table".into()), ..Default::default() }, vec!["action"]),
        (AuditQuery { action: Some("Patient_Viewed".into()), ..Default::default() }, vec!["action"]),
        (AuditQuery { from: Some("2024-13-01".into()), ..Default::default() }, vec!["from"]),
        (AuditQuery { to: Some("yesterday".into()), ..Default::default() }, vec!["to"]),
        (AuditQuery { from: Some("01/02/2024".into()), ..Default::default() }, vec!["from"]),
        (AuditQuery { limit: Some(0), ..Default::default() }, vec!["limit"]),
        (AuditQuery { limit: Some(501), ..Default::default() }, vec!["limit"]),
        (
            AuditQuery {
                patient_id: Some("x".into()),
                actor_id: Some("y".into()),
                action: Some("z".into()),
                from: Some("a".into()),
                to: Some("b".into()),
                limit: Some(-1),
                before: None,
            },
            vec!["limit", "patient_id", "actor_id", "action", "from", "to"],
        ),
    ];
    for (q, fields) in bad {
        assert_eq!(invalid_fields(audit_log::list(&t.db, &admin, &q).await), fields, "{q:?}");
    }
    assert!(audit_rows(&t.db).await.is_empty(), "refused reads are not recorded as reads");
    // Blank filters mean "any".
    let blank = AuditQuery {
        patient_id: Some(" ".into()),
        actor_id: Some(String::new()),
        action: Some(String::new()),
        from: Some(String::new()),
        to: Some(" ".into()),
        ..Default::default()
    };
    assert!(audit_log::list(&t.db, &admin, &blank).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_is_intact_after_many_operations() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).portal_settings().insert(&t.db).await);
    let main = company::create_location(
        &t.db,
        &admin,
        LocationInput { name: "Main".into(), time_zone: "America/Chicago".into(), ..Default::default() },
    )
    .await
    .unwrap()
    .id;
    company::update_company(&t.db, &admin, CompanyInput { name: "Acme".into(), phone: None, brand_by_location: true })
        .await
        .unwrap();
    settings::set_use_portal(&t.db, &admin, true, true).await.unwrap();
    let fd = staff_actor(&t.db, StaffRole::FrontDesk, &[&main]).await;

    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(create_patient(&t.db, &fd, patient_input("Chain", &format!("Patient{i}"), &main)).await.id);
    }
    let csv: String = std::iter::once("first_name,last_name,date_of_birth,location\n".to_owned())
        .chain((0..8).map(|i| format!("Imported,Row{i},1980-01-0{},Main\n", i + 1)))
        .collect();
    assert_eq!(import::import_patients_csv(&t.db, &fd, csv.as_bytes()).await.unwrap().imported, 8);
    for id in &ids[..6] {
        patients::facesheet(&t.db, &fd, id).await.unwrap();
        let contact = ContactInput {
            kind: "guardian".into(),
            first_name: "Gail".into(),
            last_name: "Guardian".into(),
            ..Default::default()
        };
        patients::add_contact(&t.db, &fd, id, contact).await.unwrap();
    }
    patients::search(&t.db, &fd, &SearchInput { q: Some("chain".into()), ..Default::default() }).await.unwrap();
    // Concurrent writers chain in commit order.
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let (db, fd) = (t.db.clone(), fd.clone());
        tasks.push(tokio::spawn(async move { patients::facesheet(&db, &fd, &id).await.map(|_| ()) }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    settings::set_use_portal(&t.db, &admin, false, false).await.unwrap();
    audit_log::list(&t.db, &admin, &AuditQuery::default()).await.unwrap();

    let expected = 1 + 1 + 1 + 12 + 8 + 1 + 6 + 6 + 1 + 12 + 1 + 1;
    let report = verify_chain(&t.db).await;
    assert_eq!(report.first_broken, None);
    assert_eq!(report.rows_checked, expected);
    assert_eq!(audit_log::verify(&t.db).await.unwrap(), report);
    let rows = audit_rows(&t.db).await;
    assert_eq!(rows.len() as i64, expected);
    assert!(rows.iter().all(|r| r.ip.as_deref() == Some("127.0.0.1")));
    assert_eq!(rows.iter().filter(|r| r.action == AuditAction::PatientCreated.as_str()).count(), 20);
}
