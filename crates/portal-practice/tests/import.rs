//! The roster import: all rows or none, with every problem reported by row and column.

mod common;

use common::{
    StaffBuilder, actor, assert_access, audit_of, audit_rows, create_patient, detail, forbidden, location,
    patient_count, patient_input, staff_actor, staff_id, test_db,
};
use portal_core::Actor;
use portal_core::audit::AuditAction;
use portal_core::staff::StaffRole;
use portal_practice::import::{ImportReport, import_patients_csv};
use portal_practice::patients::{self, SearchInput};
use portal_store::Db;
use portal_store::patients::PatientRow;

async fn import(db: &Db, a: &Actor, csv: &str) -> ImportReport {
    import_patients_csv(db, a, csv.as_bytes()).await.expect("import runs")
}

/// (row, field) of each problem, in the order reported.
fn problems(r: &ImportReport) -> Vec<(usize, &str)> {
    r.errors.iter().map(|e| (e.row, e.field.as_str())).collect()
}

/// Every patient, ordered by name.
async fn all_patients(db: &Db, a: &Actor) -> Vec<PatientRow> {
    let input = SearchInput { per_page: Some(100), ..Default::default() };
    patients::search(db, a, &input).await.unwrap().patients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_file_imports_every_row() {
    let t = test_db().await;
    let main = location(&t.db, "Main Street").await;
    let annex = location(&t.db, "Annex").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);

    // No record_number column; locations by name in any case; columns in any order and case;
    // optional columns left blank; a quoted field with a comma.
    let csv = format!(
        "Last_Name,first_name,date_of_birth,location,email,zip,status\n\
         Lee,Ann,1990-02-03,main street,Ann@Example.org,02110,\n\
         \"Smith, Jr\",Bob,1985-12-31,ANNEX,,,inactive\n\
         Diaz,Carmen,2001-07-04,{annex},,,\n"
    );
    let report = import(&t.db, &admin, &csv).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.imported, 3);
    let rows = all_patients(&t.db, &admin).await;
    assert_eq!(rows.len(), 3);
    let by_last = |l: &str| rows.iter().find(|p| p.last_name == l).unwrap().clone();
    let lee = by_last("Lee");
    assert_eq!(lee.first_name, "Ann");
    assert_eq!(lee.email.as_deref(), Some("ann@example.org"));
    assert_eq!(lee.location_id, main);
    assert_eq!(lee.status, "active");
    assert_eq!(lee.date_of_birth.to_string(), "1990-02-03");
    let smith = by_last("Smith, Jr");
    assert_eq!(smith.location_id, annex);
    assert_eq!(smith.status, "inactive");
    assert_eq!(smith.email, None);
    assert_eq!(by_last("Diaz").location_id, annex, "a location may be named by its id");
    let mut numbers: Vec<&str> = rows.iter().map(|p| p.record_number.as_str()).collect();
    numbers.sort();
    assert_eq!(numbers, ["P-001001", "P-001002", "P-001003"]);

    let created = audit_of(&t.db, AuditAction::PatientCreated).await;
    assert_eq!(created.len(), 3);
    for r in &created {
        assert_eq!(r.actor_id.as_deref(), Some(staff_id(&admin).as_str()));
        assert!(rows.iter().any(|p| Some(&p.id) == r.patient_id.as_ref()));
        assert_eq!(detail(r)["via"], "import");
    }
    let imported = audit_of(&t.db, AuditAction::PatientsImported).await;
    assert_eq!(imported.len(), 1);
    assert_eq!(detail(&imported[0])["rows"], 3);
    assert_eq!(imported[0].actor_id.as_deref(), Some(staff_id(&admin).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_record_numbers_keeps_them() {
    let t = test_db().await;
    location(&t.db, "Main").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    // Blank numbers are generated; a given one in the generated format is kept, and the
    // generated ones step around it whatever the row order.
    let csv = "record_number,first_name,last_name,date_of_birth,location\n\
               ,Ann,Auto,1990-02-03,Main\n\
               mrn-0042,Bob,Given,1985-12-31,Main\n\
               P-001001,Cy,Taken,1970-01-01,Main\n\
               ,Dee,Auto,1971-01-01,Main\n";
    let report = import(&t.db, &admin, csv).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.imported, 4);
    let rows = all_patients(&t.db, &admin).await;
    let number_of = |first: &str| rows.iter().find(|p| p.first_name == first).unwrap().record_number.clone();
    assert_eq!(number_of("Bob"), "MRN-0042");
    assert_eq!(number_of("Cy"), "P-001001");
    let mut generated = [number_of("Ann"), number_of("Dee")];
    generated.sort();
    assert_eq!(generated, ["P-001002", "P-001003"]);
    // And numbering goes on afterwards.
    let loc = rows[0].location_id.clone();
    let next = create_patient(&t.db, &admin, patient_input("Eve", "Later", &loc)).await;
    assert_eq!(next.record_number, "P-001004");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_imports_nothing_and_every_problem_is_reported() {
    let t = test_db().await;
    let main = location(&t.db, "Main").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    let mut existing = patient_input("Old", "Timer", &main);
    existing.record_number = Some("MRN-9".into());
    create_patient(&t.db, &admin, existing).await;
    let audit_before = audit_rows(&t.db).await.len();

    let csv = "record_number,first_name,last_name,date_of_birth,location,email\n\
               MRN-1,Ann,Good,1990-02-03,Main,ann@example.org\n\
               MRN-2,Bad,Date,1990-02-30,Main,\n\
               MRN-3,Bad,Email,1990-02-03,Main,not-an-email\n\
               MRN-4,Bad,Place,1990-02-03,Nowhere,\n\
               MRN-5,First,Copy,1990-02-03,Main,\n\
               mrn-5,Second,Copy,1990-02-03,Main,\n\
               mrn-9,In,Database,1990-02-03,Main,\n\
               MRN-6,,Several,3000-01-01,Main,x@\n";
    let report = import(&t.db, &admin, csv).await;
    assert_eq!(report.imported, 0);
    assert_eq!(
        problems(&report),
        [
            (2, "date_of_birth"),
            (3, "email"),
            (4, "location"),
            (6, "record_number"),
            (7, "record_number"),
            (8, "first_name"),
            (8, "date_of_birth"),
            (8, "email"),
        ]
    );
    assert!(report.errors[2].detail.contains("Nowhere"), "{}", report.errors[2].detail);
    assert!(report.errors[3].detail.contains("twice"), "{}", report.errors[3].detail);
    assert!(report.errors[4].detail.contains("existing"), "{}", report.errors[4].detail);
    assert_eq!(patient_count(&t.db).await, 1, "not even the good row");
    assert_eq!(audit_rows(&t.db).await.len(), audit_before, "a refused import writes no audit row");

    // Fixed, the same file goes in whole.
    let fixed = "record_number,first_name,last_name,date_of_birth,location\n\
                 MRN-1,Ann,Good,1990-02-03,Main\n\
                 MRN-2,Bad,Date,1990-02-28,Main\n";
    assert_eq!(import(&t.db, &admin, fixed).await.imported, 2);
    assert_eq!(patient_count(&t.db).await, 3);
    // Imported again, every number now belongs to an existing patient.
    let again = import(&t.db, &admin, fixed).await;
    assert_eq!(problems(&again), [(1, "record_number"), (2, "record_number")]);
    assert_eq!(patient_count(&t.db).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_is_checked_before_any_row() {
    let t = test_db().await;
    location(&t.db, "Main").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);

    let unknown = "first_name,last_name,date_of_birth,location,nickname\nAnn,Lee,1990-02-03,Main,Annie\n";
    let r = import(&t.db, &admin, unknown).await;
    assert_eq!(problems(&r), [(0, "nickname")]);
    assert_eq!(r.imported, 0);

    let missing = "first_name,last_name,location\nAnn,Lee,Main\n";
    let r = import(&t.db, &admin, missing).await;
    assert_eq!(problems(&r), [(0, "date_of_birth")]);

    let both = "name,dob\nAnn Lee,1990-02-03\n";
    let r = import(&t.db, &admin, both).await;
    assert_eq!(
        problems(&r),
        [(0, "name"), (0, "dob"), (0, "first_name"), (0, "last_name"), (0, "date_of_birth"), (0, "location")]
    );

    // A row with a different number of fields than the header.
    let ragged = "first_name,last_name,date_of_birth,location\nAnn,Lee,1990-02-03,Main\nBob,Ray,1990-02-03\n";
    let r = import(&t.db, &admin, ragged).await;
    assert_eq!(problems(&r), [(2, "row")]);

    assert_eq!(patient_count(&t.db).await, 0);
    assert!(audit_of(&t.db, AuditAction::PatientsImported).await.is_empty());
    assert!(audit_of(&t.db, AuditAction::PatientCreated).await.is_empty());

    // A byte-order mark (spreadsheets write one) is not part of the first column's name.
    let bom = "\u{feff}first_name,last_name,date_of_birth,location\r\nAnn,Lee,1990-02-03,Main\r\n";
    let r = import(&t.db, &admin, bom).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.imported, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_stays_within_the_actors_locations() {
    let t = test_db().await;
    let main = location(&t.db, "Main").await;
    location(&t.db, "Annex").await;
    let front_desk = staff_actor(&t.db, StaffRole::FrontDesk, &[&main]).await;
    let billing = staff_actor(&t.db, StaffRole::Billing, &[&main]).await;

    let csv = "first_name,last_name,date_of_birth,location\nAnn,Lee,1990-02-03,Main\nBob,Ray,1990-02-03,Annex\n";
    assert_access(import_patients_csv(&t.db, &billing, csv.as_bytes()).await, forbidden("Edit Patients"));
    let r = import(&t.db, &front_desk, csv).await;
    assert_eq!(problems(&r), [(2, "location")]);
    assert_eq!(patient_count(&t.db).await, 0);

    let csv = "first_name,last_name,date_of_birth,location\nAnn,Lee,1990-02-03,Main\n";
    assert_eq!(import(&t.db, &front_desk, csv).await.imported, 1);
    assert_eq!(audit_of(&t.db, AuditAction::PatientsImported).await.len(), 1);
}
