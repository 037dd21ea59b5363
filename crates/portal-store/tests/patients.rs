//! Patients, their search, contacts and care teams.

mod common;

use std::collections::HashSet;

use common::{PatientBuilder, date, insert_location, insert_staff};
use portal_store::patients::{self, ContactFields, PatientQuery, PatientSearch};
use portal_store::testing::TestDb;
use portal_store::{Db, StoreError, ids};

fn search(query: PatientQuery) -> PatientSearch {
    PatientSearch { query, locations: None, location: None, status: None, offset: 0, limit: 50 }
}

fn words(ws: &[&str]) -> PatientQuery {
    PatientQuery::Name(ws.iter().map(|w| (*w).to_owned()).collect())
}

/// Last names of one page, in the order returned, and the total.
async fn last_names(db: &Db, s: &PatientSearch) -> (Vec<String>, i64) {
    let mut c = db.read().await.unwrap();
    let (rows, total) = patients::search(&mut c, s).await.unwrap();
    (rows.into_iter().map(|r| r.last_name).collect(), total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_find_update() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;
    let loc2 = insert_location(&t.db, "Annex").await;
    let p = PatientBuilder::new("Mary", "Shelley", &loc)
        .dob(date(1797, 8, 30))
        .email("mary@example.org")
        .insert(&t.db)
        .await;
    assert_eq!(p.record_number, "P-001001");
    let q = PatientBuilder::new("Percy", "Shelley", &loc).insert(&t.db).await;
    assert_eq!(q.record_number, "P-001002");

    let mut c = t.db.read().await.unwrap();
    let row = patients::find(&mut c, &p.id).await.unwrap();
    assert_eq!(row.first_name, "Mary");
    assert_eq!(row.last_name, "Shelley");
    assert_eq!(row.date_of_birth, date(1797, 8, 30));
    assert_eq!(row.email.as_deref(), Some("mary@example.org"));
    assert_eq!(row.phone, None);
    assert_eq!(row.location_id, loc);
    assert_eq!(row.status, "active");
    assert_eq!(row.record_number, "P-001001");
    assert!(patients::record_number_exists(&mut c, "P-001001").await.unwrap());
    assert!(!patients::record_number_exists(&mut c, "P-009999").await.unwrap());
    assert_eq!(patients::count(&mut c).await.unwrap(), 2);
    assert!(matches!(patients::find(&mut c, "missing").await, Err(StoreError::NotFound)));
    drop(c);

    let mut f = PatientBuilder::new("Mary", "Godwin", &loc2).dob(date(1797, 8, 30)).status("inactive").fields;
    f.phone = Some("555-0101".into());
    f.email = None; // cleared: `treat_none_as_null`
    let (id, f2) = (p.id.clone(), f.clone());
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    t.db.write(move |tx| Box::pin(async move { patients::update(tx, &id, &f2).await })).await.unwrap();
    let mut c = t.db.read().await.unwrap();
    let after = patients::find(&mut c, &p.id).await.unwrap();
    assert_eq!(after.last_name, "Godwin");
    assert_eq!(after.email, None);
    assert_eq!(after.phone.as_deref(), Some("555-0101"));
    assert_eq!(after.location_id, loc2);
    assert_eq!(after.status, "inactive");
    assert_eq!(after.record_number, "P-001001", "the record number never changes");
    assert_eq!(after.created_at, row.created_at);
    assert!(after.updated_at > row.updated_at);
    // The other patient is untouched.
    assert_eq!(patients::find(&mut c, &q.id).await.unwrap().first_name, "Percy");
    drop(c);

    // Search follows the new name.
    assert_eq!(last_names(&t.db, &search(words(&["godwin"]))).await.1, 1);
    assert_eq!(last_names(&t.db, &search(words(&["shelley"]))).await.1, 1);

    let r = t.db.write(move |tx| Box::pin(async move { patients::update(tx, "missing", &f).await })).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_record_numbers_and_unknown_locations_are_refused() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;
    let p = PatientBuilder::new("A", "One", &loc).insert(&t.db).await;
    let f = PatientBuilder::new("B", "Two", &loc).fields;
    let rn = p.record_number.clone();
    let r = t.db.write(move |tx| Box::pin(async move { patients::insert(tx, &ids::new_id(), &rn, &f).await })).await;
    match r {
        Err(StoreError::Conflict { what }) => assert!(what.contains(&p.record_number), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let f = PatientBuilder::new("C", "Three", "no-such-location").fields;
    let r =
        t.db.write(move |tx| Box::pin(async move { patients::insert(tx, &ids::new_id(), "P-777777", &f).await })).await;
    assert!(r.is_err(), "the foreign key refuses an unknown location");
    let mut c = t.db.read().await.unwrap();
    assert_eq!(patients::count(&mut c).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_name_words() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;
    for (first, last) in [
        ("John", "Smith"),
        ("Anna", "Smithers"),
        ("Johnny", "Jones"),
        ("Zoë", "Ångström"),
        ("Pat", "Per%cent"),
        ("Pat", "Percent"),
        ("Una", "Under_score"),
        ("Una", "Underxscore"),
        ("Bea", "Back\\slash"),
        ("Bea", "Backslash"),
    ] {
        PatientBuilder::new(first, last, &loc).insert(&t.db).await;
    }

    // Partial words, ordered by "last first".
    assert_eq!(last_names(&t.db, &search(words(&["smith"]))).await, (vec!["Smith".into(), "Smithers".into()], 2));
    // Case-insensitive on both backends, whatever the case typed.
    assert_eq!(last_names(&t.db, &search(words(&["SMITH"]))).await.1, 2);
    assert_eq!(last_names(&t.db, &search(words(&["sMiThErS"]))).await.0, ["Smithers"]);
    assert_eq!(last_names(&t.db, &search(words(&["ÅNGSTRÖM"]))).await.0, ["Ångström"]);
    assert_eq!(last_names(&t.db, &search(words(&["zoë"]))).await.0, ["Ångström"]);
    // Every word must match, in any order, first or last name.
    assert_eq!(last_names(&t.db, &search(words(&["john", "smith"]))).await.0, ["Smith"]);
    assert_eq!(last_names(&t.db, &search(words(&["smith", "john"]))).await.0, ["Smith"]);
    assert_eq!(last_names(&t.db, &search(words(&["jo"]))).await.0, ["Jones", "Smith"]);
    assert_eq!(last_names(&t.db, &search(words(&["john", "anna"]))).await.1, 0);
    assert_eq!(last_names(&t.db, &search(words(&["nobody"]))).await.1, 0);

    // LIKE wildcards typed by a user match literally.
    assert_eq!(last_names(&t.db, &search(words(&["%"]))).await.0, ["Per%cent"]);
    assert_eq!(last_names(&t.db, &search(words(&["per%"]))).await.0, ["Per%cent"]);
    assert_eq!(last_names(&t.db, &search(words(&["_"]))).await.0, ["Under_score"]);
    assert_eq!(last_names(&t.db, &search(words(&["under_s"]))).await.0, ["Under_score"]);
    assert_eq!(last_names(&t.db, &search(words(&["\\"]))).await.0, ["Back\\slash"]);
    assert_eq!(last_names(&t.db, &search(words(&["k\\s"]))).await.0, ["Back\\slash"]);
    // And the plain words still find both spellings.
    assert_eq!(last_names(&t.db, &search(words(&["percent"]))).await.0, ["Percent"]);
    assert_eq!(last_names(&t.db, &search(words(&["under"]))).await.1, 2);

    // No words: everyone.
    assert_eq!(last_names(&t.db, &search(words(&[]))).await.1, 10);
    assert_eq!(last_names(&t.db, &search(PatientQuery::All)).await.1, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_date_of_birth_and_record_number() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;
    let a = PatientBuilder::new("A", "Leap", &loc).dob(date(2000, 2, 29)).insert(&t.db).await;
    PatientBuilder::new("B", "Leap", &loc).dob(date(2000, 2, 29)).insert(&t.db).await;
    PatientBuilder::new("C", "Next", &loc).dob(date(2000, 3, 1)).insert(&t.db).await;
    PatientBuilder::new("D", "Old", &loc).dob(date(1900, 1, 1)).insert(&t.db).await;

    let (names, total) = last_names(&t.db, &search(PatientQuery::DateOfBirth(date(2000, 2, 29)))).await;
    assert_eq!((names, total), (vec!["Leap".to_owned(), "Leap".to_owned()], 2));
    assert_eq!(last_names(&t.db, &search(PatientQuery::DateOfBirth(date(1900, 1, 1)))).await.0, ["Old"]);
    assert_eq!(last_names(&t.db, &search(PatientQuery::DateOfBirth(date(1999, 2, 28)))).await.1, 0);

    let mut c = t.db.read().await.unwrap();
    let (rows, total) =
        patients::search(&mut c, &search(PatientQuery::RecordNumber(a.record_number.clone()))).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(rows[0].id, a.id);
    // Exact match only.
    let partial = a.record_number[..a.record_number.len() - 1].to_owned();
    assert_eq!(patients::search(&mut c, &search(PatientQuery::RecordNumber(partial))).await.unwrap().1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_scoped_to_locations_and_status() {
    let t = TestDb::new().await;
    let north = insert_location(&t.db, "North").await;
    let south = insert_location(&t.db, "South").await;
    let east = insert_location(&t.db, "East").await;
    PatientBuilder::new("N1", "Adams", &north).insert(&t.db).await;
    PatientBuilder::new("N2", "Baker", &north).status("inactive").insert(&t.db).await;
    PatientBuilder::new("S1", "Adams", &south).insert(&t.db).await;
    PatientBuilder::new("E1", "Adams", &east).insert(&t.db).await;

    let scoped = |locs: Option<Vec<String>>, location: Option<String>, status: Option<&str>, q: PatientQuery| {
        PatientSearch { query: q, locations: locs, location, status: status.map(str::to_owned), offset: 0, limit: 50 }
    };
    let firsts = |db: Db, s: PatientSearch| async move {
        let mut c = db.read().await.unwrap();
        let (rows, total) = patients::search(&mut c, &s).await.unwrap();
        let mut f: Vec<String> = rows.into_iter().map(|r| r.first_name).collect();
        f.sort();
        (f, total)
    };

    assert_eq!(firsts(t.db.clone(), scoped(None, None, None, PatientQuery::All)).await.1, 4);
    assert_eq!(
        firsts(t.db.clone(), scoped(Some(vec![north.clone()]), None, None, PatientQuery::All)).await,
        (vec!["N1".into(), "N2".into()], 2)
    );
    assert_eq!(
        firsts(t.db.clone(), scoped(Some(vec![north.clone(), south.clone()]), None, None, words(&["adams"]))).await,
        (vec!["N1".into(), "S1".into()], 2)
    );
    // A staff user with no locations sees no one.
    assert_eq!(firsts(t.db.clone(), scoped(Some(vec![]), None, None, PatientQuery::All)).await, (vec![], 0));
    // The location filter narrows within the allowed set, and cannot widen it.
    assert_eq!(
        firsts(
            t.db.clone(),
            scoped(Some(vec![north.clone(), south.clone()]), Some(south.clone()), None, PatientQuery::All)
        )
        .await,
        (vec!["S1".into()], 1)
    );
    assert_eq!(
        firsts(t.db.clone(), scoped(Some(vec![north.clone()]), Some(east.clone()), None, PatientQuery::All)).await,
        (vec![], 0)
    );
    assert_eq!(
        firsts(t.db.clone(), scoped(Some(vec![north.clone()]), None, Some("active"), PatientQuery::All)).await,
        (vec!["N1".into()], 1)
    );
    assert_eq!(
        firsts(t.db.clone(), scoped(None, None, Some("inactive"), PatientQuery::All)).await,
        (vec!["N2".into()], 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_carry_the_total() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;
    let other = insert_location(&t.db, "Other").await;
    for i in 0..25 {
        // Same last name for some, so the id breaks ties and pages stay stable.
        let last = if i % 5 == 0 { "Same".to_owned() } else { format!("Name{i:02}") };
        PatientBuilder::new(&format!("F{i:02}"), &last, &loc).insert(&t.db).await;
    }
    PatientBuilder::new("Elsewhere", "Aaron", &other).insert(&t.db).await;

    let mut c = t.db.read().await.unwrap();
    let mut seen = Vec::new();
    for (offset, want_len) in [(0, 10), (10, 10), (20, 5), (30, 0)] {
        let s = PatientSearch {
            query: PatientQuery::All,
            locations: Some(vec![loc.clone()]),
            location: None,
            status: None,
            offset,
            limit: 10,
        };
        let (rows, total) = patients::search(&mut c, &s).await.unwrap();
        assert_eq!(total, 25, "the total ignores the page");
        assert_eq!(rows.len(), want_len, "offset {offset}");
        seen.extend(rows.into_iter().map(|r| (r.last_name.to_lowercase(), r.first_name.to_lowercase(), r.id)));
    }
    let unique: HashSet<&String> = seen.iter().map(|(_, _, id)| id).collect();
    assert_eq!(unique.len(), 25, "pages neither overlap nor skip");
    let keys: Vec<(String, String)> = seen.iter().map(|(l, f, _)| (l.clone(), f.clone())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by name across pages");

    // Limits are clamped: zero asks for at least one row, a huge limit for at most 200.
    let s =
        PatientSearch { query: PatientQuery::All, locations: None, location: None, status: None, offset: -5, limit: 0 };
    let (rows, total) = patients::search(&mut c, &s).await.unwrap();
    assert_eq!((rows.len(), total), (1, 26));
    assert_eq!(rows[0].last_name, "Aaron");
}

fn contact(first: &str, kind: &str) -> ContactFields {
    ContactFields {
        kind: kind.into(),
        first_name: first.into(),
        last_name: "Contact".into(),
        relation: Some("parent".into()),
        email: Some(format!("{}@example.org", first.to_lowercase())),
        phone: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_scoped_to_their_patient() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;
    let p1 = PatientBuilder::new("Kid", "One", &loc).insert(&t.db).await.id;
    let p2 = PatientBuilder::new("Kid", "Two", &loc).insert(&t.db).await.id;
    let (c1, c2, c3) = (ids::new_id(), ids::new_id(), ids::new_id());
    {
        let (p1, p2, c1, c2, c3) = (p1.clone(), p2.clone(), c1.clone(), c2.clone(), c3.clone());
        t.db.write(move |tx| {
            Box::pin(async move {
                patients::insert_contact(tx, &c1, &p1, &contact("Guardian", "guardian")).await?;
                patients::insert_contact(tx, &c2, &p1, &contact("Guarantor", "guarantor")).await?;
                patients::insert_contact(tx, &c3, &p2, &contact("Other", "guardian")).await
            })
        })
        .await
        .unwrap();
    }
    let mut c = t.db.read().await.unwrap();
    let list: Vec<String> = patients::contacts(&mut c, &p1).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(list.len(), 2);
    assert!(list.contains(&c1) && list.contains(&c2));
    assert_eq!(patients::contacts(&mut c, &p2).await.unwrap().len(), 1);
    let found = patients::find_contact(&mut c, &p1, &c1).await.unwrap();
    assert_eq!(found.patient_id, p1);
    assert_eq!(found.kind, "guardian");
    assert_eq!(found.first_name, "Guardian");
    assert_eq!(found.email.as_deref(), Some("guardian@example.org"));
    // Another patient's contact id is not found through this patient.
    assert!(matches!(patients::find_contact(&mut c, &p2, &c1).await, Err(StoreError::NotFound)));
    drop(c);

    let write = |db: &Db, patient: &str, id: &str, f: Option<ContactFields>| {
        let (db, patient, id) = (db.clone(), patient.to_owned(), id.to_owned());
        async move {
            db.write(move |tx| {
                Box::pin(async move {
                    match f {
                        Some(f) => patients::update_contact(tx, &patient, &id, &f).await,
                        None => patients::delete_contact(tx, &patient, &id).await,
                    }
                })
            })
            .await
        }
    };

    // Updating or deleting through the wrong patient fails and changes nothing.
    let mut changed = contact("Changed", "other");
    changed.relation = None;
    assert!(matches!(write(&t.db, &p2, &c1, Some(changed.clone())).await, Err(StoreError::NotFound)));
    assert!(matches!(write(&t.db, &p2, &c1, None).await, Err(StoreError::NotFound)));
    let mut c = t.db.read().await.unwrap();
    assert_eq!(patients::find_contact(&mut c, &p1, &c1).await.unwrap().first_name, "Guardian");
    drop(c);

    write(&t.db, &p1, &c1, Some(changed)).await.unwrap();
    let mut c = t.db.read().await.unwrap();
    let after = patients::find_contact(&mut c, &p1, &c1).await.unwrap();
    assert_eq!(after.first_name, "Changed");
    assert_eq!(after.kind, "other");
    assert_eq!(after.relation, None);
    assert_eq!(after.created_at, found.created_at);
    drop(c);

    write(&t.db, &p1, &c1, None).await.unwrap();
    assert!(matches!(write(&t.db, &p1, &c1, None).await, Err(StoreError::NotFound)), "deleted once only");
    let mut c = t.db.read().await.unwrap();
    let left: Vec<String> = patients::contacts(&mut c, &p1).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(left, [c2]);
    assert_eq!(patients::contacts(&mut c, &p2).await.unwrap()[0].id, c3);
    assert!(patients::contacts(&mut c, "missing").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_team_upsert_remove_list() {
    let t = TestDb::new().await;
    let loc = insert_location(&t.db, "Main").await;
    let p1 = PatientBuilder::new("Pat", "One", &loc).insert(&t.db).await.id;
    let p2 = PatientBuilder::new("Pat", "Two", &loc).insert(&t.db).await.id;
    let zed = insert_staff(&t.db, "zed@example.org", "Zed Nurse").await;
    let amy = insert_staff(&t.db, "amy@example.org", "Amy Doctor").await;

    let upsert = |patient: &str, staff: &str, role: &'static str| {
        let (db, patient, staff) = (t.db.clone(), patient.to_owned(), staff.to_owned());
        async move {
            db.write(move |tx| {
                Box::pin(async move { patients::upsert_care_team_member(tx, &patient, &staff, role).await })
            })
            .await
        }
    };
    upsert(&p1, &zed, "nurse").await.unwrap();
    upsert(&p1, &amy, "primary").await.unwrap();
    upsert(&p2, &amy, "consultant").await.unwrap();

    let mut c = t.db.read().await.unwrap();
    let team = patients::care_team(&mut c, &p1).await.unwrap();
    let summary: Vec<(&str, &str, &str)> =
        team.iter().map(|m| (m.staff_id.as_str(), m.staff_name.as_str(), m.team_role.as_str())).collect();
    assert_eq!(summary, [(amy.as_str(), "Amy Doctor", "primary"), (zed.as_str(), "Zed Nurse", "nurse")]);
    assert_eq!(team[0].staff_role, "provider");
    let added_at = team[1].added_at;
    drop(c);

    // Upserting again changes the role and keeps one row.
    upsert(&p1, &zed, "care coordinator").await.unwrap();
    let mut c = t.db.read().await.unwrap();
    let team = patients::care_team(&mut c, &p1).await.unwrap();
    assert_eq!(team.len(), 2);
    assert_eq!(team[1].team_role, "care coordinator");
    assert_eq!(team[1].added_at, added_at, "still the original membership");
    drop(c);

    // Unknown staff or patient ids are refused by the foreign keys.
    assert!(upsert(&p1, "no-such-staff", "nurse").await.is_err());
    assert!(upsert("no-such-patient", &zed, "nurse").await.is_err());

    let remove = |patient: &str, staff: &str| {
        let (db, patient, staff) = (t.db.clone(), patient.to_owned(), staff.to_owned());
        async move {
            db.write(move |tx| Box::pin(async move { patients::remove_care_team_member(tx, &patient, &staff).await }))
                .await
        }
    };
    remove(&p1, &amy).await.unwrap();
    assert!(matches!(remove(&p1, &amy).await, Err(StoreError::NotFound)));
    assert!(matches!(remove(&p2, &zed).await, Err(StoreError::NotFound)), "zed is not on p2's team");
    let mut c = t.db.read().await.unwrap();
    let team: Vec<String> = patients::care_team(&mut c, &p1).await.unwrap().into_iter().map(|m| m.staff_id).collect();
    assert_eq!(team, [zed]);
    let team: Vec<String> = patients::care_team(&mut c, &p2).await.unwrap().into_iter().map(|m| m.staff_id).collect();
    assert_eq!(team, [amy], "removing from one patient leaves the other's team");
}
