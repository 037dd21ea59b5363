//! Patients (seed 002), contacts (seed 003) and care teams, always from the side of the staff
//! member who must be refused: another location's patient answers like a missing one, and
//! every view and search leaves an audit row.

mod common;

use std::collections::HashSet;

use common::{
    StaffBuilder, actor, assert_access, audit_of, create_patient, deactivate, detail, forbidden, invalid_fields,
    location, patient_count, patient_input, staff_actor, staff_id, test_db,
};
use portal_core::AccessError;
use portal_core::Actor;
use portal_core::audit::AuditAction;
use portal_core::staff::StaffRole;
use portal_practice::PracticeError;
use portal_practice::patients::{self, ContactInput, PatientInput, SearchInput, SearchPage};
use portal_store::Db;
use portal_store::ids::new_id;

/// Two locations, and staff of each kind at the first one only.
struct Clinic {
    t: portal_store::testing::TestDb,
    a: String,
    b: String,
    admin: Actor,
    front_desk: Actor,
    clinician: Actor,
    billing: Actor,
}

async fn clinic() -> Clinic {
    let t = test_db().await;
    let a = location(&t.db, "Main").await;
    let b = location(&t.db, "Annex").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    let front_desk = staff_actor(&t.db, StaffRole::FrontDesk, &[&a]).await;
    let clinician = staff_actor(&t.db, StaffRole::Clinician, &[&a]).await;
    let billing = staff_actor(&t.db, StaffRole::Billing, &[&a]).await;
    Clinic { t, a, b, admin, front_desk, clinician, billing }
}

fn q(text: &str) -> SearchInput {
    SearchInput { q: Some(text.into()), ..Default::default() }
}

async fn search(db: &Db, a: &Actor, input: SearchInput) -> SearchPage {
    patients::search(db, a, &input).await.expect("search")
}

fn last_names(p: &SearchPage) -> Vec<&str> {
    p.patients.iter().map(|p| p.last_name.as_str()).collect()
}

fn is_generated_record_number(r: &str) -> bool {
    r.len() == 8 && r.starts_with("P-00") && r[2..].bytes().all(|b| b.is_ascii_digit())
}

fn contact(kind: &str, first: &str) -> ContactInput {
    ContactInput {
        kind: kind.into(),
        first_name: first.into(),
        last_name: "Guardian".into(),
        relation: Some("Mother".into()),
        email: Some("Guard@Example.org".into()),
        phone: Some("555-0100".into()),
    }
}

// ------------------------------------------------------------------------------ create

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_reports_every_bad_field_at_once() {
    let c = clinic().await;
    let input = PatientInput {
        first_name: "   ".into(),
        last_name: "x".repeat(101),
        date_of_birth: "1990-13-01".into(),
        email: Some("ann@".into()),
        phone: Some("call me".into()),
        address_line1: Some("1 Main St\u{7}".into()),
        city: Some("Springfield".into()),
        state: Some("IL".into()),
        zip: Some("1234".into()),
        location_id: "not-a-location".into(),
        status: Some("alive".into()),
        record_number: Some("MRN 001".into()),
        confirm_email_change: false,
    };
    let fields = invalid_fields(patients::create(&c.t.db, &c.front_desk, input).await);
    assert_eq!(
        fields,
        [
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "address_line1",
            "zip",
            "status",
            "record_number",
            "location_id"
        ]
    );

    // Each date rule on its own.
    let tomorrow = (time::OffsetDateTime::now_utc().date() + time::Duration::days(2)).to_string();
    for dob in ["", "15/01/1980", "1980-1-15", "1899-12-31", tomorrow.as_str()] {
        let mut i = patient_input("Ann", "Lee", &c.a);
        i.date_of_birth = dob.into();
        assert_eq!(invalid_fields(patients::create(&c.t.db, &c.front_desk, i).await), ["date_of_birth"], "{dob:?}");
    }
    // Required names.
    let i = patient_input("", "", &c.a);
    assert_eq!(invalid_fields(patients::create(&c.t.db, &c.front_desk, i).await), ["first_name", "last_name"]);

    assert_eq!(patient_count(&c.t.db).await, 0);
    assert!(audit_of(&c.t.db, AuditAction::PatientCreated).await.is_empty());

    // A good one, with every optional field, normalised.
    let mut i = patient_input(" Ann ", "Lee", &c.a.to_uppercase());
    i.email = Some("Ann.Lee@Example.ORG".into());
    i.phone = Some("(617) 555-0100".into());
    i.zip = Some("02110-1234".into());
    i.status = Some("inactive".into());
    let p = create_patient(&c.t.db, &c.front_desk, i).await;
    assert_eq!(p.first_name, "Ann");
    assert_eq!(p.email.as_deref(), Some("ann.lee@example.org"));
    assert_eq!(p.zip.as_deref(), Some("02110-1234"));
    assert_eq!(p.status, "inactive");
    assert_eq!(p.location_id, c.a);
    assert!(portal_core::ids::PatientId::parse(&p.id).is_ok(), "random id");
    let created = audit_of(&c.t.db, AuditAction::PatientCreated).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].patient_id.as_deref(), Some(p.id.as_str()));
    assert_eq!(created[0].actor_id.as_deref(), Some(staff_id(&c.front_desk).as_str()));
    assert!(!created[0].detail.contains("Lee"), "no PHI in audit details");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_locations_and_roles_that_do_not_allow_it() {
    let c = clinic().await;
    // Another location, a location that does not exist, and garbage: all "one of your locations".
    for loc in [c.b.clone(), new_id(), "../../etc".into(), String::new()] {
        let r = patients::create(&c.t.db, &c.front_desk, patient_input("Ann", "Lee", &loc)).await;
        assert_eq!(invalid_fields(r), ["location_id"], "{loc:?}");
    }
    // A Super Admin may use every location, but not one that does not exist.
    let r = patients::create(&c.t.db, &c.admin, patient_input("Ann", "Lee", &new_id())).await;
    assert_eq!(invalid_fields(r), ["location_id"]);
    // Billing only views.
    assert_access(
        patients::create(&c.t.db, &c.billing, patient_input("Ann", "Lee", &c.a)).await,
        forbidden("Edit Patients"),
    );
    assert_eq!(patient_count(&c.t.db).await, 0);

    create_patient(&c.t.db, &c.admin, patient_input("Ann", "Lee", &c.b)).await;
    create_patient(&c.t.db, &c.front_desk, patient_input("Ann", "Lee", &c.a)).await;
    assert_eq!(patient_count(&c.t.db).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_numbers_are_generated_unique_or_given_once() {
    let c = clinic().await;
    let mut numbers = HashSet::new();
    for i in 0..5 {
        let p = create_patient(&c.t.db, &c.front_desk, patient_input("Pat", &format!("Number{i}"), &c.a)).await;
        assert!(is_generated_record_number(&p.record_number), "{}", p.record_number);
        assert!(numbers.insert(p.record_number));
    }
    assert!(numbers.contains("P-001001") && numbers.contains("P-001005"));

    // A given number is kept (uppercased); given twice, the second is a conflict.
    let mut i = patient_input("Ann", "Given", &c.a);
    i.record_number = Some("mrn-77".into());
    assert_eq!(create_patient(&c.t.db, &c.front_desk, i).await.record_number, "MRN-77");
    for dup in ["MRN-77", "Mrn-77", " mrn-77 "] {
        let mut i = patient_input("Bob", "Copy", &c.a);
        i.record_number = Some(dup.into());
        match patients::create(&c.t.db, &c.front_desk, i).await {
            Err(PracticeError::Conflict(why)) => assert!(why.contains("MRN-77"), "{why}"),
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(patient_count(&c.t.db).await, 6);

    // A given number in the generated format ahead of the counter must not block numbering:
    // the next generated numbers skip it.
    for taken in ["P-001006", "P-001007"] {
        let mut i = patient_input("Ann", "Ahead", &c.a);
        i.record_number = Some(taken.into());
        create_patient(&c.t.db, &c.front_desk, i).await;
    }
    let next = create_patient(&c.t.db, &c.front_desk, patient_input("Next", "Generated", &c.a)).await;
    assert_eq!(next.record_number, "P-001008");
    let after = create_patient(&c.t.db, &c.front_desk, patient_input("After", "Generated", &c.a)).await;
    assert_eq!(after.record_number, "P-001009");
}

// ---------------------------------------------------------------------------- facesheet

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_of_another_location_answers_like_a_missing_one() {
    let c = clinic().await;
    let at_b = create_patient(&c.t.db, &c.admin, patient_input("Zed", "Annex", &c.b)).await;
    let at_a = create_patient(&c.t.db, &c.admin, patient_input("Ann", "Main", &c.a)).await;
    let viewed_before = audit_of(&c.t.db, AuditAction::PatientViewed).await.len();
    assert_eq!(viewed_before, 0);

    for who in [&c.front_desk, &c.clinician, &c.billing] {
        for id in [at_b.id.clone(), new_id(), "1".into(), "../../etc/passwd".into(), at_b.id.to_uppercase()] {
            assert_access(patients::facesheet(&c.t.db, who, &id).await, AccessError::NotFound);
        }
        // Editing answers the same way.
        let r = patients::update(&c.t.db, who, &at_b.id, patient_input("Zed", "Annex", &c.a)).await;
        assert!(matches!(r, Err(PracticeError::Access(AccessError::NotFound | AccessError::Forbidden { .. }))));
    }
    assert_access(
        patients::update(&c.t.db, &c.front_desk, &at_b.id, patient_input("Zed", "Moved", &c.a)).await,
        AccessError::NotFound,
    );
    assert_access(
        patients::add_contact(&c.t.db, &c.front_desk, &at_b.id, contact("guardian", "Gail")).await,
        AccessError::NotFound,
    );
    assert_access(
        patients::add_care_team_member(&c.t.db, &c.clinician, &at_b.id, &staff_id(&c.clinician), "Nurse").await,
        AccessError::NotFound,
    );
    assert!(audit_of(&c.t.db, AuditAction::PatientViewed).await.is_empty(), "nothing was shown");

    // Their own location's patient and, for a Super Admin, everyone.
    let f = patients::facesheet(&c.t.db, &c.billing, &at_a.id).await.unwrap();
    assert_eq!(f.patient.id, at_a.id);
    assert_eq!(f.location_name, "Main");
    let f = patients::facesheet(&c.t.db, &c.admin, &at_b.id).await.unwrap();
    assert_eq!(f.location_name, "Annex");
    patients::facesheet(&c.t.db, &c.front_desk, &at_a.id).await.unwrap();

    let viewed = audit_of(&c.t.db, AuditAction::PatientViewed).await;
    assert_eq!(viewed.len(), 3, "every view is audited");
    assert_eq!(viewed[0].patient_id.as_deref(), Some(at_a.id.as_str()));
    assert_eq!(viewed[0].actor_id.as_deref(), Some(staff_id(&c.billing).as_str()));
    assert_eq!(viewed[0].target_kind.as_deref(), Some("patient"));
    assert_eq!(viewed[0].ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(viewed[1].actor_id.as_deref(), Some(staff_id(&c.admin).as_str()));
    assert_eq!(viewed[2].actor_id.as_deref(), Some(staff_id(&c.front_desk).as_str()));
}

// ------------------------------------------------------------------------------- search

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_name_date_of_birth_and_record_number_within_ones_locations() {
    let c = clinic().await;
    let mut ann = patient_input("Ann", "Lee", &c.a);
    ann.date_of_birth = "1990-02-03".into();
    let ann = create_patient(&c.t.db, &c.admin, ann).await;
    create_patient(&c.t.db, &c.admin, patient_input("Anna", "Leeson", &c.a)).await;
    create_patient(&c.t.db, &c.admin, patient_input("Bob", "O'Brien", &c.a)).await;
    let mut zed = patient_input("Zed", "Lee", &c.b);
    zed.date_of_birth = "1990-02-03".into();
    let zed = create_patient(&c.t.db, &c.admin, zed).await;

    let fd = &c.front_desk;
    let page = search(&c.t.db, fd, q("lee")).await;
    assert_eq!(last_names(&page), ["Lee", "Leeson"], "the Annex patient stays hidden");
    assert_eq!(page.total, 2);
    assert_eq!(last_names(&search(&c.t.db, fd, q("LEE ann")).await), ["Lee", "Leeson"]);
    assert_eq!(last_names(&search(&c.t.db, fd, q("Lee, Ann")).await), ["Lee", "Leeson"]);
    assert_eq!(last_names(&search(&c.t.db, fd, q("leeso")).await), ["Leeson"]);
    assert_eq!(last_names(&search(&c.t.db, fd, q("nn")).await), ["Lee", "Leeson"]);
    assert_eq!(last_names(&search(&c.t.db, fd, q("o'brien")).await), ["O'Brien"]);
    assert_eq!(search(&c.t.db, fd, q("zed")).await.total, 0);
    assert_eq!(search(&c.t.db, fd, q("%")).await.total, 0, "LIKE wildcards match literally");
    assert_eq!(search(&c.t.db, fd, q("_")).await.total, 0);
    assert_eq!(search(&c.t.db, fd, q("")).await.total, 3);
    assert_eq!(search(&c.t.db, fd, SearchInput::default()).await.total, 3);

    // Dates of birth in both spellings.
    for dob in ["1990-02-03", "02/03/1990", "2/3/1990"] {
        let page = search(&c.t.db, fd, q(dob)).await;
        assert_eq!(page.patients.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [ann.id.as_str()], "{dob}");
    }
    // Record numbers, in any case; another location's number finds nothing.
    let page = search(&c.t.db, fd, q(&ann.record_number.to_lowercase())).await;
    assert_eq!(page.patients.len(), 1);
    assert_eq!(page.patients[0].id, ann.id);
    assert_eq!(search(&c.t.db, fd, q(&zed.record_number)).await.total, 0);

    // A Super Admin sees every location; a location filter narrows it.
    // (Sorted here: PostgreSQL's collation may order "lee zed" and "leeson anna" either way.)
    let mut all =
        search(&c.t.db, &c.admin, q("lee")).await.patients.into_iter().map(|p| p.last_name).collect::<Vec<_>>();
    all.sort();
    assert_eq!(all, ["Lee", "Lee", "Leeson"]);
    assert_eq!(search(&c.t.db, &c.admin, q("1990-02-03")).await.total, 2);
    let only_b = SearchInput { q: Some("lee".into()), location_id: Some(c.b.clone()), ..Default::default() };
    assert_eq!(search(&c.t.db, &c.admin, only_b.clone()).await.total, 1);
    // Asking for another location does not widen one's scope.
    assert_eq!(search(&c.t.db, fd, only_b).await.total, 0);
    let inactive = SearchInput { status: Some("inactive".into()), ..Default::default() };
    assert_eq!(search(&c.t.db, &c.admin, inactive).await.total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_and_checks_its_input() {
    let c = clinic().await;
    for i in 0..7 {
        create_patient(&c.t.db, &c.admin, patient_input("Page", &format!("Person{i}"), &c.a)).await;
    }
    create_patient(&c.t.db, &c.admin, patient_input("Page", "Elsewhere", &c.b)).await;
    let paged =
        |page: i64| SearchInput { q: Some("page".into()), page: Some(page), per_page: Some(3), ..Default::default() };
    let mut seen = Vec::new();
    for (page, expected) in [(1, 3), (2, 3), (3, 1), (4, 0)] {
        let p = search(&c.t.db, &c.front_desk, paged(page)).await;
        assert_eq!(p.total, 7, "page {page}");
        assert_eq!((p.page, p.per_page), (page, 3));
        assert_eq!(p.patients.len(), expected, "page {page}");
        seen.extend(p.patients.into_iter().map(|p| p.last_name));
    }
    let expected: Vec<String> = (0..7).map(|i| format!("Person{i}")).collect();
    assert_eq!(seen, expected, "pages follow the name order without gaps or repeats");
    let searched_ok = audit_of(&c.t.db, AuditAction::PatientSearched).await.len();
    assert_eq!(searched_ok, 4);

    let bad = [
        (SearchInput { per_page: Some(0), ..Default::default() }, vec!["per_page"]),
        (SearchInput { per_page: Some(101), ..Default::default() }, vec!["per_page"]),
        (SearchInput { per_page: Some(-5), ..Default::default() }, vec!["per_page"]),
        (SearchInput { page: Some(0), ..Default::default() }, vec!["page"]),
        (SearchInput { status: Some("gone".into()), ..Default::default() }, vec!["status"]),
        (SearchInput { location_id: Some("main".into()), ..Default::default() }, vec!["location_id"]),
        (
            SearchInput { per_page: Some(1000), page: Some(-1), location_id: Some("x".into()), ..Default::default() },
            vec!["per_page", "page", "location_id"],
        ),
    ];
    for (input, fields) in bad {
        assert_eq!(invalid_fields(patients::search(&c.t.db, &c.front_desk, &input).await), fields, "{input:?}");
    }
    assert_eq!(audit_of(&c.t.db, AuditAction::PatientSearched).await.len(), searched_ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_search_is_audited_without_its_text() {
    let c = clinic().await;
    let mut p = patient_input("Ann", "Lee", &c.a);
    p.date_of_birth = "1990-02-03".into();
    let p = create_patient(&c.t.db, &c.admin, p).await;
    let texts = ["Lee", "02/03/1990", p.record_number.as_str(), ""];
    for text in texts {
        search(&c.t.db, &c.front_desk, q(text)).await;
    }
    let rows = audit_of(&c.t.db, AuditAction::PatientSearched).await;
    assert_eq!(rows.len(), 4);
    let kinds: Vec<String> = rows.iter().map(|r| detail(r)["by"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["name", "date_of_birth", "record_number", "all"]);
    for r in &rows {
        assert_eq!(r.actor_id.as_deref(), Some(staff_id(&c.front_desk).as_str()));
        assert_eq!(r.patient_id, None);
        for text in ["Lee", "lee", "1990", &p.record_number] {
            assert!(!r.detail.contains(text), "the search text {text:?} leaked into {}", r.detail);
        }
    }
    assert_eq!(detail(&rows[0])["results"], 1);
    assert_eq!(detail(&rows[0])["total"], 1);
}

// ------------------------------------------------------------------------------- update

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_record_which_fields_changed() {
    let c = clinic().await;
    let mut input = patient_input("Ann", "Lee", &c.a);
    input.email = Some("ann@example.org".into());
    let p = create_patient(&c.t.db, &c.front_desk, input.clone()).await;

    let mut edit = input.clone();
    edit.last_name = "Lee-Smith".into();
    edit.email = Some("ann.smith@example.org".into());
    // A new address must be confirmed with the patient (seed 002's privacy note).
    match patients::update(&c.t.db, &c.front_desk, &p.id, edit.clone()).await {
        Err(PracticeError::Invalid(e)) => assert!(e.get("confirm_email_change").is_some(), "{e:?}"),
        other => panic!("an unconfirmed e-mail change was accepted: {other:?}"),
    }
    assert_eq!(
        patients::facesheet(&c.t.db, &c.front_desk, &p.id).await.unwrap().patient.email.as_deref(),
        Some("ann@example.org")
    );
    edit.confirm_email_change = true;
    let after = patients::update(&c.t.db, &c.front_desk, &p.id, edit.clone()).await.unwrap();
    assert_eq!(after.last_name, "Lee-Smith");
    assert_eq!(after.email.as_deref(), Some("ann.smith@example.org"));
    assert_eq!(after.record_number, p.record_number, "the record number never changes");
    // Search follows the new name.
    assert_eq!(search(&c.t.db, &c.front_desk, q("smith")).await.total, 1);

    let mut phone_only = edit.clone();
    phone_only.phone = Some("617-555-0101".into());
    patients::update(&c.t.db, &c.front_desk, &p.id, phone_only.clone()).await.unwrap();
    patients::update(&c.t.db, &c.front_desk, &p.id, phone_only.clone()).await.unwrap();
    let mut cleared = phone_only.clone();
    cleared.email = None;
    cleared.status = Some("deceased".into());
    patients::update(&c.t.db, &c.clinician, &p.id, cleared).await.unwrap();

    let rows = audit_of(&c.t.db, AuditAction::PatientUpdated).await;
    assert_eq!(rows.len(), 4);
    let changed = |i: usize| detail(&rows[i])["changed"].clone();
    let email_changed = |i: usize| detail(&rows[i])["email_changed"].clone();
    assert_eq!(changed(0), serde_json::json!(["last_name", "email"]));
    assert_eq!(email_changed(0), true);
    assert_eq!(changed(1), serde_json::json!(["phone"]));
    assert_eq!(email_changed(1), false);
    assert_eq!(changed(2), serde_json::json!([]));
    assert_eq!(changed(3), serde_json::json!(["email", "status"]));
    assert_eq!(email_changed(3), true);
    assert_eq!(rows[3].actor_id.as_deref(), Some(staff_id(&c.clinician).as_str()));
    for r in &rows {
        assert_eq!(r.patient_id.as_deref(), Some(p.id.as_str()));
        assert!(!r.detail.contains("example.org") && !r.detail.contains("Smith"), "values never logged");
    }

    // Moving the patient to a location one may not access, bad fields, or a role without
    // Edit Patients: refused, nothing written.
    let mut moved = phone_only.clone();
    moved.location_id = c.b.clone();
    assert_eq!(invalid_fields(patients::update(&c.t.db, &c.front_desk, &p.id, moved).await), ["location_id"]);
    let mut bad = phone_only.clone();
    bad.email = Some("nope".into());
    bad.date_of_birth = "yesterday".into();
    assert_eq!(invalid_fields(patients::update(&c.t.db, &c.front_desk, &p.id, bad).await), ["date_of_birth", "email"]);
    assert_access(patients::update(&c.t.db, &c.billing, &p.id, phone_only.clone()).await, forbidden("Edit Patients"));
    assert_access(patients::update(&c.t.db, &c.front_desk, &new_id(), phone_only).await, AccessError::NotFound);
    assert_eq!(audit_of(&c.t.db, AuditAction::PatientUpdated).await.len(), 4);

    // A Super Admin may move the patient; the front desk then loses sight of them.
    let mut to_b = edit.clone();
    to_b.location_id = c.b.clone();
    patients::update(&c.t.db, &c.admin, &p.id, to_b).await.unwrap();
    assert_access(patients::facesheet(&c.t.db, &c.front_desk, &p.id).await, AccessError::NotFound);
}

// ----------------------------------------------------------------------------- contacts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_belong_to_their_patient() {
    let c = clinic().await;
    let p1 = create_patient(&c.t.db, &c.front_desk, patient_input("Kid", "One", &c.a)).await;
    let p2 = create_patient(&c.t.db, &c.front_desk, patient_input("Kid", "Two", &c.a)).await;
    let fd = &c.front_desk;

    let bad = ContactInput {
        kind: "boss".into(),
        first_name: "".into(),
        email: Some("x@".into()),
        ..contact("guardian", "G")
    };
    assert_eq!(invalid_fields(patients::add_contact(&c.t.db, fd, &p1.id, bad).await), ["kind", "first_name", "email"]);
    assert_access(
        patients::add_contact(&c.t.db, &c.billing, &p1.id, contact("guardian", "Gail")).await,
        forbidden("Edit Patients"),
    );

    let g = patients::add_contact(&c.t.db, fd, &p1.id, contact("guardian", "Gail")).await.unwrap();
    assert_eq!(g.patient_id, p1.id);
    assert_eq!(g.kind, "guardian");
    assert_eq!(g.email.as_deref(), Some("guard@example.org"));
    let other = patients::add_contact(&c.t.db, fd, &p2.id, contact("emergency", "Otto")).await.unwrap();

    // Another patient's contact, through this patient: not found, and untouched.
    assert_access(
        patients::update_contact(&c.t.db, fd, &p1.id, &other.id, contact("guarantor", "Hijack")).await,
        AccessError::NotFound,
    );
    assert_access(patients::remove_contact(&c.t.db, fd, &p1.id, &other.id).await, AccessError::NotFound);
    assert_access(patients::remove_contact(&c.t.db, fd, &p1.id, "garbage").await, AccessError::NotFound);
    let f2 = patients::facesheet(&c.t.db, fd, &p2.id).await.unwrap();
    assert_eq!(f2.contacts.len(), 1);
    assert_eq!(f2.contacts[0].first_name, "Otto");

    let bad = ContactInput { phone: Some("1".into()), ..contact("guardian", "Gail") };
    assert_eq!(invalid_fields(patients::update_contact(&c.t.db, fd, &p1.id, &g.id, bad).await), ["phone"]);
    let mut edit = contact("guarantor", "Gail");
    edit.relation = None;
    edit.email = None;
    let g2 = patients::update_contact(&c.t.db, fd, &p1.id, &g.id, edit).await.unwrap();
    assert_eq!(g2.kind, "guarantor");
    assert_eq!(g2.relation, None);
    assert_eq!(g2.email, None);
    assert_eq!(patients::facesheet(&c.t.db, fd, &p1.id).await.unwrap().contacts.len(), 1);

    patients::remove_contact(&c.t.db, fd, &p1.id, &g.id).await.unwrap();
    assert_access(patients::remove_contact(&c.t.db, fd, &p1.id, &g.id).await, AccessError::NotFound);
    assert!(patients::facesheet(&c.t.db, fd, &p1.id).await.unwrap().contacts.is_empty());

    let created = audit_of(&c.t.db, AuditAction::ContactCreated).await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].patient_id.as_deref(), Some(p1.id.as_str()));
    assert_eq!(created[0].target_id.as_deref(), Some(g.id.as_str()));
    assert_eq!(detail(&created[0])["kind"], "guardian");
    let updated = audit_of(&c.t.db, AuditAction::ContactUpdated).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].target_id.as_deref(), Some(g.id.as_str()));
    let removed = audit_of(&c.t.db, AuditAction::ContactRemoved).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].patient_id.as_deref(), Some(p1.id.as_str()));
}

// ---------------------------------------------------------------------------- care team

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_teams_take_active_staff_who_can_see_the_patient() {
    let c = clinic().await;
    let p = create_patient(&c.t.db, &c.admin, patient_input("Ann", "Lee", &c.a)).await;
    let nurse = StaffBuilder::new(StaffRole::Clinician).name("Nora Nurse").at(&[&c.a]).insert(&c.t.db).await;
    let elsewhere = StaffBuilder::new(StaffRole::Clinician).at(&[&c.b]).insert(&c.t.db).await;
    let gone = StaffBuilder::new(StaffRole::Clinician).at(&[&c.a]).insert(&c.t.db).await;
    deactivate(&c.t.db, gone.id.as_str()).await;
    let admin_member = StaffBuilder::new(StaffRole::SuperAdmin).insert(&c.t.db).await;
    let nurse_id = nurse.id.to_string();

    // Roles without Manage Care Teams.
    for who in [&c.front_desk, &c.billing] {
        assert_access(
            patients::add_care_team_member(&c.t.db, who, &p.id, &nurse_id, "Nurse").await,
            forbidden("Manage Care Teams"),
        );
        assert_access(
            patients::remove_care_team_member(&c.t.db, who, &p.id, &nurse_id).await,
            forbidden("Manage Care Teams"),
        );
    }
    // Members who cannot be on this team.
    let cl = &c.clinician;
    let refused = [
        (gone.id.to_string(), "Nurse", vec!["staff_id"]),
        (elsewhere.id.to_string(), "Nurse", vec!["staff_id"]),
        (new_id(), "Nurse", vec!["staff_id"]),
        ("not-an-id".to_owned(), "Nurse", vec!["staff_id"]),
        (nurse_id.clone(), "  ", vec!["team_role"]),
        ("x".to_owned(), "", vec!["team_role", "staff_id"]),
    ];
    for (sid, role, fields) in refused {
        let r = patients::add_care_team_member(&c.t.db, cl, &p.id, &sid, role).await;
        assert_eq!(invalid_fields(r), fields, "{sid} {role:?}");
    }
    assert!(patients::facesheet(&c.t.db, cl, &p.id).await.unwrap().care_team.is_empty());
    assert!(audit_of(&c.t.db, AuditAction::CareTeamMemberAdded).await.is_empty());

    let team = patients::add_care_team_member(&c.t.db, cl, &p.id, &nurse_id, "Primary nurse").await.unwrap();
    assert_eq!(team.len(), 1);
    assert_eq!((team[0].staff_id.as_str(), team[0].team_role.as_str()), (nurse_id.as_str(), "Primary nurse"));
    assert_eq!(team[0].staff_name, "Nora Nurse");
    assert_eq!(team[0].staff_role, "clinician");
    // A Super Admin member needs no location row (All Locations).
    let team =
        patients::add_care_team_member(&c.t.db, cl, &p.id, admin_member.id.as_str(), "Medical director").await.unwrap();
    assert_eq!(team.len(), 2);
    // Adding again changes the role, not the size.
    let team = patients::add_care_team_member(&c.t.db, cl, &p.id, &nurse_id, "Care coordinator").await.unwrap();
    assert_eq!(team.len(), 2);
    let n = team.iter().find(|m| m.staff_id == nurse_id).unwrap();
    assert_eq!(n.team_role, "Care coordinator");
    assert_eq!(patients::facesheet(&c.t.db, &c.billing, &p.id).await.unwrap().care_team.len(), 2);

    let added = audit_of(&c.t.db, AuditAction::CareTeamMemberAdded).await;
    assert_eq!(added.len(), 3);
    assert_eq!(added[2].patient_id.as_deref(), Some(p.id.as_str()));
    assert_eq!(added[2].target_id.as_deref(), Some(nurse_id.as_str()));
    assert_eq!(detail(&added[2])["team_role"], "Care coordinator");

    let team = patients::remove_care_team_member(&c.t.db, cl, &p.id, &nurse_id).await.unwrap();
    assert_eq!(team.len(), 1);
    assert_access(patients::remove_care_team_member(&c.t.db, cl, &p.id, &nurse_id).await, AccessError::NotFound);
    let removed = audit_of(&c.t.db, AuditAction::CareTeamMemberRemoved).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].target_id.as_deref(), Some(nurse_id.as_str()));

    // A clinician of another location cannot even find the patient.
    let other_clinician = staff_actor(&c.t.db, StaffRole::Clinician, &[&c.b]).await;
    assert_access(
        patients::add_care_team_member(&c.t.db, &other_clinician, &p.id, elsewhere.id.as_str(), "Nurse").await,
        AccessError::NotFound,
    );
    assert_access(
        patients::remove_care_team_member(&c.t.db, &other_clinician, &p.id, admin_member.id.as_str()).await,
        AccessError::NotFound,
    );
    assert_eq!(patients::facesheet(&c.t.db, cl, &p.id).await.unwrap().care_team.len(), 1);
}
